"""The folders are the layers: every module's imports point down, never up.

runtime core <- scaleout; runtime core <- tools, memory, sessions <- planner <- server <- cli;
telemetry fills the hooks of the runtime, scaleout and planner, so it sits above them.
The test reads the source of every module (``ast``), so imports inside functions count too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package folder -> (layer name, dotted package)
PACKAGES = {
    ROOT / "penguiflow": ("core", "penguiflow"),
    ROOT / "penguiflow" / "state": ("core", "penguiflow.state"),
    ROOT / "penguiflow" / "scaleout": ("scaleout", "penguiflow.scaleout"),
    ROOT / "penguiflow" / "telemetry": ("telemetry", "penguiflow.telemetry"),
    ROOT / "tools": ("tools", "penguiflow.tools"),
    ROOT / "memory": ("memory", "penguiflow.memory"),
    ROOT / "sessions": ("sessions", "penguiflow.sessions"),
    ROOT / "planner": ("planner", "penguiflow.planner"),
    ROOT / "server": ("server", "penguiflow.server"),
    ROOT / "server" / "playground": ("server", "penguiflow.server.playground"),
    ROOT / "cli": ("cli", "penguiflow.cli"),
}

BELOW = {
    "core": set(),
    "scaleout": {"core"},
    "tools": {"core"},
    "memory": {"core"},
    "sessions": {"core"},
    "planner": {"core", "tools", "memory", "sessions"},
    "telemetry": {"core", "scaleout", "tools", "memory", "sessions", "planner"},
    "server": {"core", "scaleout", "tools", "memory", "sessions", "planner"},
    "cli": {"core", "scaleout", "tools", "memory", "sessions", "planner", "server"},
}

# Old import paths kept working after a move: each only re-exports the new module.
FORWARDERS = {
    "penguiflow.worker",
    "penguiflow.redis_queue",
    "penguiflow.redis_bus",
    "penguiflow.remote",
    "penguiflow.planner.http_app",
}

# Third-party packages that only one layer (or module) may import.
OWNED = {
    "sqlalchemy": ("sessions",),
    "alembic": ("sessions",),
    "mcp": ("tools",),
    "litellm": ("penguiflow.planner.llm",),
    "redis": ("scaleout",),
    "starlette": ("server",),
    "opentelemetry": ("telemetry",),
}

# Programs that run as their own process (not imported by the package).
PROGRAMS = {"penguiflow.cli._demo_mcp_server"}

# The one upward import allowed: the package root re-exports the agent's entry points
# (`from penguiflow import Agent, ReactPlanner, ...`) from the planner, and the documented
# `from penguiflow import RemoteNode` from the one scale-out module that defines it,
# loaded by the root's module-level `__getattr__` on first access (and named under
# `if TYPE_CHECKING:` for type checkers). The runtime itself never uses them, and
# `import penguiflow` loads neither the planner nor scale-out (test_import_stays_light
# checks it).
LAZY_REEXPORTS = {"penguiflow": ("penguiflow.planner", "penguiflow.scaleout.remote")}


def _layer_of(dotted: str) -> str | None:
    best: tuple[int, str] | None = None
    for layer, package in PACKAGES.values():
        if dotted == package or dotted.startswith(package + "."):
            if best is None or len(package) > best[0]:
                best = (len(package), layer)
    return None if best is None else best[1]


def _modules() -> Iterator[tuple[str, Path]]:
    for folder, (_, package) in PACKAGES.items():
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            yield name, path
        if folder.name == "sessions":
            for path in sorted((folder / "migrations").rglob("*.py")):
                rel = path.relative_to(folder).with_suffix("")
                yield f"{package}.{'.'.join(rel.parts)}".removesuffix(".__init__"), path


def _is_lazy(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        return node.name == "__getattr__"
    return isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"


def _imports(module: str, path: Path, *, skip_lazy: bool = False) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if skip_lazy:
        tree.body = [node for node in tree.body if not _is_lazy(node)]
    is_package = path.stem == "__init__"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


MODULES = list(_modules())


def test_every_package_folder_has_modules() -> None:
    found = {_layer_of(name) for name, _ in MODULES}
    assert found == set(BELOW)


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_down(module: str, path: Path) -> None:
    if module in FORWARDERS or module in PROGRAMS:
        return
    layer = _layer_of(module)
    assert layer is not None
    lazy = LAZY_REEXPORTS.get(module, ())
    upward = sorted(
        {
            target
            for target in _imports(module, path)
            if target.startswith("penguiflow")
            and (other := _layer_of(target)) not in (None, layer)
            and other not in BELOW[layer]
        }
    )
    if lazy:
        eager = {t for t in _imports(module, path, skip_lazy=True) if t in upward}
        assert not eager, f"{module} may import {lazy} only inside __getattr__: {sorted(eager)}"
        upward = [t for t in upward if not any(t == m or t.startswith(m + ".") for m in lazy)]
    assert not upward, f"{module} ({layer}) imports from a layer above it: {upward}"


def test_import_stays_light() -> None:
    code = (
        "import sys, penguiflow\n"
        "loaded = [m for m in ('penguiflow.planner', 'penguiflow.scaleout', 'litellm', "
        "'sqlalchemy', 'mcp', 'opentelemetry') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "from penguiflow import Agent, tool\n"
        "assert Agent.__module__ == 'penguiflow.planner.agent'\n"
        "assert 'litellm' not in sys.modules and 'sqlalchemy' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_third_party_packages_stay_in_their_layer(module: str, path: Path) -> None:
    if module in PROGRAMS or module in FORWARDERS:
        return
    layer = _layer_of(module)
    for target in _imports(module, path):
        owners = OWNED.get(target.split(".")[0])
        if owners is None:
            continue
        assert layer in owners or module in owners, (
            f"{module} imports {target}, which only {', '.join(owners)} may import"
        )


def test_forwarders_only_re_export() -> None:
    for module, path in MODULES:
        if module not in FORWARDERS:
            continue
        targets = {t for t in _imports(module, path) if t.startswith("penguiflow")}
        layers = {_layer_of(t) for t in targets}
        assert len(layers) == 1, f"{module} should forward to one module, imports {targets}"


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("penguiflow.worker", "penguiflow.scaleout.worker", "Worker"),
        ("penguiflow.redis_queue", "penguiflow.scaleout.redis_queue", "RedisJobQueue"),
        ("penguiflow.redis_bus", "penguiflow.scaleout.redis_bus", "RedisMessageBus"),
        ("penguiflow.remote", "penguiflow.scaleout.remote", "RemoteNode"),
        ("penguiflow.planner.http_app", "penguiflow.server", "create_agent_app"),
    ],
)
def test_old_import_paths_forward_with_a_deprecation_warning(old: str, new: str, name: str) -> None:
    code = f"from {old} import {name} as old\nfrom {new} import {name} as new\nassert old is new\n"
    out = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"{old} moved to {new}" in out.stderr
