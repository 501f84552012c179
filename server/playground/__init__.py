"""The agent playground in the browser: ``penguiflow dev``.

A page served next to the agent: chat with streamed answers and live tool cards, the
trajectory of each run drawn on a time axis, an inbox of pauses waiting for a human,
runs history, the tool catalog and the runtime flow graph; plus the agent in the AG-UI
protocol. See ``docs/playground.md``::

    from penguiflow.server.playground import create_playground_app

    app = create_playground_app(agent, token=secrets.token_urlsafe(32))
"""

from __future__ import annotations

from ...tools._masking import SecretMasker
from ._project import ServedAgent, load_dotenv, load_project
from .app import STATIC_DIR, allowed_hosts, create_playground_app

__all__ = [
    "STATIC_DIR",
    "SecretMasker",
    "ServedAgent",
    "allowed_hosts",
    "create_playground_app",
    "load_dotenv",
    "load_project",
]
