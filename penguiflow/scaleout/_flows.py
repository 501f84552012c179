"""Where a worker's jobs get their flow: a new one per job, or a shared, rebuilt one."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ..errors import ConfigError, UnknownTargetError
from ..flow import FlowState, PenguiFlow
from ..types import Message

__all__ = ["FlowFactory", "FlowLease", "FlowPool", "WorkerMode"]

logger = logging.getLogger("penguiflow.worker")

FlowFactory: TypeAlias = Callable[[], PenguiFlow | Awaitable[PenguiFlow]]
"""``def build_flow() -> PenguiFlow`` (or async): returns a flow that is not running yet."""

WorkerMode: TypeAlias = Literal["per_job", "long_lived"]


@dataclass(slots=True, eq=False)
class FlowLease:
    """One flow and the jobs using it.

    Attributes:
        flow: the running flow.
        in_use: jobs running on it now.
        jobs: jobs it served.
        retired: it takes no new jobs and stops when the last one ends.
        call: ``flow.call`` bound to its ingress node, when it has exactly one.
    """

    flow: PenguiFlow
    in_use: int = 0
    jobs: int = 0
    retired: bool = False
    call: Callable[[Message], Awaitable[Any]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        with contextlib.suppress(UnknownTargetError):  # several ingress nodes: emit, fetch
            self.call = self.flow.caller()


class FlowPool:
    """Hands flows to jobs.

    ``per_job``: every job gets a new flow, stopped when the job ends. ``long_lived``:
    jobs share one flow; it is replaced after ``rebuild_after_jobs`` jobs or when a job
    reports it broken, and the old one stops once its last job has finished.
    """

    def __init__(
        self, factory: FlowFactory, *, mode: WorkerMode, rebuild_after_jobs: int | None
    ) -> None:
        if mode not in ("per_job", "long_lived"):
            raise ConfigError(f"Worker(mode=...) must be 'per_job' or 'long_lived', got {mode!r}")
        if rebuild_after_jobs is not None and (
            isinstance(rebuild_after_jobs, bool)
            or not isinstance(rebuild_after_jobs, int)
            or rebuild_after_jobs < 1
        ):
            raise ConfigError(
                f"Worker(rebuild_after_jobs=...) must be an int >= 1 or None, got "
                f"{rebuild_after_jobs!r}"
            )
        if not callable(factory):
            raise ConfigError("Worker(flow_factory=...) must be a callable returning a flow")
        self._factory = factory
        self._mode: WorkerMode = mode
        self._rebuild_after = rebuild_after_jobs
        self._current: FlowLease | None = None
        self._lock = asyncio.Lock()
        self.built = 0

    async def _build(self) -> PenguiFlow:
        made = self._factory()
        flow = made if isinstance(made, PenguiFlow) or not inspect.isawaitable(made) else await made
        if not isinstance(flow, PenguiFlow):
            raise ConfigError(
                f"Worker(flow_factory=...) must return a PenguiFlow (from create(...)), "
                f"got {type(flow).__name__}"
            )
        if flow.state is FlowState.CREATED:
            flow.run()
        self.built += 1
        return flow

    async def acquire(self) -> FlowLease:
        """Return a running flow for one job; give it back with :meth:`release`."""
        if self._mode == "per_job":
            return FlowLease(await self._build(), in_use=1, jobs=1, retired=True)
        async with self._lock:  # one job builds the shared flow; the others wait for it
            lease = self._current
            if lease is None or lease.retired:
                lease = self._current = FlowLease(await self._build())
                logger.info("flow_built", extra={"flows_built": self.built})
        lease.in_use += 1
        lease.jobs += 1
        if self._rebuild_after is not None and lease.jobs >= self._rebuild_after:
            lease.retired = True
        return lease

    async def release(self, lease: FlowLease, *, broken: bool = False) -> None:
        """Give a flow back; a broken flow is retired; a retired one stops when unused."""
        lease.in_use -= 1
        if broken and not lease.retired:
            lease.retired = True
            logger.warning("flow_retired", extra={"reason": "unexpected_error"})
        if lease.retired and lease.in_use <= 0:
            if self._current is lease:
                self._current = None
            await lease.flow.stop()

    async def aclose(self) -> None:
        """Stop the shared flow (called once no job runs any more)."""
        lease, self._current = self._current, None
        if lease is not None:
            await lease.flow.stop()
