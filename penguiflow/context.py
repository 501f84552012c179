"""``Context``: what a node can do while it handles one message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .types import Message, StreamChunk, chunk_envelope

if TYPE_CHECKING:
    from ._runner import NodeRunner
    from .flow import PenguiFlow
    from .node import Node
    from .playbook import Playbook

__all__ = ["Context"]


class Context:
    """Passed as ``ctx`` to every node call.

    A context belongs to one message: its trace, its node and its flow.
    """

    __slots__ = ("_key", "_message", "_runner")

    def __init__(self, runner: NodeRunner, key: str | None, message: Any) -> None:
        self._runner = runner
        self._key = key
        self._message = message

    @property
    def node(self) -> Node:
        """The node being run."""
        return self._runner.node

    @property
    def owner(self) -> Node:
        """The node being run (the same as :attr:`node`)."""
        return self._runner.node

    @property
    def flow(self) -> PenguiFlow:
        """The flow running the node."""
        return self._runner.engine.flow

    @property
    def runtime(self) -> PenguiFlow:
        """The flow running the node (the same as :attr:`flow`)."""
        return self._runner.engine.flow

    @property
    def trace_id(self) -> str | None:
        """The trace of the current message (``None`` for payload-only messages)."""
        return self._key

    @property
    def message(self) -> Any:
        """The message being handled."""
        return self._message

    @property
    def meta(self) -> Mapping[str, Any]:
        """The current message's ``meta`` (empty for payload-only messages)."""
        msg = self._message
        return msg.meta if isinstance(msg, Message) else {}

    async def emit(self, msg: Any, to: Node | str | Sequence[Node | str] | None = None) -> None:
        """Send ``msg`` to successors (all of them, or ``to``), waiting for queue room.

        A node without successors sends to Rookery (the flow's egress).

        Raises:
            UnknownTargetError: ``to`` names a node that is not a successor.
        """
        await self._runner.emit(self._key_of(msg), msg, to)

    def emit_nowait(self, msg: Any, to: Node | str | Sequence[Node | str] | None = None) -> None:
        """Like :meth:`emit` but raise ``QueueFullError`` instead of waiting."""
        self._runner.emit_nowait(self._key_of(msg), msg, to)

    async def emit_chunk(
        self,
        *,
        parent: Message,
        text: str,
        stream_id: str | None = None,
        seq: int | None = None,
        done: bool = False,
        meta: Mapping[str, Any] | None = None,
        to: Node | str | Sequence[Node | str] | None = None,
    ) -> StreamChunk:
        """Stream a piece of text, numbered per stream, inheriting ``parent``'s routing.

        Args:
            parent: the envelope the chunk answers; its headers and trace are reused.
            text: the chunk's text.
            stream_id: defaults to ``parent.trace_id``.
            seq: an explicit position; by default the stream's next number.
            done: ``True`` on the last chunk.
            meta: metadata for the chunk.
            to: successors to send to (default: all, or Rookery for an egress node).

        Returns:
            The chunk that was sent.
        """
        if not isinstance(parent, Message):
            raise ConfigError(
                "emit_chunk(parent=...) needs the Message envelope being answered; "
                f"got {type(parent).__name__}. Streaming requires envelope-style messages."
            )
        sid = stream_id or parent.trace_id
        number = self._runner.engine.next_stream_seq(parent.trace_id, sid, done, seq)
        chunk = StreamChunk(stream_id=sid, seq=number, text=text, done=done, meta=dict(meta or {}))
        await self.emit(chunk_envelope(parent, chunk), to=to)
        return chunk

    async def fetch(self) -> Any:
        """Wait for the next message of the current trace queued for this node."""
        return await self._runner.fetch_lane(self._key)

    async def call_playbook(
        self, playbook: Playbook, parent_msg: Message, timeout: float | None = None
    ) -> Any:
        """Run a subflow for ``parent_msg`` and return its result.

        See :func:`penguiflow.call_playbook`.
        """
        from .playbook import call_playbook

        return await call_playbook(playbook, parent_msg, timeout=timeout)

    def _key_of(self, msg: Any) -> str | None:
        return msg.trace_id if isinstance(msg, Message) else self._key
