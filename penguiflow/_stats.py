"""``FlowStats`` and ``NodeStats``: a snapshot of a flow's queues, workers and traces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._lifecycle import FlowState

__all__ = ["FlowStats", "NodeStats"]


@dataclass(frozen=True, slots=True)
class NodeStats:
    """One node's queue and workers at the moment ``flow.stats()`` was called.

    Attributes:
        queue_depth: messages waiting in the node's queue.
        capacity: the queue's size limit (``queue_maxsize``; ``0`` for no limit).
        peak_depth: the deepest the queue has been since the flow started.
        workers: worker tasks of the node, busy or idle.
        busy: messages the node is handling now (in workers or ``flow.call`` callers).
        producers_waiting: producers waiting for room in the queue.
    """

    queue_depth: int
    capacity: int
    peak_depth: int
    workers: int
    busy: int
    producers_waiting: int


@dataclass(frozen=True, slots=True)
class FlowStats:
    """A flow at the moment ``flow.stats()`` was called.

    Attributes:
        state: the flow's lifecycle state.
        traces: traces in flight: with messages queued, being handled, or waiting
            for room in a queue.
        nodes: each node's queue and workers, by node name.
        rookery_depth: results waiting in Rookery to be fetched, all traces together.
        rookery_capacity: the bound on ``rookery_depth`` (``rookery_capacity``; ``0``
            for no bound).
        rookery_peak: the largest ``rookery_depth`` since the flow started.
    """

    state: FlowState
    traces: int
    nodes: Mapping[str, NodeStats]
    rookery_depth: int
    rookery_capacity: int
    rookery_peak: int
