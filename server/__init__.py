"""The HTTP surface of an agent: an ASGI app that runs, streams and resumes planner runs.

Needs the ``server`` extra (``pip install 'penguiflow[server]'``) for Starlette::

    from penguiflow.server import create_agent_app

    app = create_agent_app(make_planner)
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "penguiflow.server needs Starlette: install the server extra with "
        "`pip install 'penguiflow[server]'`"
    ) from exc

from .app import PlannerFactory, TenantResolver, ToolContextFactory, create_agent_app, header_tenant

__all__ = [
    "PlannerFactory",
    "TenantResolver",
    "ToolContextFactory",
    "create_agent_app",
    "header_tenant",
]
