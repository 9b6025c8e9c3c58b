"""The report as one self-contained HTML page: its tables, notes and the PNG plots as data URIs.

It opens from MLflow's artifact view or a file browser alike: no other file, script or network
access is needed.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape

from orchestrator.report.render import Section, Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.center td, table.center th { text-align: center; }
p.note { color: #555; font-size: 0.9em; } figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
"""


def _cell(text: str) -> str:
    numeric = text.replace(".", "", 1).replace("-", "", 1).replace(" ms", "").replace(" tokens/secs", "")
    return f'<td class="num">{escape(text)}</td>' if numeric.isdigit() else f"<td>{escape(text)}</td>"


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    cls = ' class="center"' if table.align == "center" else ""
    out = [f"<h3>{escape(table.title)}</h3>"] if table.title else []
    out.append(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    if table.note:
        out.append(f'<p class="note">{escape(table.note)}</p>')
    return "\n".join(out)


def to_html(title: str, sections: Sequence[Section], pngs: Mapping[str, bytes]) -> str:
    """The page; ``pngs`` maps each figure's file name to its PNG bytes (embedded, base64)."""
    body = [f"<h1>{escape(title)}</h1>"]
    for s in sections:
        body.append(f"<h2>{escape(s.title)}</h2>")
        body += [f"<p>{escape(n)}</p>" for n in s.notes]
        body += [table_html(t) for t in s.tables]
        for name in s.figures:
            if name in pngs:
                data = base64.b64encode(pngs[name]).decode("ascii")
                body.append(f'<figure><img alt="{escape(name)}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{escape(name)}</figcaption></figure>")  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
