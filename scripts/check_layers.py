"""The import contract of docs/architecture.md, checked on the source (run by .ci/run after mypy).

Every import of a project module (at module level, inside a function, or under TYPE_CHECKING) must
point at a lower layer, or stay inside its own unit. Units of one layer are independent: they
import nothing from each other. Also checked: no module but the entry points at the package root,
every package module at most ``MAX_LINES`` lines, and ``tests/`` and ``benchmarks/`` never import
each other. Exits 1 naming every violation.

    python scripts/check_layers.py
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "engines", "workloads")
MAX_LINES = 300

# Top to bottom. A unit is a module or package name (``*`` matches one name part).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("testing helpers", ("engines.standins",)),  # tests/ and benchmarks/ only
    (
        "cli",
        (
            "orchestrator.cli",
            "orchestrator.__main__",
            "orchestrator.sync",
            "orchestrator.ui",
            "orchestrator.report.__main__",
        ),
    ),
    ("search", ("orchestrator.search",)),
    (
        "execution · reports · planner",
        ("orchestrator.execution", "orchestrator.report", "orchestrator.planner"),
    ),
    ("tracking · sweep", ("orchestrator.tracking", "orchestrator.sweep")),
    ("engines · workloads · store", ("engines", "workloads", "orchestrator.store")),
    ("config", ("orchestrator.config",)),
    ("core", ("orchestrator.core",)),
    (
        "schema",
        (
            "orchestrator.config.schema",
            "orchestrator.config.planner",
            "orchestrator.config.search",
            "engines.catalog",
            "engines.*.config",
        ),
    ),
)
OPEN_LAYERS = {"cli", "schema"}  # their units may import each other (entry points; plain dataclasses)
ROOT_MODULES = {"orchestrator", "orchestrator.__main__", "orchestrator.sync", "orchestrator.ui"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> tuple[int, str] | None:
    """(layer index, unit) of the longest unit pattern that ``module`` is, or is inside of."""
    best: tuple[int, int, str] | None = None
    parts = module.split(".")
    for index, (_, units) in enumerate(LAYERS):
        for unit in units:
            pattern = unit.split(".")
            if len(parts) >= len(pattern) and all(
                fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False)
            ):
                concrete = ".".join(parts[: len(pattern)])
                if best is None or len(pattern) > best[0]:
                    best = (len(pattern), index, concrete)
    return None if best is None else (best[1], best[2])


def imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import; ``from a import b`` yields ``a.b`` and ``a``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def resolve(name: str, known: set[str]) -> str | None:
    """The project module ``name`` refers to (``a.b.attr`` → ``a.b``), None outside the project."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def source_files(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)


def check() -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, int, str]] = set()
    files = source_files(*PACKAGES)
    known = {module_name(p) for p in files}
    for path in files:
        module = module_name(path)
        rel = path.relative_to(ROOT)
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
        at_root = path.parent == ROOT / "orchestrator" and path.name != "__init__.py"
        if at_root and module not in ROOT_MODULES:
            problems.append(f"{rel}: a module at the package root (put it in the subpackage it belongs to)")
        mine = unit_of(module)
        if mine is None:
            if module not in ("orchestrator",):
                problems.append(f"{rel}: {module} is in no layer of scripts/check_layers.py")
            continue
        for line, name in imports(ast.parse(path.read_text(), str(path))):
            target = resolve(name, known)
            theirs = unit_of(target) if target else None
            if target is None or theirs is None or theirs[1] == mine[1]:
                continue
            if (str(rel), line, target) in seen:
                continue
            seen.add((str(rel), line, target))
            if theirs[0] == mine[0] and LAYERS[mine[0]][0] in OPEN_LAYERS:
                continue
            if theirs[0] <= mine[0]:
                how = "a higher layer" if theirs[0] < mine[0] else "another unit of its layer"
                problems.append(
                    f"{rel}:{line}: {module} ({LAYERS[mine[0]][0]}) imports {target} "
                    f"({LAYERS[theirs[0]][0]}): {how}"
                )
    seen_t: set[tuple[str, int]] = set()
    for top, other in (("tests", "benchmarks"), ("benchmarks", "tests")):
        for path in source_files(top):
            for line, name in imports(ast.parse(path.read_text(), str(path))):
                if (name == other or name.startswith(f"{other}.")) and (str(path), line) not in seen_t:
                    seen_t.add((str(path), line))
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {top}/ imports {name}")
    return problems


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    if problems:
        print(f"import contract: {len(problems)} violation(s) (layers: scripts/check_layers.py)")
        return 1
    print("import contract: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
