"""The production components must run against real clusters without the local stack manager.

The CDC reader, the Flink jobs, the dispatcher, the backfill export, the
system of record's jobs and the workload run against external Postgres,
Kafka, Flink and AWS, so none of them may import `pipeline.stack` (or the
tools above it), directly or through another module of ours. Modules are read
with `ast`, never imported: an import that only happens inside a function
(a lazy import) counts too.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

PRODUCTION = ("pipeline.cdc", "pipeline.kafka", "pipeline.alerts", "pipeline.backfill", "pipeline.sor", "pipeline.druid",
              "pipeline.workload", "flink_jobs")
# The local stack manager, and the entry points and tools that may use it.
ABOVE_PRODUCTION = ("pipeline.stack", "pipeline.bench", "pipeline.cli", "pipeline.__main__")
# The reader publishes through pipeline.kafka, so pipeline.kafka must not depend on pipeline.cdc.
LOWER, UPPER = "pipeline.kafka", "pipeline.cdc"
# (importing module, imported module) pairs tolerated for now. Empty: keep it that way.
EXEMPT: set[tuple[str, str]] = set()


def _within(module: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(module == p or module.startswith(p + ".") for p in packages)


def module_files(root: Path, packages: tuple[str, ...] = ("pipeline", "flink_jobs")) -> dict[str, Path]:
    """Dotted module name -> file, for every module of our own packages under root."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """The modules of ours that `module` imports, with the line: `from a.b import c` is a.b.c when that is a
    module, else a.b."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                named.append((f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base, node.lineno))
    return [(name, line) for name, line in named if name in known]


def _packages(module: str) -> list[str]:
    """Importing a.b.c first runs a/__init__.py and a/b/__init__.py."""
    parts = module.split(".")
    return [".".join(parts[:depth]) for depth in range(1, len(parts))]


def import_graph(root: Path) -> dict[str, list[tuple[str, int]]]:
    files = module_files(root)
    return {module: imports_of(module, path, set(files)) for module, path in files.items()}


def direct_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        if not _within(module, PRODUCTION):
            continue
        for target, line in imported:
            if _within(target, ABOVE_PRODUCTION):
                found.append(f"{module} (line {line}) imports {target}")
            elif (_within(module, LOWER) and _within(target, UPPER) and (module, target) not in EXEMPT):
                found.append(f"{module} (line {line}) imports {target}: {LOWER} is below {UPPER}")
    return found


def transitive_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    """Each production module that reaches the stack through other modules, with the chain that does it."""
    found = []
    for start in sorted(m for m in graph if _within(m, PRODUCTION)):
        came_from: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            module = queue.popleft()
            if _within(module, ABOVE_PRODUCTION):
                chain = [module]
                while came_from[chain[-1]] is not None:
                    chain.append(came_from[chain[-1]])
                found.append(" -> ".join(reversed(chain)))
                break
            for target in [t for imported, _ in graph.get(module, []) for t in (*_packages(imported), imported)]:
                if target not in came_from:
                    came_from[target] = module
                    queue.append(target)
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph(PROJECT_ROOT)


def test_the_graph_sees_imports_of_every_kind(graph):
    """Guards the checks below against passing because the walker found nothing."""
    assert set(PRODUCTION) <= set(graph)
    assert any(t == "pipeline.kafka.admin" for t, _ in graph["flink_jobs.runner"])
    assert any(t == "pipeline.stack.supervisor" for t, _ in graph["pipeline.stack.stack"])
    # a lazy import inside a function counts
    assert any(t == "flink_jobs.windows" for t, _ in graph["flink_jobs.runner"])


def test_no_production_module_imports_the_stack(graph):
    assert direct_violations(graph) == []


def test_no_production_module_reaches_the_stack_through_others(graph):
    assert transitive_violations(graph) == []


def test_exemptions_are_still_needed(graph):
    used = {(m, t) for m, imported in graph.items() for t, _ in imported}
    assert EXEMPT <= used, f"no longer imported, remove from EXEMPT: {sorted(EXEMPT - used)}"


def test_a_violation_is_reported_with_module_line_and_chain(tmp_path):
    files = {
        "pipeline/__init__.py": "",
        "pipeline/stack/__init__.py": "",
        "pipeline/stack/layout.py": "",
        "pipeline/helpers.py": "def f():\n    from pipeline.stack import layout\n",
        "pipeline/cdc/__init__.py": "",
        "pipeline/cdc/reader.py": "import os\nfrom pipeline import helpers\n",
        "pipeline/cdc/control.py": "from ..stack.layout import X\n",
        "pipeline/kafka/__init__.py": "",
        "pipeline/kafka/producer.py": "from pipeline.cdc import reader\n",
        "flink_jobs/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert direct_violations(graph) == [
        "pipeline.cdc.control (line 1) imports pipeline.stack.layout",
        "pipeline.kafka.producer (line 1) imports pipeline.cdc.reader: pipeline.kafka is below pipeline.cdc",
    ]
    assert transitive_violations(graph) == [
        "pipeline.cdc.control -> pipeline.stack",
        "pipeline.cdc.reader -> pipeline.helpers -> pipeline.stack",
        "pipeline.kafka.producer -> pipeline.cdc.reader -> pipeline.helpers -> pipeline.stack",
    ]
