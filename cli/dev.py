"""``penguiflow dev``: serve an agent project's playground in the browser."""

from __future__ import annotations

import argparse
import secrets
import socket
import webbrowser
from pathlib import Path
from typing import Any

from rich.markup import escape

from ..errors import ConfigError
from ._common import EXIT_FAILED, EXIT_OK
from ._ui import Consoles

__all__ = ["add_parsers", "playground_url"]

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parsers(commands: Any) -> None:
    """Register ``dev``."""
    dev = commands.add_parser(
        "dev",
        help="open the agent playground in the browser",
        description="Serve the playground of an agent project: chat with streamed answers "
        "and tool cards, the trajectory of each run, the approvals inbox, runs history, "
        "tools and the flow graph. Loads PATH/agent.toml (or PATH/agent.py) and PATH/.env. "
        "Ctrl-C stops it.",
    )
    dev.add_argument(
        "--project-root",
        metavar="PATH",
        default=".",
        help="the project directory (default: the working directory)",
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    dev.add_argument("--port", type=int, default=8001, help="port (8001; 0 picks a free one)")
    dev.add_argument("--no-browser", action="store_true", help="do not open a browser")
    dev.add_argument(
        "--store", metavar="URL", help="database URL (default: the config's [store] url)"
    )
    dev.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback; anyone reaching it with the token can "
        "approve actions",
    )
    dev.set_defaults(handler=cmd_dev)


def playground_url(host: str, port: int, token: str) -> str:
    """The URL to open: the page with its access token."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
            "(0 picks a free one)"
        ) from None
    return sock


def _check_host(host: str, allow_remote: bool) -> None:
    if host not in _LOOPBACK_HOSTS and not allow_remote:
        raise ConfigError(
            f"--host {host} would expose the playground, which can approve actions, beyond "
            "this machine; keep the default 127.0.0.1, or add --allow-remote"
        )


def cmd_dev(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow dev [--project-root PATH] [--host H] [--port N] ...``."""
    try:
        import uvicorn

        from ..server.playground import (
            allowed_hosts,
            create_playground_app,
            load_dotenv,
            load_project,
        )
    except ImportError as exc:
        raise ConfigError(
            f"penguiflow dev needs the server extra ({exc.name} is missing): "
            "pip install 'penguiflow[server]'"
        ) from None
    _check_host(args.host, args.allow_remote)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0-65535, got {args.port}")
    root = Path(args.project_root).resolve()
    loaded = load_dotenv(root / ".env")
    agent = load_project(root, store_url=args.store)
    token = secrets.token_urlsafe(32)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    url = playground_url(args.host, port, token)
    app = create_playground_app(
        agent, token=token, hosts=allowed_hosts(args.host, allow_remote=args.allow_remote)
    )
    err = consoles.err
    if loaded:
        err.print(f"[dim]loaded {len(loaded)} variable(s) from {escape(str(root / '.env'))}[/]")
    err.print(f"[bold]PenguiFlow playground[/] for {escape(str(root))}")
    consoles.out.print(url, markup=False, soft_wrap=True)
    err.print("[dim]the token in the URL guards the API; Ctrl-C stops the server[/]")
    if not args.no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once its graceful shutdown is done
        pass
    finally:
        sock.close()
    if not server.started:
        consoles.error("the agent could not start; the error is above")
        return EXIT_FAILED
    err.print("[dim]playground stopped[/]")
    return EXIT_OK
