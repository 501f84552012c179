"""Deadlines: one timer cancelling many tasks, with asyncio.timeout's semantics."""

import asyncio

import pytest

from penguiflow._deadlines import Deadlines


async def guarded(deadlines: Deadlines, delay: float, work) -> str:
    task = asyncio.current_task()
    assert task is not None
    armed = deadlines.arm(task, delay)
    try:
        return await work()
    except asyncio.CancelledError:
        if deadlines.expired(armed):
            raise TimeoutError from None
        raise
    finally:
        deadlines.leave(armed)


async def test_a_deadline_cancels_the_task_and_becomes_a_timeout():
    deadlines = Deadlines()
    with pytest.raises(TimeoutError):
        await guarded(deadlines, 0.01, lambda: asyncio.sleep(5))
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_work_that_finishes_in_time_is_not_cancelled():
    deadlines = Deadlines()

    async def quick() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert await guarded(deadlines, 0.05, quick) == "ok"
    await asyncio.sleep(0.1)  # the timer fires for a deadline already left: nothing happens
    assert await guarded(deadlines, 5, quick) == "ok"


async def test_many_tasks_share_one_timer_and_each_gets_its_own_deadline():
    deadlines = Deadlines()
    outcomes: dict[float, str] = {}

    async def one(delay: float, work_s: float) -> None:
        try:
            await guarded(deadlines, delay, lambda: asyncio.sleep(work_s))
            outcomes[delay] = "done"
        except TimeoutError:
            outcomes[delay] = "timeout"

    # The timer is first set for 0.6 s; the 0.05 s deadline must move it earlier, or its
    # task would finish its 0.3 s of work first.
    await asyncio.gather(one(0.6, 0.01), one(0.05, 0.3), one(5, 0.02), one(0.1, 5))
    assert outcomes == {0.6: "done", 0.05: "timeout", 5: "done", 0.1: "timeout"}


async def test_an_outside_cancel_is_not_mistaken_for_the_deadline():
    deadlines = Deadlines()
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(5)

    runner = asyncio.create_task(guarded(deadlines, 0.05, work))
    await started.wait()
    runner.cancel()  # before the deadline
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_a_cancel_from_both_the_deadline_and_outside_stays_a_cancel():
    deadlines = Deadlines()
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

    runner = asyncio.create_task(guarded(deadlines, 0.02, stubborn))
    await asyncio.sleep(0.1)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert seen == ["deadline", "outside"]


async def test_a_swallowed_deadline_cancel_is_withdrawn_on_leaving():
    deadlines = Deadlines()

    async def swallow() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    assert await guarded(deadlines, 0.01, swallow) == "swallowed"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # and this task is not cancelled later


async def test_left_far_off_deadlines_do_not_pile_up():
    deadlines = Deadlines()

    async def instant() -> None:
        return None

    for _ in range(1000):
        await guarded(deadlines, 300, instant)
    assert len(deadlines._heap) <= 130  # compacted as they are left


async def test_close_stops_every_deadline():
    deadlines = Deadlines()
    task = asyncio.current_task()
    assert task is not None
    deadlines.arm(task, 0.01)
    deadlines.close()
    await asyncio.sleep(0.05)  # not cancelled


def test_a_new_event_loop_starts_afresh():
    deadlines = Deadlines()

    async def run() -> None:
        with pytest.raises(TimeoutError):
            await guarded(deadlines, 0.01, lambda: asyncio.sleep(5))

    asyncio.run(run())
    asyncio.run(run())  # the first loop's timer and heap are gone with it
