"""Report building blocks: tables and figures in sections, rendered to Markdown, PNG and rich."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable


@dataclass
class Table:
    """A table of strings; ``align`` per column: ``left`` (``---``) or ``center`` (``:---:``)."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    align: str = "left"
    note: str = ""  # a line printed under the table


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # file name → matplotlib Figure
    notes: list[str] = field(default_factory=list)


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    """``65.65 ms`` style; ``-`` for a missing or undefined value (never 0)."""
    if value is None or not isinstance(value, int | float) or math.isnan(float(value)):
        return "-"
    text = f"{float(value):.{digits}f}"
    return f"{text} {unit}" if unit else text


def markdown_table(table: Table) -> str:
    """A padded Markdown table, as the seeds print them."""
    widths = [len(h) for h in table.headers]
    for row in table.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        if table.align == "center":
            return "| " + " | ".join(_center(c, w) for c, w in zip(cells, widths, strict=True)) + " |"
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join((":" + "-" * w + ":") if table.align == "center" else "-" * (w + 2)
                          for w in widths) + "|"  # fmt: skip
    return "\n".join([line(table.headers), rule, *(line(r) for r in table.rows)])


def _center(text: str, width: int) -> str:
    """Centred with the odd space on the right, as the seeds' tables are."""
    pad = width - len(text)
    return " " * (pad // 2) + text + " " * (pad - pad // 2)


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for n in s.notes:  # one paragraph each
            out += [n, ""]
        for t in s.tables:
            out += ([f"### {t.title}", ""] if t.title else []) + [markdown_table(t), ""]
            out += [t.note, ""] if t.note else []
        for name in s.figures:
            out += [f"![{name}](./{name})", ""]
    return "\n".join(out)


def print_sections(console: Console, sections: list[Section]) -> None:
    for s in sections:
        console.rule(s.title)
        for n in s.notes:
            console.print(n, highlight=False, markup=False)
        for t in s.tables:
            rt = RichTable(title=t.title or None)
            for h in t.headers:
                rt.add_column(h, justify="center" if t.align == "center" else "left")
            for row in t.rows:
                rt.add_row(*row)
            console.print(rt)
            if t.note:
                console.print(t.note, highlight=False, markup=False)


def write_report(report_dir: Path, title: str, sections: list[Section]) -> list[Path]:
    """``report.md``, every figure as PNG and ``report.html`` (one self-contained page: tables and
    the plots embedded) under ``report_dir``; returns the files written, ``report.md`` first."""
    from orchestrator.report.html import to_html

    report_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for s in sections:
        for name, figure in s.figures.items():
            path = report_dir / name
            figure.savefig(path, dpi=110, bbox_inches="tight")
            files.append(path)
    md = report_dir / "report.md"
    md.write_text(to_markdown(title, sections))
    page = report_dir / "report.html"
    page.write_text(to_html(title, sections, {f.name: f.read_bytes() for f in files}))
    return [md, *files, page]


def log2_axis(ax: Any, values: Any, label: str) -> None:
    """A base-2 log x axis ticked at exactly ``values`` (batch sizes, lengths)."""
    ticks = sorted({int(v) for v in values}) or [1]
    ax.set_xscale("log", base=2)
    ax.minorticks_off()
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel(label)


def new_figure(ncols: int = 1) -> tuple[Any, Any]:
    """A matplotlib figure on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * ncols, 4.2))
    axes = fig.subplots(1, ncols)
    return fig, axes
