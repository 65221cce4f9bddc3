"""The package's module graph, lazy (function-level) imports included: it has no import circle (a circle
means two modules that cannot be understood, tested or moved apart), and imports run one way between
the two rooms: ``vssl_bench.bench`` (what runs cells) may import ``vssl_bench.report`` (what turns records
into tables and the page), never the reverse; the modules both share (``vssl_bench.records``,
``vssl_bench.rerun``) import neither."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vssl_bench"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vssl_bench"):
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("vssl_bench")]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):  # a package's own parent
                    graph[name].add(target)
    return graph


def test_no_import_circle():
    graph = imports()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def imports_of(prefix: str) -> dict[str, set[str]]:
    """Each module of package ``prefix`` (or the module itself) -> what it imports from the package."""
    return {name: targets for name, targets in imports().items() if name == prefix or name.startswith(prefix + ".")}


def in_room(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def test_report_never_imports_bench():
    report = imports_of("vssl_bench.report")
    assert "vssl_bench.report.leaderboard" in report  # the rule is checked on the real modules
    wrong = {name: sorted(t for t in targets if in_room(t, "vssl_bench.bench")) for name, targets in report.items()}
    assert not any(wrong.values()), f"report imports the runner: {({k: v for k, v in wrong.items() if v})}"


def test_shared_modules_import_neither_room():
    for shared in ("vssl_bench.records", "vssl_bench.rerun"):
        targets = imports_of(shared)[shared]
        rooms = sorted(t for t in targets if in_room(t, "vssl_bench.bench") or in_room(t, "vssl_bench.report"))
        assert not rooms, f"{shared} imports {rooms}: both rooms import it, so it may import neither"
