"""The state behind the playground: the agent, its live runs, and what they record.

Runs and resumes started from the page are run handles of a ``RunRegistry``, as in
``create_agent_app``; their planner events stream to the page. Each event (streamed text
apart), each model exchange and each run's result is also saved, masked, in the store's
event log under the run's id, so the trajectory of a run can be drawn after a reload or
a restart.

The resume token of a pause this playground produced stays in this process: the page
decides pauses by their id. A pause produced elsewhere is decided with its token, pasted
by the human.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping
from contextvars import ContextVar
from typing import Any

from pydantic import ValidationError

from ...planner.events import PlannerEvent
from ...sessions.errors import PauseAlreadyClaimedError, PauseNotFoundError, RunNotFoundError
from ...sessions.models import PauseRecord, PauseStatus
from ...state import StoredEvent
from ...tools._masking import SecretMasker
from .._runs import RunHandle, RunRegistry, jsonable
from ._project import ServedAgent
from ._tap import Exchange, current_run

__all__ = ["RESULT_KIND", "DecisionRefused", "Playground"]

logger = logging.getLogger("penguiflow.server.playground")

RESULT_KIND = "playground.result"
"""The stored event holding how a run (or a resume of it) ended."""
EXCHANGE_KIND = "playground.exchange"
DECISION_KIND = "playground.decision"
PLANNER_PREFIX = "planner."

_current_handle: ContextVar[RunHandle | None] = ContextVar(
    "penguiflow_playground_handle", default=None
)


class DecisionRefused(Exception):
    """A decision the playground did not act on; the page shows why."""

    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.extra = extra


def _error_info(exc: BaseException) -> dict[str, Any]:
    info: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)[:2000]}
    outcome = getattr(exc, "outcome", None)
    if outcome is not None:
        info["outcome"] = jsonable(outcome)
    return info


def _result_of(outcome: Any) -> tuple[str, dict[str, Any]]:
    """The handle status and the result shown to the page (never the resume token)."""
    if type(outcome).__name__ == "PlannerPause":
        calls = [jsonable(call) for call in outcome.pending_calls]
        return "paused", {
            "type": "pause",
            "reason": outcome.reason,
            "payload": jsonable(outcome.payload),
            "pause_id": outcome.pause_id,
            "run_id": outcome.run_id,
            "pending_calls": calls,
            "expires_at": jsonable(outcome.expires_at),
            "usage": jsonable(outcome.metadata.get("usage")),
        }
    payload = outcome.payload
    return "finished", {
        "type": "finish",
        "reason": outcome.reason,
        "answer": None if payload is None else payload.raw_answer,
        "partial": bool(payload is not None and payload.partial),
        "usage": jsonable(outcome.metadata.get("usage")),
        "error": outcome.metadata.get("error"),
    }


class Playground:
    """The agent the page talks to, its live runs and its recordings.

    Args:
        agent: the open agent.
        masker: masks secrets in everything recorded or shown.
        registry: the live runs.
        keepalive_s: idle time after which event streams send a keep-alive.
    """

    def __init__(
        self,
        agent: ServedAgent,
        *,
        masker: SecretMasker,
        registry: RunRegistry,
        keepalive_s: float,
    ) -> None:
        self.agent = agent
        self.mask = masker
        self.runs = registry
        self.keepalive_s = keepalive_s
        self._tokens: dict[str, str] = {}  # pause id -> resume token, for our own pauses
        self._active: dict[str, RunHandle] = {}  # planner run id -> the handle driving it
        self._steps: dict[str, int] = {}  # planner run id -> its current step
        self._clients: dict[str, str] = {}  # resume handle id -> who asked for it
        self._claims: dict[str, dict[str, Any]] = {}  # pause id -> who won its claim
        self._claimed: dict[str, asyncio.Event] = {}
        self._can_record = callable(getattr(agent.store, "save_event", None))

    # -- recording ----------------------------------------------------------------------

    async def _save(
        self, run_id: str, kind: str, payload: Mapping[str, Any], **fields: Any
    ) -> None:
        if not self._can_record:
            return
        event = StoredEvent(
            trace_id=run_id,
            ts=fields.pop("ts", None) or time.time(),
            kind=kind,
            node_name=fields.pop("node_name", None),
            node_id=None,
            payload=self.mask(jsonable(payload)),
        )
        try:
            await self.agent.store.save_event(event)
        except Exception:  # the run goes on; only its recording has a gap
            logger.exception("could not record a %s event of run %s", kind, run_id)

    def _handle_for(self, event: PlannerEvent) -> RunHandle | None:
        handle = _current_handle.get()
        if handle is not None and handle.planner_run_id == event.run_id:
            return handle
        return self._active.get(event.run_id)

    async def on_event(self, event: PlannerEvent) -> None:
        """The agent's event callback: record the event, then stream it to the page."""
        run_id = event.run_id
        if event.event_type == "step_start":
            self._steps[run_id] = event.step
        data = self.mask(jsonable(event.to_dict()))
        if event.event_type != "stream_chunk":
            await self._save(
                run_id,
                PLANNER_PREFIX + event.event_type,
                data,
                ts=event.ts,
                node_name=event.node_name,
            )
        handle = self._handle_for(event)
        if event.event_type == "resume" and handle is not None:
            await self._claim_won(handle, event)
        if handle is not None and not handle.done:
            handle.add_event(event.event_type, data)

    async def _claim_won(self, handle: RunHandle, event: PlannerEvent) -> None:
        self._active[event.run_id] = handle
        pause_id = str(event.extra.get("pause_id", ""))
        claim = {
            "decided_by": self._clients.get(handle.run_id, "this playground"),
            "at": event.ts,
            "decisions": event.extra.get("decisions"),
        }
        self._claims[pause_id] = claim
        self._tokens.pop(pause_id, None)  # a claimed pause never resumes again
        self._claimed.setdefault(pause_id, asyncio.Event()).set()
        await self._save(event.run_id, DECISION_KIND, {"pause_id": pause_id, **claim})

    async def record_exchange(self, exchange: Exchange) -> None:
        """The model tap's recorder: save one request and reply with their step."""
        payload = {
            "step": self._steps.get(exchange.run_id, 0),
            "messages": exchange.messages,
            "response_format": exchange.response_format,
            "reply": exchange.reply,
            "tool_calls": exchange.tool_calls,
            "error": exchange.error,
            "latency_ms": exchange.latency_ms,
            "usage": exchange.usage,
            "cost_usd": exchange.cost_usd,
        }
        await self._save(exchange.run_id, EXCHANGE_KIND, payload)

    # -- driving runs ------------------------------------------------------------------

    async def _drive(self, handle: RunHandle, work: Coroutine[Any, Any, Any]) -> None:
        # The result is saved before the handle ends: a reader woken by the end finds it.
        _current_handle.set(handle)
        current_run.set(handle.planner_run_id)
        run_id = handle.planner_run_id
        try:
            outcome = await work
        except asyncio.CancelledError:
            await self._save(run_id, RESULT_KIND, {"type": "cancelled"})
            handle.finish("cancelled")
            raise
        except Exception as exc:
            error = _error_info(exc)
            if not isinstance(exc, PauseAlreadyClaimedError | PauseNotFoundError):
                logger.warning("playground run %s failed: %s", run_id, exc)
                await self._save(run_id, RESULT_KIND, {"type": "error", "error": error})
            handle.finish("failed", error=error)
            return
        finally:
            if self._active.get(run_id) is handle:
                del self._active[run_id]
        status, result = _result_of(outcome)
        token = getattr(outcome, "resume_token", None)
        if token is not None:
            self._tokens[outcome.pause_id] = token
        result = self.mask(result)
        await self._save(run_id, RESULT_KIND, result)
        handle.finish(status, result=result)  # type: ignore[arg-type]

    def _launch(self, handle: RunHandle, work: Coroutine[Any, Any, Any]) -> None:
        handle.task = asyncio.create_task(
            self._drive(handle, work), name=f"playground-run-{handle.run_id}"
        )

    def start_run(self, query: str, *, session_id: str | None) -> RunHandle:
        """Start a run of the agent on ``query``, in the conversation ``session_id``."""
        agent = self.agent
        run_id = uuid.uuid4().hex
        handle = self.runs.new(run_id, agent.tenant, "run", run_id)
        self._active[run_id] = handle
        work = agent.planner.run(
            query,
            tenant_id=agent.tenant,
            run_id=run_id,
            memory_key=agent.memory_key(session_id),
        )
        self._launch(handle, work)
        return handle

    async def cancel(self, handle: RunHandle) -> None:
        """Cancel a running run (or resume) and wait for it to end."""
        task = handle.task
        if task is not None and not task.done():
            task.cancel("cancelled from the playground")
            await asyncio.wait({task}, timeout=10.0)

    # -- pauses ---------------------------------------------------------------------------

    def has_token(self, pause_id: str) -> bool:
        """Whether this playground holds the resume token of ``pause_id``."""
        return pause_id in self._tokens

    async def pause(self, pause_id: str) -> PauseRecord:
        """The pause ``pause_id`` of the agent's tenant.

        Raises:
            DecisionRefused: (404) no such pause.
        """
        try:
            found: PauseRecord = await self.agent.store.get_pause_by_id(
                pause_id, tenant_id=self.agent.tenant
            )
        except (PauseNotFoundError, RunNotFoundError) as exc:
            raise DecisionRefused(404, f"no pause {pause_id!r} for this agent") from exc
        return found

    def edit_errors(
        self, pause: PauseRecord, edited: Mapping[str, Any]
    ) -> dict[str, list[dict[str, str]]]:
        """Check edited arguments against each tool's schema; return the errors by call id."""
        calls = {call.get("call_id"): call for call in pause.pending_calls}
        specs = {spec.name: spec for spec in self.agent.catalog}
        errors: dict[str, list[dict[str, str]]] = {}
        for call_id, args in edited.items():
            call = calls.get(call_id)
            if call is None:
                errors[call_id] = [{"loc": "", "msg": f"the pause has no call {call_id!r}"}]
                continue
            spec = specs.get(str(call.get("tool")))
            if spec is None:
                errors[call_id] = [{"loc": "", "msg": f"tool {call.get('tool')!r} is gone"}]
                continue
            if not isinstance(args, dict):
                errors[call_id] = [{"loc": "", "msg": "the arguments must be a JSON object"}]
                continue
            try:
                spec.args_model.model_validate(args)
            except ValidationError as exc:
                errors[call_id] = [
                    {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
                    for e in exc.errors(include_input=False, include_url=False)
                ]
        return errors

    async def winner(self, pause_id: str) -> dict[str, Any]:
        """Who decided ``pause_id`` and what: the stored decision and outcome."""
        waiter = self._claimed.setdefault(pause_id, asyncio.Event())
        try:
            async with asyncio.timeout(2.0):  # the winner reports its claim right after it
                await waiter.wait()
        except TimeoutError:
            pass
        pause = await self.pause(pause_id)
        claim = self._claims.get(pause_id, {})
        return {
            "status": pause.status.value,
            "decided_by": claim.get("decided_by", "another process"),
            "decision": pause.decision,
            "outcome": pause.outcome,
            "claimed_at": jsonable(pause.claimed_at),
            "resolved_at": jsonable(pause.resolved_at),
        }

    async def _check_open(self, pause: PauseRecord) -> None:
        if pause.status is PauseStatus.EXPIRED:
            raise DecisionRefused(410, "this pause expired; its run cannot continue")
        if pause.status in (PauseStatus.CLAIMED, PauseStatus.RESOLVED):
            raise DecisionRefused(
                409, "this pause was already decided", winner=await self.winner(pause.pause_id)
            )

    async def decide(
        self, pause_id: str, decision: dict[str, Any], *, token: str | None, client: str
    ) -> RunHandle:
        """Resume ``pause_id`` with ``decision`` (the keyword arguments of ``resume``).

        Returns once the claim is settled: the handle of the resume, running or ended.

        Raises:
            DecisionRefused: the pause is unknown (404), expired (410), already decided
                (409, with who won), needs a token (400), or the decision does not fit
                it (422, with the errors per call).
        """
        pause = await self.pause(pause_id)
        await self._check_open(pause)
        token = token or self._tokens.get(pause_id)
        if not token:
            raise DecisionRefused(
                400,
                "this pause was made by another process, which holds its resume token: "
                "paste the token to decide it here",
                code="token_required",
            )
        edited = decision.get("edited_args") or {}
        errors = self.edit_errors(pause, edited)
        if errors:
            raise DecisionRefused(422, "the edited arguments are invalid", errors=errors)
        agent = self.agent
        handle = self.runs.new(uuid.uuid4().hex, agent.tenant, "resume", pause.run_id)
        self._clients[handle.run_id] = client
        self._launch(handle, agent.planner.resume(token, tenant_id=agent.tenant, **decision))
        await self._settled(handle)
        error = handle.error
        if error is not None and error.get("type") in (
            "PauseAlreadyClaimedError",
            "PauseAlreadyResumedError",
        ):
            raise DecisionRefused(
                409, "this pause was already decided", winner=await self.winner(pause_id)
            )
        if error is not None and error.get("type") in ("ResumeDecisionError", "ConfigError"):
            raise DecisionRefused(422, error["message"])
        if error is not None and error.get("type") in ("PauseExpiredError", "PauseNotFoundError"):
            raise DecisionRefused(410 if "Expired" in error["type"] else 404, error["message"])
        return handle

    async def _settled(self, handle: RunHandle) -> None:
        """Wait until the resume claimed its pause (``resume`` event) or ended."""
        try:
            async with asyncio.timeout(30.0):
                while True:
                    changed = handle.changed
                    if handle.done or any(kind == "resume" for _, kind, _ in handle.events):
                        return
                    await changed.wait()
        except TimeoutError:  # still claiming: the page follows its events
            pass

    async def aclose(self) -> None:
        """Cancel the runs still going and forget the tokens."""
        await self.runs.aclose()
        self._tokens.clear()
