"""Runs from the store, and a run's trajectory drawn from what the playground recorded.

A run's row in the store holds its state (query, trajectory steps, usage). The
playground's recordings of it (planner events, model exchanges, results; see
:mod:`._service`) give each step its place in time: when the model was asked and for
how long, which tools ran, side by side or one after the other, with their results,
tokens and cost, and where the run paused, resumed and finished. A run served by another
process has only its stored steps and their durations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...sessions.models import RunRecord, RunStatus
from .._runs import jsonable
from ._service import DECISION_KIND, EXCHANGE_KIND, PLANNER_PREFIX, RESULT_KIND

__all__ = ["Trajectory", "build_trajectory", "run_summary"]


def run_summary(record: RunRecord, *, live: str | None = None) -> dict[str, Any]:
    """A run as the runs list shows it."""
    state = record.state
    usage = state.get("usage") or {}
    return {
        "run_id": record.run_id,
        "session_id": record.session_id,
        "status": live or record.status.value,
        "query": state.get("query"),
        "steps": len(state.get("steps") or ()),
        "total_tokens": usage.get("total_tokens", 0),
        "cost_usd": usage.get("cost_usd", 0.0),
        "created_at": jsonable(record.created_at),
        "updated_at": jsonable(record.updated_at),
    }


def parse_statuses(value: str | None) -> list[RunStatus] | None:
    """``"paused,failed"`` as run statuses.

    Raises:
        ValueError: an unknown status.
    """
    if not value:
        return None
    return [RunStatus(part.strip()) for part in value.split(",") if part.strip()]


@dataclass(slots=True)
class _Step:
    step: int
    start: float
    end: float
    llm: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[int] = field(default_factory=list)
    tokens: int = 0
    cost_usd: float = 0.0

    def touch(self, ts: float) -> None:
        self.start, self.end = min(self.start, ts), max(self.end, ts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "start": self.start,
            "end": self.end,
            "llm": self.llm,
            "tools": self.tools,
            "marks": self.marks,
            "exchanges": self.exchanges,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
        }


class Trajectory:
    """Builds the drawn trajectory of one run from its recorded events."""

    def __init__(self) -> None:
        self._steps: dict[int, _Step] = {}
        self._open_llm: dict[int, dict[str, Any]] = {}
        self._tools: dict[str, dict[str, Any]] = {}  # trace id (or call id) -> tool bar
        self.exchanges: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None

    def _step(self, number: int, ts: float) -> _Step:
        found = self._steps.get(number)
        if found is None:
            found = self._steps[number] = _Step(number, ts, ts)
        found.touch(ts)
        return found

    def add(self, kind: str, ts: float, payload: dict[str, Any]) -> None:
        """Take one recorded event into account."""
        if kind == RESULT_KIND:
            self.result = payload
        elif kind == EXCHANGE_KIND:
            step = self._step(int(payload.get("step") or 0), ts)
            step.exchanges.append(len(self.exchanges))
            self.exchanges.append(payload)
        elif kind == DECISION_KIND:
            step = self._latest(ts)
            step.marks.append(
                {"ts": ts, "kind": "decided", "label": f"decided by {payload.get('decided_by')}"}
            )
        elif kind.startswith(PLANNER_PREFIX):
            self._planner(kind.removeprefix(PLANNER_PREFIX), ts, payload)

    def _latest(self, ts: float) -> _Step:
        number = max(self._steps) if self._steps else 0
        return self._step(number, ts)

    def _planner(self, kind: str, ts: float, event: dict[str, Any]) -> None:
        step = self._step(int(event.get("step") or 0), ts)
        extra = event.get("extra") or {}
        if kind == "llm_request":
            bar = {"start": ts, "end": ts, "latency_ms": None, "tokens": 0, "cost_usd": 0.0}
            step.llm.append(bar)
            self._open_llm[step.step] = bar
        elif kind == "llm_response":
            self._llm_done(step, ts, event, extra)
        elif kind == "tool_call_start":
            self._tool_start(step, ts, event, extra)
        elif kind in ("tool_call_result", "tool_call_error"):
            self._tool_end(step, ts, event, extra, ok=kind == "tool_call_result")
        elif kind == "repair_attempt":
            stage = extra.get("stage")
            step.marks.append({"ts": ts, "kind": "repair", "label": f"repair ({stage})"})
        elif kind == "pause":
            self._pause(step, ts, extra)
        elif kind == "resume":
            self._resume(step, ts, extra)
        elif kind == "finish":
            reason = extra.get("reason") or "finished"
            step.marks.append({"ts": ts, "kind": "finish", "label": str(reason)})

    def _llm_done(
        self, step: _Step, ts: float, event: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        bar = self._open_llm.pop(step.step, None)
        if bar is None:
            bar = {"start": ts, "end": ts, "latency_ms": None, "tokens": 0, "cost_usd": 0.0}
            step.llm.append(bar)
        latency = event.get("latency_ms")
        bar["end"] = ts
        if isinstance(latency, int | float):
            bar["latency_ms"] = latency
            bar["start"] = min(bar["start"], ts - latency / 1000)
        usage = extra.get("usage") or {}
        tokens = int(usage.get("total_tokens") or 0)
        cost = float(extra.get("cost_usd") or 0.0)
        bar.update(tokens=tokens, cost_usd=cost, usage=usage)
        step.tokens += tokens
        step.cost_usd += cost

    def _tool_start(
        self, step: _Step, ts: float, event: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        bar = {
            "id": event.get("trace_id"),
            "tool": event.get("node_name"),
            "args": extra.get("args"),
            "start": ts,
            "end": None,
            "status": "running",
        }
        step.tools.append(bar)
        if bar["id"]:
            self._tools[str(bar["id"])] = bar

    def _tool_end(
        self, step: _Step, ts: float, event: dict[str, Any], extra: dict[str, Any], *, ok: bool
    ) -> None:
        key = event.get("trace_id") or extra.get("call_id")
        bar = self._tools.get(str(key)) if key else None
        if bar is None:  # refused before running: unknown tool, bad arguments, rejected
            bar = {"id": key, "tool": event.get("node_name"), "args": None, "start": ts}
            step.tools.append(bar)
        code = extra.get("code")
        bar.update(
            end=ts,
            latency_ms=event.get("latency_ms"),
            status="ok" if ok else ("rejected" if code == "rejected_by_reviewer" else "error"),
            result=extra.get("result"),
            error=event.get("error"),
        )

    def _pause(self, step: _Step, ts: float, extra: dict[str, Any]) -> None:
        calls = extra.get("calls") or []
        step.marks.append({"ts": ts, "kind": "pause", "label": f"paused: {extra.get('reason')}"})
        for call in calls:
            bar = {
                "id": call.get("call_id"),
                "tool": call.get("tool"),
                "args": None,
                "start": ts,
                "end": None,
                "status": "pending",
                "kind": call.get("kind"),
            }
            step.tools.append(bar)
            self._tools[str(call.get("call_id"))] = bar

    def _resume(self, step: _Step, ts: float, extra: dict[str, Any]) -> None:
        decisions = extra.get("decisions") or {}
        step.marks.append({"ts": ts, "kind": "resume", "label": "resumed"})
        for call_id, verdict in decisions.items():
            bar = self._tools.get(str(call_id))
            if bar is not None and bar.get("status") == "pending":
                bar.update(status=str(verdict), end=ts)

    def as_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        """The trajectory: steps in order, with the run's totals."""
        steps = [self._steps[n].as_dict() for n in sorted(self._steps)]
        recorded = bool(steps)
        if not recorded:
            steps = _from_state(state.get("steps") or (), float(state.get("created_at") or 0.0))
        starts = [s["start"] for s in steps]
        ends = [s["end"] for s in steps]
        return {
            "recorded": recorded,
            "t0": min(starts) if starts else None,
            "t1": max(ends) if ends else None,
            "steps": steps,
            "usage": state.get("usage"),
            "budgets": state.get("budgets"),
            "errors": state.get("errors") or [],
            "actions": _actions(state.get("steps") or ()),
        }


def _actions(steps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "index": step.get("index"),
            "kind": step.get("kind"),
            "action": step.get("action"),
            "observation": step.get("observation"),
            "error": step.get("error"),
            "latency_ms": step.get("latency_ms"),
        }
        for step in steps
    ]


def _from_state(steps: Sequence[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    """Steps laid end to end from their durations, for runs nobody recorded."""
    drawn, clock = [], t0
    for step in steps:
        seconds = float(step.get("latency_ms") or 0.0) / 1000
        action = step.get("action") or {}
        tool = {
            "id": f"step-{step.get('index')}",
            "tool": action.get("next_node"),
            "args": action.get("args"),
            "start": clock,
            "end": clock + seconds,
            "latency_ms": step.get("latency_ms"),
            "status": "error" if step.get("error") else "ok",
            "result": step.get("observation"),
            "error": step.get("error"),
        }
        drawn.append(
            {
                "step": step.get("index"),
                "start": clock,
                "end": clock + seconds,
                "llm": [],
                "tools": [tool],
                "marks": [],
                "exchanges": [],
                "tokens": 0,
                "cost_usd": 0.0,
            }
        )
        clock += seconds
    return drawn


def build_trajectory(
    state: dict[str, Any], events: Iterable[tuple[str, float, dict[str, Any]]]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """A run's trajectory, its model exchanges and its last result.

    Args:
        state: the run's stored state.
        events: the run's recordings as ``(kind, ts, payload)``, in order.
    """
    trajectory = Trajectory()
    for kind, ts, payload in events:
        trajectory.add(kind, ts, dict(payload))
    return trajectory.as_dict(state), trajectory.exchanges, trajectory.result
