"""Deadlines: one timer per event loop cancelling many tasks, as asyncio.timeout would."""

import asyncio
import gc
import weakref

import pytest

from penguiflow import _deadlines
from penguiflow._deadlines import deadline_in


async def guarded(delay: float, work) -> str:
    with deadline_in(delay):
        return await work()


def heap() -> _deadlines._Heap:
    return _deadlines._HEAPS[asyncio.get_running_loop()]


async def test_a_deadline_cancels_the_task_and_becomes_a_timeout():
    with pytest.raises(TimeoutError):
        await guarded(0.01, lambda: asyncio.sleep(5))
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_work_that_finishes_in_time_is_not_cancelled():

    async def quick() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert await guarded(0.05, quick) == "ok"
    await asyncio.sleep(0.1)  # the timer fires for a deadline already left: nothing happens
    assert await guarded(5, quick) == "ok"


async def test_many_tasks_share_one_timer_and_each_gets_its_own_deadline():
    outcomes: dict[float, str] = {}

    async def one(delay: float, work_s: float) -> None:
        try:
            await guarded(delay, lambda: asyncio.sleep(work_s))
            outcomes[delay] = "done"
        except TimeoutError:
            outcomes[delay] = "timeout"

    # The timer is first set for 0.6 s; the 0.05 s deadline must move it earlier, or its
    # task would finish its 0.3 s of work first.
    await asyncio.gather(one(0.6, 0.01), one(0.05, 0.3), one(5, 0.02), one(0.1, 5))
    assert outcomes == {0.6: "done", 0.05: "timeout", 5: "done", 0.1: "timeout"}


async def test_an_outside_cancel_is_not_mistaken_for_the_deadline():
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(5)

    runner = asyncio.create_task(guarded(0.05, work))
    await started.wait()
    runner.cancel()  # before the deadline
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_a_cancel_from_both_the_deadline_and_outside_stays_a_cancel():
    seen: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.append("deadline")
        try:
            await asyncio.sleep(5)  # cancelled again, from outside this time
        finally:
            seen.append("outside")

    runner = asyncio.create_task(guarded(0.02, stubborn))
    await asyncio.sleep(0.1)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert seen == ["deadline", "outside"]


async def test_a_swallowed_deadline_cancel_is_withdrawn_on_leaving():

    async def swallow() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    assert await guarded(0.01, swallow) == "swallowed"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # and this task is not cancelled later


async def test_left_far_off_deadlines_do_not_pile_up():

    async def instant() -> None:
        return None

    for _ in range(1000):
        await guarded(300, instant)
    assert len(heap().entries) <= 130  # compacted as they are left


async def test_tasks_that_left_their_deadlines_are_not_kept_alive():
    async def instant() -> None:
        return None

    task = asyncio.create_task(guarded(300, instant))
    await task
    gone = weakref.ref(task)
    del task
    for _ in range(3):
        await asyncio.sleep(0)  # let the loop drop its own references to the task
    gc.collect()
    assert gone() is None


def test_each_event_loop_has_its_own_timer_and_a_closed_loop_is_freed():
    loops = []

    async def run() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        with pytest.raises(TimeoutError):
            await guarded(0.01, lambda: asyncio.sleep(5))
        # a far-off deadline still armed on the heap's timer when the loop closes
        assert await guarded(300, lambda: asyncio.sleep(0)) is None

    asyncio.run(run())
    asyncio.run(run())
    gc.collect()
    assert [ref() for ref in loops] == [None, None]


async def test_timed_out_tells_the_deadline_apart_from_the_work_s_own_timeout():
    task = asyncio.current_task()
    assert task is not None
    deadline = deadline_in(0.01)
    with pytest.raises(TimeoutError):
        with deadline:
            await asyncio.sleep(5)
    assert deadline.timed_out

    deadline = deadline_in(5)
    with pytest.raises(TimeoutError, match="the work's own"):
        with deadline:
            raise TimeoutError("the work's own")
    assert not deadline.timed_out


def test_loops_in_two_threads_keep_their_own_heaps():
    import threading

    outcomes: list[str] = []
    errors: list[BaseException] = []

    async def run(tag: str) -> None:
        for _ in range(200):  # arm deadlines while the other thread arms its own
            deadline = deadline_in(300)
            with deadline:
                await asyncio.sleep(0)
            assert deadline._heap is heap()
        with pytest.raises(TimeoutError):
            await guarded(0.01, lambda: asyncio.sleep(5))
        outcomes.append(tag)

    def thread_main(tag: str) -> None:
        try:
            asyncio.run(run(tag))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=thread_main, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    assert sorted(outcomes) == ["a", "b"]
