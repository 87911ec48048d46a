"""The library's shape: every module imports on its own, etl never reaches Prefect or flows, no cycles.

``etl`` is the Prefect-free library (flows/ wraps it), so a worker process, a
benchmark or a test can import any part of it without a Prefect install or the
CLI. Import cycles only work while modules happen to be imported in a lucky
order; they surface as ``ImportError: cannot import name`` when an entry point
changes, so they are refused here rather than found by a user.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ETL = ROOT / "etl"
# Alembic's env.py and revision files run only inside Alembic (their names are not importable).
NOT_IMPORTABLE_ALONE = ("etl.warehouse.migrations.",)
FORBIDDEN = ("flows", "prefect")
# Imports each module in a forked child of an interpreter that has imported nothing of
# etl, so every module is checked in isolation without paying an interpreter start each.
# The parent first imports the third-party libraries etl uses (never etl, flows or Prefect),
# so the children do not each load SQLAlchemy and NumPy again.
ISOLATED_IMPORTS = r"""
import importlib, json, os, sys, traceback
names, libraries = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for library in libraries:
    try:
        importlib.import_module(library)
    except Exception:
        pass  # an optional library: the child that needs it reports the failure
failures = {}
for name in names:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("flows", "prefect"))
            message = f"importing it loaded {', '.join(leaked[:5])}" if leaked else ""
        except BaseException:
            message = traceback.format_exc(limit=3)
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        message = fh.read().decode()
    os.waitpid(pid, 0)
    if message:
        failures[name] = message
print(json.dumps(failures))
"""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ETL.rglob("*.py"))}


def imported_names(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module name ``path`` imports anywhere (top level, functions, TYPE_CHECKING), with its line.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (c may be a module); relative
    imports are resolved; ``importlib.import_module("x")`` with a literal counts too.
    """
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - node.level + 1]
                base = ".".join([*prefix, base] if base else prefix)
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


def etl_graph() -> dict[str, set[str]]:
    """Module -> the etl modules it imports; a module's own parent packages are left out
    (Python initialises them first whatever the module imports)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        edges = set()
        for target, _ in imported_names(name, path):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and target not in ancestors:
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


@pytest.mark.skipif(not hasattr(os, "fork"), reason="imports each module in a forked child")
def test_every_etl_module_imports_on_its_own_without_prefect_or_flows():
    names = [n for n in MODULES if not n.startswith(NOT_IMPORTABLE_ALONE)]
    assert len(names) > 50  # the walk found the package, not an empty folder
    libraries = sorted(
        {
            target.split(".")[0]
            for name in names
            for target, _ in imported_names(name, MODULES[name])
            if target.split(".")[0] not in {"etl", *FORBIDDEN}
            and target.split(".")[0] not in sys.builtin_module_names
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED_IMPORTS, json.dumps(names), json.dumps(libraries)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert failures == {}


def test_etl_never_imports_flows_or_prefect():
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in MODULES.items()
        for target, line in imported_names(name, path)
        if target.split(".")[0] in FORBIDDEN
    ]
    assert offending == []


def test_the_etl_import_graph_has_no_cycles():
    graph = etl_graph()
    assert graph["etl.pipeline"] >= {
        "etl.batches",
        "etl.readers",
        "etl.warehouse.load",
    }  # the parse sees imports
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
