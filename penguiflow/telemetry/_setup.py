"""``Telemetry``, ``instrument()`` and ``uninstrument()``: turning telemetry on and off."""

from __future__ import annotations

import threading

from opentelemetry import metrics, trace

from .._hooks import HOOKS
from ..errors import ConfigError
from ..planner._hooks import PLANNER_HOOKS, PlannerHooks
from ..scaleout._hooks import JOB_HOOKS
from ._jobs import JobTelemetry
from ._planner import PlannerSpans
from ._runtime import RuntimeTelemetry
from ._signals import Signals

__all__ = ["Telemetry", "installed", "instrument", "uninstrument"]


class Telemetry:
    """OpenTelemetry traces and metrics for penguiflow's runs, model calls, tools and runtime.

    Build one and either install it for the process (:func:`instrument` does both), or
    give it to one planner: ``ReactPlanner(..., telemetry=Telemetry(...))`` or
    ``Agent(..., telemetry=...)`` (then only that planner's runs, model calls, tool calls,
    pauses and resumes are reported; node spans, gauges and worker jobs need the
    process-wide install).

    Args:
        tracer_provider: where spans go (default: the global tracer provider).
        meter_provider: where metrics go (default: the global meter provider).
        capture_content: record prompts, replies, tool arguments and results (and error
            messages), masked like everything else penguiflow shows: secrets never
            reach an exporter. Off by default.

    Raises:
        ConfigError: ``capture_content`` is not a bool.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool = False,
    ) -> None:
        if not isinstance(capture_content, bool):
            raise ConfigError(
                f"Telemetry(capture_content=...) must be True or False, got {capture_content!r}"
            )
        signals = Signals(tracer_provider, meter_provider, capture_content)
        self.capture_content = capture_content
        self.runtime = RuntimeTelemetry(signals)
        self.jobs = JobTelemetry(signals)
        self._planner = PlannerSpans(signals)

    @property
    def planner(self) -> PlannerHooks:
        """The planner's hooks (what ``ReactPlanner(telemetry=...)`` uses)."""
        return self._planner

    def install(self) -> None:
        """Report everything in this process here (replacing any installed telemetry)."""
        global _installed
        with _lock:
            HOOKS.runtime = self.runtime
            JOB_HOOKS.jobs = self.jobs
            PLANNER_HOOKS.planner = self._planner
            _installed = self

    def uninstall(self) -> None:
        """Stop reporting here, if this telemetry is the installed one."""
        global _installed
        with _lock:
            if _installed is not self:
                return
            HOOKS.runtime = None
            JOB_HOOKS.jobs = None
            PLANNER_HOOKS.planner = None
            _installed = None

    def __repr__(self) -> str:
        return f"Telemetry(capture_content={self.capture_content})"


_lock = threading.Lock()
_installed: Telemetry | None = None


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool = False,
) -> Telemetry:
    """Turn telemetry on for the process; see :class:`Telemetry` for the arguments.

    Flows started from now on report their queues; spans and metrics start at once.

    Returns:
        The installed :class:`Telemetry` (``uninstrument()`` turns it off).

    Raises:
        ConfigError: ``capture_content`` is not a bool.
    """
    telemetry = Telemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
    )
    telemetry.install()
    return telemetry


def uninstrument() -> None:
    """Turn process-wide telemetry off (planners given their own keep theirs)."""
    telemetry = installed()
    if telemetry is not None:
        telemetry.uninstall()


def installed() -> Telemetry | None:
    """The telemetry installed for the process, if any."""
    return _installed
