"""``Worker``: runs jobs from a queue through flows, one trace per job.

A worker runs ``concurrency`` lanes; each fetches a job from a :class:`JobQueue`, runs
it as one trace (``trace_id = "job-<id>"``, the job's tenant in ``Headers.tenant``, the
job deadline in ``Message.deadline_s``), reports the outcome to the queue (complete,
retry with backoff, or fail) and fetches the next; every step is logged with the job,
trace, tenant and worker ids. With a :class:`BatchingJobQueue` a lane waits neither for
jobs already read ahead nor for its completions to be recorded. On ``SIGTERM`` (or
:meth:`Worker.request_stop`) it stops fetching, lets in-flight jobs finish within
``shutdown_grace_s`` and hands the rest back to the queue.

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
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from ..errors import ConfigError, FlowError, FlowErrorCode, TraceCancelled
from ..flow import PenguiFlow
from ..types import Headers, Message, StreamChunk
from ._flows import FlowFactory, FlowPool, WorkerMode
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
    ReleasableJobQueue,
    RetryPolicy,
    default_retryable,
    may_use,
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

_YIELD_EVERY = 32
"""A lane that took this many jobs in a row without waiting lets the event loop turn."""

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


class Worker:
    """Runs jobs from ``queue`` through flows built by ``flow_factory``.

    Each job becomes ``Message(payload=job.payload, headers=Headers(tenant=job.tenant),
    trace_id="job-<id>", deadline_s=now + job_timeout_s)``, emitted into the flow; the
    first result fetched for that trace (stream chunks skipped; a ``Message`` is
    unwrapped to its payload) is the job's result.

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
        self._flows = FlowPool(flow_factory, mode=mode, rebuild_after_jobs=rebuild_after_jobs)
        self._concurrency = concurrency
        self._timeout_s = job_timeout_s
        # The message deadline makes the runtime end the trace; this outer bound (a little
        # later) covers nodes that ignore cancellation.
        self._bound_s = None if job_timeout_s is None else job_timeout_s + min(1.0, job_timeout_s)
        self._headers: dict[str, Headers] = {}  # frozen, so jobs of one tenant share them
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
        self._stop = asyncio.Event()
        self._force = False
        self._idle = False  # stop_when_idle: a fetch found nothing and nothing was running
        # Each of ``concurrency`` lanes (tasks) fetches a job, runs it, hands its outcome
        # to the queue and fetches the next; one lane at a time talks to the queue.
        self._fetching = False
        self._fetch_waiters: deque[asyncio.Future[None]] = deque()  # lanes waiting to fetch
        self._jobs: dict[asyncio.Task[None], Job] = {}  # lane -> the job it runs
        self._fetch_nowait: Callable[[], Job | None] | None = None
        if isinstance(queue, BatchingJobQueue) and may_use(
            queue, "fetch_nowait", instead_of="fetch"
        ):
            self._fetch_nowait = queue.fetch_nowait

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
        if self._stop.is_set():
            self._force = True
            for task in self._jobs:
                task.cancel("worker stopped without grace")
        self._stop.set()

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
        lanes = [
            asyncio.create_task(self._lane(stop_when_idle), name=f"penguiflow-worker-lane-{n}")
            for n in range(self._concurrency)
        ]
        try:
            await self._until_stopped(lanes)
            self._state = WorkerState.DRAINING
            await self._drain(lanes)
            for lane in lanes:  # a lane that crashed is a bug: say so
                if not lane.cancelled() and lane.exception() is not None:
                    raise cast(BaseException, lane.exception())
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            if not all(lane.done() for lane in lanes):  # run() itself was cancelled
                self._stop.set()  # so that the lanes hand their jobs back
                for lane in lanes:
                    lane.cancel("worker cancelled")
                await asyncio.gather(*lanes, return_exceptions=True)
            await self._outcomes.cancel()
            await self._flows.aclose()
            self._state = WorkerState.STOPPED
            logger.info("worker_stopped", extra={"worker_id": self.worker_id, **self._counters()})
        return self.stats

    async def process(self, job: Job) -> None:
        """Run one job already fetched from the queue and report its outcome to it."""
        await self._run_job(job, wait_report=True)

    # -- fetching -------------------------------------------------------------------------

    def _counters(self) -> dict[str, int]:
        s = self.stats
        return {
            "fetched": s.fetched,
            "completed": s.completed,
            "retried": s.retried,
            "failed": s.failed,
            "handed_back": s.handed_back,
        }

    async def _until_stopped(self, lanes: list[asyncio.Task[None]]) -> None:
        """Wait for a stop request, or for every lane to end (idle, or a crash)."""
        stop_wait = asyncio.ensure_future(self._stop.wait())
        try:
            live: set[asyncio.Future[Any]] = set(lanes)
            while live and not self._stop.is_set():
                done, live = await asyncio.wait(
                    live | {stop_wait}, return_when=asyncio.FIRST_COMPLETED
                )
                live.discard(stop_wait)
                if any(not f.cancelled() and f.exception() is not None for f in done):
                    self._stop.set()  # a lane crashed: stop the others
        finally:
            stop_wait.cancel()

    async def _lane(self, stop_when_idle: bool) -> None:
        lane = asyncio.current_task()
        assert lane is not None
        jobs, stop, stats = self._jobs, self._stop, self._stats
        fetch_nowait = self._fetch_nowait
        streak = 0  # jobs taken in a row without waiting
        while True:
            job = None
            if fetch_nowait is not None and not (stop.is_set() or self._idle):
                if streak >= _YIELD_EVERY:
                    # Jobs that never wait must not starve the other tasks (signals,
                    # lease renewals, the queue's round trips).
                    streak = 0
                    await asyncio.sleep(0)
                try:
                    job = fetch_nowait()  # a job read ahead: no round trip, no wait
                except Exception:
                    job = None  # fetch() says what is wrong
                if job is not None:
                    stats.fetched += 1
                    streak += 1
            if job is None:
                streak = 0
                job = await self._next_job(stop_when_idle)
                if job is None:
                    return
            jobs[lane] = job
            try:
                await self._run_job(job)
            finally:
                del jobs[lane]

    async def _next_job(self, stop_when_idle: bool) -> Job | None:
        """The next job for a free lane, or ``None`` once the worker stops fetching.

        One lane at a time talks to the queue; the others wait for it (a queue with jobs
        read ahead answers without waiting, so they rarely do).
        """
        stop = self._stop
        while not (stop.is_set() or self._idle):
            if self._fetching:
                waiter = asyncio.get_running_loop().create_future()
                self._fetch_waiters.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        self._pass_turn()  # it was this lane's turn: the next one takes it
                    raise
                continue
            self._fetching = True
            try:
                asked = time.monotonic()
                try:
                    job = await self._queue.fetch()
                except Exception:
                    logger.exception("job_fetch_failed", extra={"worker_id": self.worker_id})
                    await asyncio.sleep(0.5)
                    continue
                if job is not None:
                    self._stats.fetched += 1
                    if stop.is_set():
                        await self._outcomes.hand_back(job, "worker_stopping")
                        return None
                    return job
                if stop_when_idle and not (self._jobs or self._outcomes.pending):
                    self._idle = True
                    return None
                # A queue that answers "nothing" at once (poll_s=0) must neither starve
                # the running jobs nor spin: wait a little before asking again.
                if time.monotonic() - asked < _IDLE_PAUSE_S:
                    await asyncio.sleep(_IDLE_PAUSE_S)
            finally:
                self._fetching = False
                self._pass_turn()
        return None

    def _pass_turn(self) -> None:
        """Wake the next lane waiting to fetch, or all of them when no one fetches any more.

        Waking one at a time keeps a worker with many idle lanes from waking them all
        for every job.
        """
        waiters = self._fetch_waiters
        if self._stop.is_set() or self._idle:
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
            return
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _drain(self, lanes: list[asyncio.Task[None]]) -> None:
        """Let a fetch under way end, give running jobs the grace period, cancel the rest.

        A job the fetch under way gets is handed back. The outcomes being reported then
        get what is left of the grace period (at least ``_REPORT_GRACE_S``).
        """
        loop = asyncio.get_running_loop()
        if self._fetching:
            # Before any job is handed back, or this fetch could take it again.
            turn = loop.create_future()
            self._fetch_waiters.append(turn)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(turn, min(self._grace_s, _FETCH_GRACE_S))
        start = loop.time()
        if self._jobs:
            logger.info(
                "worker_draining",
                extra={"worker_id": self.worker_id, "in_flight": len(self._jobs)},
            )
        live = {lane for lane in lanes if not lane.done()}
        cancelled: set[asyncio.Task[None]] = set()
        while live:
            now = loop.time()
            until = start if self._force else start + self._grace_s
            wake: float | None = None
            for lane in live - cancelled:
                running = lane in self._jobs
                if not running or now >= until:  # (a lane not running a job is leaving)
                    lane.cancel(
                        "worker shutdown grace period ended" if running else "worker stopping"
                    )
                    cancelled.add(lane)
                elif wake is None or until < wake:
                    wake = until
            _, pending = await asyncio.wait(
                live,
                timeout=None if wake is None else wake - now,
                return_when=asyncio.FIRST_COMPLETED,
            )
            live = set(pending)
        await self._outcomes.settle(max(start + self._grace_s - loop.time(), _REPORT_GRACE_S))

    # -- one job --------------------------------------------------------------------------

    async def _run_job(self, job: Job, *, wait_report: bool = False) -> None:
        """Run ``job`` and report its outcome, in the background unless ``wait_report``."""
        outcomes = self._outcomes
        started = time.perf_counter()
        if logger.isEnabledFor(logging.DEBUG):
            outcomes.log(logging.DEBUG, "job_started", job)
        try:
            result = await self._execute(job)
        except asyncio.CancelledError as exc:
            if self._stop.is_set():
                await outcomes.hand_back(job, "worker_shutdown")
                raise
            # Not the worker's cancel (the job's own code cancelled its task): the
            # attempt failed, and the lane goes on.
            task = asyncio.current_task()
            while task is not None and task.cancelling():
                task.uncancel()
            failure = JobCancelledError(job.id)
            failure.__cause__ = exc
            await outcomes.fail(job, failure, wait=wait_report)
            return
        except Exception as exc:
            await outcomes.fail(job, exc, wait=wait_report)
            return
        latency = time.perf_counter() - started
        if wait_report or not outcomes.complete_soon(job, result, latency):
            await outcomes.complete(job, result, latency, wait=wait_report)

    async def _execute(self, job: Job) -> Any:
        trace_id = f"job-{job.id}"
        timeout = self._timeout_s
        headers = self._headers.get(job.tenant)
        if headers is None:
            if len(self._headers) >= 1024:
                self._headers.clear()
            headers = self._headers[job.tenant] = Headers(tenant=job.tenant)
        message = Message(
            payload=job.payload,
            headers=headers,
            trace_id=trace_id,
            deadline_s=None if timeout is None else time.time() + timeout,
            meta={"job_id": job.id, "attempt": job.attempts},
        )
        flows = self._flows
        lease = flows.acquire_nowait() or await flows.acquire()
        flow, call = lease.flow, lease.call
        bound = self._bound_s
        deadline = asyncio.timeout(bound)
        broken = False
        try:
            async with deadline:
                if call is None:
                    await flow.emit(message)
                    result = await flow.fetch(trace_id=trace_id)
                else:  # one ingress: runs in this task when it has a free slot
                    result = await call(message)
                payload = result.payload if isinstance(result, Message) else result
                if isinstance(payload, StreamChunk):
                    return await _final_result(flow, trace_id)
                return payload
        except asyncio.CancelledError:
            await _cancel_trace(flow, trace_id)
            raise
        except TimeoutError as exc:
            # The bound's own cancel (and no one else's) is the job's timeout.
            if not deadline.expired():
                broken = True
                raise
            await _cancel_trace(flow, trace_id)
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
            if not flows.release_nowait(lease, broken=broken):
                await flows.release(lease, broken=broken)


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
