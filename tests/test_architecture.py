"""The dependency rules of docs/architecture.md, read from the source: who may import whom, and no import circles.

Every import counts, at module level or inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "ocrtrain"

ENTRYPOINTS = {
    "ocrtrain.train",
    "ocrtrain.eval",
    "ocrtrain.export",
    "ocrtrain.infer",
    "ocrtrain.serve",
    "ocrtrain.data.__main__",
    "ocrtrain.from_paddleocr",
}

# (importer prefix, forbidden prefixes, why)
RULES = [
    (
        "ocrtrain.models",
        ["ocrtrain.engine", "ocrtrain.tracking", "ocrtrain.mlflow_registry", "ocrtrain.pipeline"],
        "models are pure network code: no training loop, no tracking, no inference pipeline",
    ),
    (
        "ocrtrain.pipeline",
        [
            "ocrtrain.engine",
            "ocrtrain.losses",
            "ocrtrain.tracking",
            "ocrtrain.mlflow_registry",
            "ocrtrain.data.det_transforms",
            "ocrtrain.data.det_dataset",
            "ocrtrain.data.rec_dataset",
        ],
        "inference must not pull in training, losses, augmentation or MLflow",
    ),
    (
        "ocrtrain.service",
        [
            "ocrtrain.engine",
            "ocrtrain.losses",
            "ocrtrain.tracking",
            "ocrtrain.data.det_dataset",
            "ocrtrain.data.rec_dataset",
        ],
        "the HTTP service serves the inference pipeline only",
    ),
    (
        "ocrtrain.postprocess",
        ["ocrtrain.models", "ocrtrain.engine"],
        "post-processing works on arrays, for training-time eval and inference alike",
    ),
    (
        "ocrtrain.metrics",
        ["ocrtrain.models", "ocrtrain.engine"],
        "metrics work on predictions and labels, independent of the model and loop",
    ),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The ocrtrain module (or package) an imported dotted name refers to."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            resolved = _resolve(target) if target.startswith("ocrtrain") else None
            if resolved and resolved != module:
                found.add(resolved)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("importer, forbidden, why", RULES, ids=[r[0] for r in RULES])
def test_dependency_rule(importer: str, forbidden: list[str], why: str) -> None:
    broken = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _within(module, importer)
        for target in targets
        if any(_within(target, f) for f in forbidden)
    )
    assert not broken, f"{why}:\n" + "\n".join(broken)


def test_nothing_imports_an_entrypoint() -> None:
    broken = sorted(
        f"{module} imports {target}" for module, targets in GRAPH.items() for target in targets & ENTRYPOINTS
    )
    assert not broken, (
        "entrypoints are thin command-line wrappers; import the library instead:\n" + "\n".join(broken)
    )


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return components


def test_no_import_circles() -> None:
    cycles = _cycles()
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_real_imports() -> None:
    """Guards the rules above against passing vacuously: known edges of the package are found."""
    assert "ocrtrain.components" in GRAPH
    assert any(_within(t, "ocrtrain.models") for t in GRAPH["ocrtrain.tasks.det"])
    assert any(_within(t, "ocrtrain.engine") for t in GRAPH["ocrtrain.train"])
