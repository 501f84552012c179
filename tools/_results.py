"""Normalised tool results: structured content, text, and references to binary content."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from .errors import ToolResponseError

__all__ = ["ContentRef", "ToolResult", "from_mcp", "size_error"]


class ContentRef(BaseModel):
    """An image, audio clip or resource returned by a tool.

    Content larger than the config's ``max_inline_bytes`` keeps only its metadata
    (``inline=False``), so a big blob never lands in a prompt or a store.
    """

    kind: Literal["image", "audio", "resource", "resource_link"]
    """What the content is."""
    uri: str | None = None
    """The resource URI, when there is one."""
    mime_type: str | None = None
    """The MIME type, when known."""
    size_bytes: int | None = None
    """The decoded size, when known."""
    inline: bool = False
    """Whether ``data`` or ``text`` holds the content itself."""
    data: str | None = None
    """Base64 data, for small binary content."""
    text: str | None = None
    """Text, for small text resources."""


class ToolResult(BaseModel):
    """What an external tool returned, in one shape for MCP and HTTP tools.

    Written as JSON (what the planner shows the model, stores and streams), a result
    keeps one form of its content: the structured content when there is any (an MCP
    server also sends it as text, which would say the same twice), else the text;
    references and a non-2xx HTTP status are added only when present. A result
    holding only content is written as that content itself::

        {"temperature": 21}                     # structured content
        "Sunny, 21 °C"                          # text
        {"content": "...", "refs": [...]}       # with images or resources

    In Python (``model_dump()``) every field is kept.
    """

    tool: str
    """The catalog name (``"{server}.{tool}"``)."""
    structured: Any = None
    """Structured content (MCP ``structuredContent``, or a JSON HTTP body)."""
    text: str | None = None
    """All text content joined by newlines (or a non-JSON HTTP body)."""
    refs: list[ContentRef] = Field(default_factory=list)
    """Images, audio and resources, as references."""
    status: int | None = None
    """The HTTP status, for HTTP tools."""

    @model_serializer(mode="wrap", when_used="json")
    def _one_form(self, handler: SerializerFunctionWrapHandler) -> Any:
        content = handler(self)
        main = content["structured"] if self.structured is not None else content["text"]
        extra: dict[str, Any] = {}
        if self.refs:
            extra["refs"] = [
                {k: v for k, v in ref.items() if v is not None} for ref in content["refs"]
            ]
        if self.status is not None and not 200 <= self.status < 300:
            extra["status"] = self.status
        if not extra:
            return main
        return {"content": main, **extra} if main is not None else extra


def size_error(*, tool: str, server: str, size: int, limit: int) -> ToolResponseError:
    """Return the error for a response over ``max_response_bytes``."""
    return ToolResponseError(
        f"the response is {size} bytes, over max_response_bytes={limit}; raise the limit in "
        "the tool config or ask the tool for less data",
        tool=tool,
        server=server,
    )


def _blob_ref(kind: Any, data: str, mime: str | None, uri: str | None, limit: int) -> ContentRef:
    size = len(data) * 3 // 4 - data.count("=", -2)
    inline = size <= limit
    return ContentRef(
        kind=kind,
        uri=uri,
        mime_type=mime,
        size_bytes=size,
        inline=inline,
        data=data if inline else None,
    )


def _ref(block: Any, limit: int) -> ContentRef | None:
    kind = getattr(block, "type", None)
    if kind in ("image", "audio"):
        return _blob_ref(kind, block.data, block.mime_type, None, limit)
    if kind == "resource_link":
        return ContentRef(
            kind="resource_link",
            uri=str(block.uri),
            mime_type=block.mime_type,
            size_bytes=block.size,
        )
    if kind == "resource":
        res = block.resource
        if getattr(res, "blob", None) is not None:
            return _blob_ref("resource", res.blob, res.mime_type, str(res.uri), limit)
        text = str(getattr(res, "text", ""))
        size = len(text.encode())
        inline = size <= limit
        return ContentRef(
            kind="resource",
            uri=str(res.uri),
            mime_type=res.mime_type,
            size_bytes=size,
            inline=inline,
            text=text if inline else None,
        )
    return None


def from_mcp(
    result: Any,
    *,
    tool: str,
    server: str,
    qualified: str,
    max_inline_bytes: int,
    max_response_bytes: int,
) -> ToolResult:
    """Normalise an MCP ``CallToolResult`` (not an error result).

    Raises:
        ToolResponseError: the text and inline content exceed ``max_response_bytes``.
    """
    texts: list[str] = []
    refs: list[ContentRef] = []
    total = 0
    for block in result.content:
        if getattr(block, "type", None) == "text":
            texts.append(block.text)
            total += len(block.text.encode())
            continue
        ref = _ref(block, max_inline_bytes)
        if ref is not None:
            refs.append(ref)
            if ref.inline:
                total += ref.size_bytes or 0
    if total > max_response_bytes:
        raise size_error(tool=tool, server=server, size=total, limit=max_response_bytes)
    return ToolResult(
        tool=qualified,
        structured=result.structured_content,
        text="\n".join(texts) if texts else None,
        refs=refs,
    )


def error_text(result: Any) -> str:
    """Return the text of an MCP error result (``isError``), for the error message."""
    texts = [b.text for b in result.content if getattr(b, "type", None) == "text"]
    return "\n".join(texts) or "the tool reported an error without a message"
