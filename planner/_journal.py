"""Tool calls made while resuming a pause go through the store's tool-call journal.

A resume that dies after running a call, and is resumed again once its lease expired,
must not run that call twice. Each call is journalled under its idempotency key
(see :mod:`._approval`):

* already **completed**: its recorded outcome is used; the tool is not called;
* **started** but never finished (the earlier resumer died during the call): the tool
  may or may not have had its effect. It is run again only when that is harmless
  (``side_effects`` ``pure``/``read``, or ``extra["idempotent"]``), with the same
  ``ctx.idempotency_key``; otherwise it is not run, and the LLM and the event stream
  are told that its outcome is unknown;
* new, or **failed** earlier: it runs, and its outcome is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ..catalog import NodeSpec
from ..sessions import JournalStore
from ..sessions.models import JournalStatus
from ._approval import replay_safe
from ._executor import CallInfo, CallKey, ToolExecutor, ToolOutcome

__all__ = ["OUTCOME_UNKNOWN", "JournaledCaller"]

OUTCOME_UNKNOWN = "outcome_unknown"
"""The code of a call whose earlier attempt started and never recorded an outcome."""


class JournaledCaller:
    """Runs tool calls through the executor, recorded in the store's tool-call journal.

    Args:
        store: the session store's tool-call journal.
        executor: runs the calls.
        specs: the catalog by name.
        run_id: the run the calls belong to.
        tenant_id: the run's tenant.
    """

    def __init__(
        self,
        store: JournalStore,
        executor: ToolExecutor,
        specs: Mapping[str, NodeSpec],
        run_id: str,
        *,
        tenant_id: str,
    ) -> None:
        self._store = store
        self._executor = executor
        self._specs = specs
        self._run_id = run_id
        self._tenant = tenant_id
        self.replayed: list[str] = []
        self.unknown: list[str] = []

    async def __call__(
        self,
        name: str,
        args: BaseModel,
        info: CallInfo,
        *,
        deadline: float | None,
        key: CallKey | None = None,
    ) -> ToolOutcome:
        """Run one call (or reuse its journalled outcome); see the module docstring."""
        if key is None:
            raise ValueError("a journalled call needs its idempotency key")
        if not isinstance(key, str):
            key = key()
        dumped = args.model_dump(mode="json")
        begun = await self._store.journal_begin(
            self._run_id, key, tool=name, args=dumped, tenant_id=self._tenant
        )
        if begun.completed:
            self.replayed.append(name)
            return _from_journal(name, begun.entry.result)
        if begun.previous_status is JournalStatus.STARTED and not replay_safe(self._specs[name]):
            self.unknown.append(name)
            error = (
                f"tool {name!r} may or may not have run: an earlier resume of this run started "
                "the call and stopped before recording its outcome (the process died), and the "
                "tool is not marked idempotent, so it was not run again; check whether its "
                "effect happened before calling it again"
            )
            if info.observed:
                await info.sink(
                    "tool_call_error", node_name=name, error=error, extra={"code": OUTCOME_UNKNOWN}
                )
            return ToolOutcome(node=name, ok=False, error=error, code=OUTCOME_UNKNOWN)
        outcome = await self._executor.call(name, args, info, deadline=deadline, key=key)
        if outcome.pause is not None:
            reason, payload = outcome.pause
            result = {"pause": {"reason": reason, "payload": payload}}
            await self._store.journal_complete(
                self._run_id, key, result=result, tenant_id=self._tenant
            )
        elif outcome.ok:
            await self._store.journal_complete(
                self._run_id,
                key,
                result={"ok": True, "result": outcome.result},
                tenant_id=self._tenant,
            )
        else:
            failed = {"error": outcome.error or "", "code": outcome.code}
            await self._store.journal_fail(self._run_id, key, error=failed, tenant_id=self._tenant)
        return outcome


def _from_journal(name: str, stored: Any) -> ToolOutcome:
    """Rebuild the outcome of a call from its journal entry."""
    if isinstance(stored, dict) and isinstance(stored.get("pause"), dict):
        pause = stored["pause"]
        payload = pause.get("payload")
        return ToolOutcome(
            node=name,
            ok=False,
            code="paused",
            pause=(str(pause.get("reason")), payload if isinstance(payload, dict) else None),
        )
    result = stored.get("result") if isinstance(stored, dict) else stored
    return ToolOutcome(node=name, ok=True, result=result)
