"""``Worker``: runs jobs from a queue through flows, one trace per job.

A worker runs ``concurrency`` lanes (tasks of one ``asyncio.TaskGroup``); each takes a
job from a :class:`JobQueue`, runs it as one trace (``trace_id = "job-<id>"``, the job's
tenant in ``Headers.tenant``, the job deadline in ``Message.deadline_s``), hands its
outcome to the queue (complete, retry with backoff, or fail) without waiting for it to be
recorded, and takes the next; every step is logged with the job, trace, tenant and worker
ids. One lane at a time asks the queue for a job (an ``asyncio.Lock``); a lane takes a
job the queue already read ahead (:class:`ReadAheadJobQueue`) without waiting for that
lock. On ``SIGTERM`` (or :meth:`Worker.request_stop`) it stops fetching, lets in-flight
jobs finish within ``shutdown_grace_s`` and hands the rest back to the queue.

Delivery is at least once: a job may run again after a crash, so side effects must be
idempotent (the session store's tool-call journal is one way).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
import signal
import socket
import time
import uuid
from typing import Any

from ..errors import ConfigError, FlowError, FlowErrorCode, TraceCancelled
from ..flow import PenguiFlow
from ..types import Headers, Message, StreamChunk
from ._flows import FlowFactory, FlowLease, FlowPool, WorkerMode
from ._hooks import JOB_HOOKS
from ._outcomes import Outcomes, WorkerStats
from .errors import (
    JobCancelledError,
    JobTimeoutError,
    PermanentJobError,
    QueueBackendError,
)
from .jobs import (
    BatchingJobQueue,
    Job,
    JobDone,
    JobQueue,
    JobResult,
    ReadAheadJobQueue,
    ReleasableJobQueue,
    RetryPolicy,
    default_retryable,
)
from .memory_queue import InMemoryJobQueue

__all__ = [
    "BatchingJobQueue",
    "FlowFactory",
    "InMemoryJobQueue",
    "Job",
    "JobCancelledError",
    "JobDone",
    "JobQueue",
    "JobResult",
    "JobTimeoutError",
    "PermanentJobError",
    "QueueBackendError",
    "ReadAheadJobQueue",
    "ReleasableJobQueue",
    "RetryPolicy",
    "Worker",
    "WorkerMode",
    "WorkerState",
    "WorkerStats",
    "default_retryable",
]

logger = logging.getLogger("penguiflow.worker")

_IDLE_PAUSE_S = 0.01
"""The least time between two ``fetch`` calls that found no job."""

_FETCH_RETRY_S = 0.5
"""The pause after a ``fetch`` that failed, before asking again."""

_YIELD_EVERY = 32
"""A lane lets the event loop turn after this many jobs, even if none of them waited."""

_FETCH_GRACE_S = 2.0
"""After a stop request, the longest a fetch under way may go on (a job it gets is handed
back) before it is cancelled."""

_REPORT_GRACE_S = 5.0
"""After the lanes end, the least time given to outcomes still being reported."""

_EXPECTED = (FlowError, TraceCancelled, JobTimeoutError, PermanentJobError)
"""Job failures that say nothing about the health of a shared flow."""


class WorkerState(enum.Enum):
    """Lifecycle of a worker: it runs once."""

    CREATED = "created"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _check_seconds(name: str, value: float | None, *, optional: bool) -> None:
    if value is None and optional:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        rule = "a finite number >= 0" + (" or None" if optional else "")
        raise ConfigError(f"Worker({name}=...) must be {rule}, got {value!r}")


def _nothing_read_ahead() -> Job | None:
    """``fetch_nowait`` of a queue that reads no jobs ahead."""
    return None


class Worker:
    """Runs jobs from ``queue`` through flows built by ``flow_factory``.

    Each job becomes ``Message(payload=job.payload, headers=Headers(tenant=job.tenant),
    trace_id="job-<id>", deadline_s=now + job_timeout_s)``, emitted into the flow; the
    first result fetched for that trace (stream chunks skipped; a ``Message`` is
    unwrapped to its payload) is the job's result.

    The queue's optional capabilities are found once, here: ``release``
    (:class:`ReleasableJobQueue`), ``fetch_nowait`` (:class:`ReadAheadJobQueue`) and
    ``complete_soon`` (:class:`BatchingJobQueue`).

    Args:
        queue: where jobs come from and outcomes go.
        flow_factory: ``def build_flow() -> PenguiFlow`` (or async), returning a flow
            built with ``create(...)``; the worker starts and stops it.
        concurrency: jobs run at once by this worker.
        job_timeout_s: the time budget of one attempt; past it the trace is cancelled and
            the job retried or failed (``None``: no limit).
        retry: when a failed attempt is retried, and after how long.
        mode: ``"per_job"`` (a new flow per job: best isolation, the default) or
            ``"long_lived"`` (jobs share a flow, rebuilt after ``rebuild_after_jobs``
            jobs or any unexpected error).
        rebuild_after_jobs: in ``long_lived`` mode, jobs served by one flow before it is
            replaced (``None``: only on errors).
        shutdown_grace_s: after a stop request, how long in-flight jobs may run before
            they are cancelled and handed back to the queue.
        worker_id: identifies the worker in logs (default: host-pid-random).

    Raises:
        ConfigError: a bad argument.
    """

    def __init__(
        self,
        queue: JobQueue,
        flow_factory: FlowFactory,
        *,
        concurrency: int = 8,
        job_timeout_s: float | None = 300.0,
        retry: RetryPolicy | None = None,
        mode: WorkerMode = "per_job",
        rebuild_after_jobs: int | None = 1000,
        shutdown_grace_s: float = 30.0,
        worker_id: str | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"Worker(concurrency=...) must be an int >= 1, got {concurrency!r}")
        _check_seconds("job_timeout_s", job_timeout_s, optional=True)
        if job_timeout_s == 0:
            raise ConfigError("Worker(job_timeout_s=...) must be > 0 or None, got 0")
        _check_seconds("shutdown_grace_s", shutdown_grace_s, optional=False)
        if not isinstance(queue, JobQueue):
            raise ConfigError(
                f"Worker(queue=...) must implement JobQueue (fetch, mark_complete, retry_job, "
                f"mark_failed), got {type(queue).__name__}"
            )
        self._queue = queue
        self._fetch_nowait = (
            queue.fetch_nowait if isinstance(queue, ReadAheadJobQueue) else _nothing_read_ahead
        )
        self._flows = FlowPool(flow_factory, mode=mode, rebuild_after_jobs=rebuild_after_jobs)
        self._concurrency = concurrency
        self._timeout_s = job_timeout_s
        # The message deadline makes the runtime end the trace; this outer bound (a little
        # later) covers nodes that ignore cancellation.
        self._bound_s = None if job_timeout_s is None else job_timeout_s + min(1.0, job_timeout_s)
        self._grace_s = float(shutdown_grace_s)
        self.worker_id = worker_id or _default_worker_id()
        self._stats = WorkerStats()
        self._outcomes = Outcomes(
            queue,
            retry=retry if retry is not None else RetryPolicy(),
            stats=self._stats,
            worker_id=self.worker_id,
        )
        self._state = WorkerState.CREATED
        self._stop_requested = False
        self._forced = False
        # Set once no lane may fetch any more: a stop request, an idle queue
        # (stop_when_idle) or a lane that ended.
        self._stopping = asyncio.Event()
        self._fetch_lock = asyncio.Lock()  # one lane at a time asks the queue for a job
        self._jobs: dict[asyncio.Task[None], Job] = {}  # lane -> the job it runs

    # -- public surface -------------------------------------------------------------------

    @property
    def state(self) -> WorkerState:
        """Where the worker is in its lifecycle."""
        return self._state

    @property
    def stats(self) -> WorkerStats:
        """The worker's counters."""
        self._stats.flows_built = self._flows.built
        return self._stats

    @property
    def in_flight(self) -> int:
        """Jobs running now."""
        return len(self._jobs)

    def request_stop(self) -> None:
        """Ask the worker to stop: no more fetches, in-flight jobs get the grace period.

        A second request cancels in-flight jobs at once (they are handed back). Safe to
        call from a signal handler or another task.
        """
        if self._stop_requested:
            self._forced = True
            for lane in self._jobs:
                lane.cancel("worker stopped without grace")
        self._stop_requested = True
        self._stopping.set()

    async def run(
        self, *, handle_signals: bool = False, stop_when_idle: bool = False
    ) -> WorkerStats:
        """Fetch and run jobs until a stop is requested, then drain.

        Args:
            handle_signals: stop gracefully on ``SIGTERM``/``SIGINT`` (a second signal
                stops without grace). Only from the main thread.
            stop_when_idle: return once a fetch finds no job and no job is running.

        Returns:
            The worker's counters.

        Raises:
            ConfigError: the worker already ran.
        """
        if self._state is not WorkerState.CREATED:
            raise ConfigError(
                f"Worker.run() was already called (state: {self._state.value}); "
                "a worker runs once, build a new one"
            )
        self._state = WorkerState.RUNNING
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop)
        logger.info(
            "worker_started",
            extra={"worker_id": self.worker_id, "concurrency": self._concurrency},
        )
        try:
            async with asyncio.TaskGroup() as group:
                lanes = [
                    group.create_task(self._lane(stop_when_idle), name=f"penguiflow-lane-{n}")
                    for n in range(self._concurrency)
                ]
                try:
                    await self._stopping.wait()
                    self._state = WorkerState.DRAINING
                    await self._drain(lanes)
                finally:
                    self._stopping.set()  # (run() was cancelled) the lanes hand their jobs back
        except BaseExceptionGroup as failed:  # a lane crashed: a bug, say which
            if len(failed.exceptions) == 1:
                raise failed.exceptions[0] from None
            raise
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self._outcomes.cancel()
            await self._flows.aclose()
            self._state = WorkerState.STOPPED
            logger.info("worker_stopped", extra={"worker_id": self.worker_id, **self._counters()})
        return self.stats

    async def process(self, job: Job) -> None:
        """Run one job already fetched from the queue and wait until its outcome is reported."""
        await self._run_job(job)
        await self._outcomes.settle(None)

    # -- lanes ----------------------------------------------------------------------------

    def _counters(self) -> dict[str, int]:
        s = self.stats
        return {
            "fetched": s.fetched,
            "completed": s.completed,
            "retried": s.retried,
            "failed": s.failed,
            "handed_back": s.handed_back,
        }

    async def _lane(self, stop_when_idle: bool) -> None:
        """Take jobs and run them, one at a time, until the worker stops fetching."""
        lane = asyncio.current_task()
        assert lane is not None
        try:
            ran = 0
            while (job := await self._next_job(stop_when_idle)) is not None:
                self._jobs[lane] = job
                try:
                    await self._run_job(job)
                finally:
                    del self._jobs[lane]
                ran += 1
                if ran % _YIELD_EVERY == 0:
                    # Jobs that never wait must not starve the other tasks (signals, lease
                    # renewals, the queue's round trips).
                    await asyncio.sleep(0)
        finally:
            self._stopping.set()  # a lane ends only when the worker stops, or by a bug

    async def _next_job(self, stop_when_idle: bool) -> Job | None:
        """The next job for a free lane, or ``None`` once the worker stops fetching."""
        while not self._stopping.is_set():
            job = self._take_read_ahead()
            if job is not None:
                return job
            async with self._fetch_lock:
                if self._stopping.is_set():
                    break
                # The lane before this one may have read jobs ahead.
                job = self._take_read_ahead() or await self._fetch(stop_when_idle)
                if job is not None:
                    return job
        return None

    def _take_read_ahead(self) -> Job | None:
        """A job the queue read ahead, or ``None`` (then ``fetch`` it)."""
        try:
            job = self._fetch_nowait()
        except Exception:
            logger.debug("fetch_nowait failed", exc_info=True, extra={"worker_id": self.worker_id})
            return None  # fetch() says what is wrong
        if job is not None:
            self._fetched()
        return job

    def _fetched(self) -> None:
        self._stats.fetched += 1
        hooks = JOB_HOOKS.jobs
        if hooks is not None:
            hooks.job_event("fetched")

    async def _fetch(self, stop_when_idle: bool) -> Job | None:
        """Ask the queue for a job (holding the fetch lock); ``None`` if none came."""
        asked = time.monotonic()
        try:
            job = await self._queue.fetch()
        except Exception:
            logger.exception("job_fetch_failed", extra={"worker_id": self.worker_id})
            await asyncio.sleep(_FETCH_RETRY_S)
            return None
        if job is not None:
            self._fetched()
            if self._stopping.is_set():  # the worker stopped while this fetch went on
                await self._outcomes.hand_back(job, "worker_stopping")
                return None
            return job
        if stop_when_idle and not (self._jobs or self._outcomes.pending):
            self._stopping.set()
        elif time.monotonic() - asked < _IDLE_PAUSE_S:
            # A queue that answers "nothing" at once (poll_s=0) must neither starve the
            # running jobs nor spin.
            await asyncio.sleep(_IDLE_PAUSE_S)
        return None

    async def _drain(self, lanes: list[asyncio.Task[None]]) -> None:
        """Let a fetch under way end, give running jobs the grace period, cancel the rest.

        A job the fetch under way gets is handed back. The outcomes being reported then
        get what is left of the grace period (at least ``_REPORT_GRACE_S``).
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Before any job is handed back, or that fetch could take it again.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(self._grace_s, _FETCH_GRACE_S)), self._fetch_lock:
                pass
        running = [lane for lane in lanes if lane in self._jobs]
        for lane in lanes:
            if lane not in self._jobs:
                lane.cancel("worker stopping")  # idle, or stuck in a fetch
        if running:
            logger.info(
                "worker_draining", extra={"worker_id": self.worker_id, "in_flight": len(running)}
            )
            grace = 0.0 if self._forced else self._grace_s
            _, late = await asyncio.wait(running, timeout=max(start + grace - loop.time(), 0.0))
            for lane in late:
                lane.cancel("worker shutdown grace period ended")
        await asyncio.wait(lanes)
        await self._outcomes.settle(max(start + self._grace_s - loop.time(), _REPORT_GRACE_S))

    # -- one job --------------------------------------------------------------------------

    async def _run_job(self, job: Job) -> None:
        """Run ``job`` and hand its outcome to the queue (recorded in the background)."""
        outcomes = self._outcomes
        started = time.perf_counter()
        outcomes.log(logging.DEBUG, "job_started", job)
        hooks = JOB_HOOKS.jobs
        try:
            if hooks is None:
                result = await self._execute(job)
            else:
                with hooks.job(job, self.worker_id):
                    result = await self._execute(job)
        except asyncio.CancelledError as exc:
            if self._stopping.is_set():
                await outcomes.hand_back(job, "worker_shutdown")
                raise
            # Not the worker's cancel (the job's own code cancelled its task): the
            # attempt failed, and the lane goes on.
            task = asyncio.current_task()
            while task is not None and task.cancelling():
                task.uncancel()
            failure = JobCancelledError(job.id)
            failure.__cause__ = exc
            outcomes.fail(job, failure)
        except Exception as exc:
            outcomes.fail(job, exc)
        else:
            outcomes.complete(job, result, time.perf_counter() - started)

    async def _execute(self, job: Job) -> Any:
        trace_id = f"job-{job.id}"
        timeout = self._timeout_s
        message = Message(
            payload=job.payload,
            headers=Headers(tenant=job.tenant),
            trace_id=trace_id,
            deadline_s=None if timeout is None else time.time() + timeout,
            meta={"job_id": job.id, "attempt": job.attempts},
        )
        lease = await self._flows.acquire()
        bound = asyncio.timeout(self._bound_s)
        broken = False
        try:
            async with bound:
                return await _run_trace(lease, message)
        except asyncio.CancelledError:
            await _cancel_trace(lease.flow, trace_id)
            raise
        except TimeoutError as exc:
            if not bound.expired():  # not the job's deadline: someone else's timeout
                broken = True
                raise
            await _cancel_trace(lease.flow, trace_id)
            assert timeout is not None
            raise JobTimeoutError(job.id, trace_id, timeout) from exc
        except FlowError as exc:
            if exc.code is FlowErrorCode.DEADLINE_EXCEEDED and timeout is not None:
                raise JobTimeoutError(job.id, trace_id, timeout) from exc
            raise
        except BaseException as exc:
            broken = not isinstance(exc, _EXPECTED)
            raise
        finally:
            await self._flows.release(lease, broken=broken)


async def _run_trace(lease: FlowLease, message: Message) -> Any:
    """Run ``message`` through the leased flow; return the trace's result, unwrapped."""
    flow, trace_id = lease.flow, message.trace_id
    if lease.call is None:
        await flow.emit(message)
        result = await flow.fetch(trace_id=trace_id)
    else:  # one ingress: runs in this task when it has a free slot
        result = await lease.call(message)
    payload = result.payload if isinstance(result, Message) else result
    if isinstance(payload, StreamChunk):
        return await _final_result(flow, trace_id)
    return payload


async def _final_result(flow: PenguiFlow, trace_id: str) -> Any:
    """The next result of the trace that is not a stream chunk, unwrapped."""
    while True:
        result = await flow.fetch(trace_id=trace_id)
        payload = result.payload if isinstance(result, Message) else result
        if not isinstance(payload, StreamChunk):
            return payload


async def _cancel_trace(flow: PenguiFlow, trace_id: str) -> None:
    """Cancel a trace and consume its cancellation marker (a later job may reuse the id)."""
    try:
        await flow.cancel(trace_id)
        await flow.fetch(trace_id=trace_id, timeout=0)
    except (TraceCancelled, FlowError, TimeoutError):
        pass
    except Exception:
        logger.debug("trace cancel cleanup failed", exc_info=True, extra={"trace_id": trace_id})
