"""The documentation stays short where it must and true to the repository it describes.

README.md is at most 200 lines; every relative link in README.md and docs/*.md points at an
existing file (and, with ``#anchor``, at an existing heading of it); the README's presets table
lists exactly the presets in conf/exp/; and every config-group option the docs name
(``+exp=smoke``, ``workload=poisson``, ``engine=tgi``, ...) exists in conf/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 200
GROUPS = ("exp", "engine", "model", "workload", "resources", "tracking", "search")

FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# `+exp=smoke`, `workload=poisson`, `engine=tgi` (not `engine.tp=`, `engines=`, `engine=<name>`)
OPTION = re.compile(r"(?<![\w.+-])\+{0,2}(" + "|".join(GROUPS) + r")=([A-Za-z_]\w*)")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(FENCE.sub("", page.read_text()))}


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text())) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def test_docs_pages_exist() -> None:
    names = {p.name for p in DOCS}
    for page in ("architecture", "scheduling", "workloads", "metrics", "engines", "tracking",
                 "benchmarks", "planner", "reports", "search"):  # fmt: skip
        assert f"{page}.md" in names


def test_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.name}: {broken}"


def readme_presets() -> list[str]:
    """The backticked names in the first column of the README table headed ``| preset |``."""
    names: list[str] = []
    in_table = False
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            in_table = False
        elif cells[0] == "preset":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            names += re.findall(r"`([^`]+)`", cells[0])
    return names


def test_presets_table_lists_every_preset() -> None:
    presets = sorted(p.stem for p in (ROOT / "conf" / "exp").glob("*.yaml"))
    listed = readme_presets()
    assert presets, "no presets in conf/exp/"
    assert sorted(set(listed)) == presets, f"README presets table {sorted(set(listed))}, conf/exp/ {presets}"
    assert len(listed) == len(set(listed)), f"a preset is listed twice: {listed}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_config_options_exist(page: Path) -> None:
    missing = sorted(
        {
            f"{group}={name}"
            for group, name in OPTION.findall(page.read_text())
            if not (ROOT / "conf" / group / f"{name}.yaml").is_file()
        }
    )
    assert not missing, f"{page.name} names options that conf/ does not have: {missing}"


def test_option_pattern() -> None:
    text = "+exp=smoke engine=tgi workload.rate=[1] engines=[vllm] engine=<name> ++model=tiny x_engine=a"
    assert OPTION.findall(text) == [("exp", "smoke"), ("engine", "tgi"), ("model", "tiny")]
    assert slug("The input × output grid (seeds 003 and 004)") == "the-input--output-grid-seeds-003-and-004"
    assert slug("`vllm bench serve`") == "vllm-bench-serve"
    assert slug("The planner's run") == "the-planners-run"
