"""The package's layering, checked on its source: no import cycles, and the core never imports
the server (nor the CLI or SDK the server, nor the authority the HTTP layer)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "stepca"

FORBIDDEN = {
    "stepca.authority": ("stepca.server", "stepca.api", "stepca.cli"),
    "stepca.provisioner": ("stepca.server", "stepca.api", "stepca.cli"),
    "stepca.db": ("stepca.server", "stepca.api", "stepca.cli", "stepca.authority"),
    "stepca.crypto": ("stepca.server", "stepca.api"),
    "stepca.client": ("stepca.server", "stepca.api", "stepca.authority"),
    "stepca.cli": ("stepca.server",),
    "stepca.acme": ("stepca.server", "stepca.api", "stepca.cli"),
    "stepca.revocation": ("stepca.server", "stepca.api", "stepca.cli", "stepca.authority"),
    "stepca.metrics": ("stepca.server", "stepca.api", "stepca.cli", "stepca.authority"),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(every stepca import anywhere in the file, the module-level runtime ones)."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    every: set[str] = set()
    top: set[str] = set()

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            return [base] + [f"{base}.{a.name}" for a in node.names]
        return []

    for node in ast.walk(tree):
        every.update(t for t in targets(node) if t.startswith("stepca"))
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        top.update(t for t in targets(node) if t.startswith("stepca"))
    return every, top


def known(modules: set[str], name: str) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_layering_and_no_cycles() -> None:
    files = sorted(PKG.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph: dict[str, set[str]] = {}
    violations = []
    for f in files:
        name = module_name(f)
        every, top = imports(f)
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                violations += [f"{name} imports {t}" for t in every if t.startswith(banned)]
        graph[name] = {m for t in top if (m := known(modules, t)) and m != name}
    assert not violations, violations

    # cycles among module-level runtime imports (a package's __init__ importing its own
    # submodules is not a cycle with them)
    def edges(n: str) -> set[str]:
        return {m for m in graph[n] if not (n + ".").startswith(m + ".") and not m.startswith(n + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in edges(n):
            if state.get(m) == 1:
                cycles.append([*stack[stack.index(m) :], m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, cycles
