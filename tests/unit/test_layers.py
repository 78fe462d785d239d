"""The package layering holds: a package imports only packages below it (docs/architecture.md)."""

from __future__ import annotations

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "twinstore"
RANK = {"aio": 0, "protocol": 1, "auth": 2, "meta": 2, "blob": 2, "crypto": 2, "iam": 3, "kms": 3, "s3": 4, "logs": 4,
        "replication": 5, "audit": 5, "stacks": 6, "edge": 7, "region": 8, "cli": 9}


def _imports(path: pathlib.Path) -> set[str]:
    """Top-level twinstore packages a module imports (relative or absolute)."""
    pkg_parts = path.relative_to(SRC).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("twinstore."):
                target = node.module.split(".")[1:]
            else:
                continue
            if target:
                found.add(target[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("twinstore."):
                    found.add(alias.name.split(".")[1])
    return found


def test_packages_import_only_lower_layers() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        top = rel.parts[0].removesuffix(".py")
        if top not in RANK:
            continue
        for dep in _imports(path):
            dep = dep.removesuffix(".py")
            if dep == top or dep not in RANK:
                continue
            if RANK[dep] >= RANK[top]:
                violations.append(f"{rel} imports {dep}")
    assert not violations, violations
