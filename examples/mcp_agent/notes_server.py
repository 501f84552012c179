"""The example's MCP server: a small notes library, over stdio.

Run by ``agent.py`` as a subprocess (``python notes_server.py``); any MCP client can use it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)

NOTES = {
    "penguins": "Emperor penguins huddle in groups of thousands to survive -40 °C winters.",
    "krill": "Antarctic krill is the main food of many penguin species.",
    "ice": "Sea ice covers about 18 million km² of the Southern Ocean each September.",
}

server = MCPServer("notes", log_level="WARNING")


@server.tool(description="List the titles of all notes.", annotations=READ_ONLY)
def list_notes() -> list[str]:
    return sorted(NOTES)


@server.tool(description="Read one note by its title.", annotations=READ_ONLY)
def read_note(title: str) -> str:
    text = NOTES.get(title.strip().lower())
    if text is None:
        raise ToolError(f"no note titled {title!r}; call list_notes first")
    return text


@server.tool(description="Delete a note (not allowed for the agent).")
def delete_note(title: str) -> str:
    NOTES.pop(title, None)
    return "deleted"


if __name__ == "__main__":
    server.run("stdio")
