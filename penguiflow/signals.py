"""``FlowSignal``: control flow that a node raises and the runtime passes on untouched."""

from __future__ import annotations

__all__ = ["FlowSignal"]


class FlowSignal(BaseException):
    """Raised by a node to end its trace with a control-flow outcome (e.g. a pause).

    It derives from ``BaseException`` so that a tool's ``except Exception`` cannot swallow
    it. The runtime never retries it: the trace ends and ``fetch`` raises the signal.
    """
