"""Small readers the tests share, over the production API (nothing here is production code)."""

from __future__ import annotations

from orchestrator.store.results import ResultsStore


def not_uploaded(store: ResultsStore) -> list[str]:
    """The stored trials MLflow does not have yet, by their upload markers (``upload.json``)."""
    return [r["trial_id"] for r in store.all_results() if not store.upload_state(r["trial_id"])["uploaded"]]


def parse_markdown_table(text: str) -> list[list[str]]:
    """The data rows of a Markdown table (cells stripped, ``**bold**`` unwrapped)."""
    rows = []
    for raw in text.strip().splitlines():
        raw = raw.strip()
        if not raw.startswith("|") or set(raw) <= set("|-: "):
            continue
        rows.append([c.strip().strip("*") for c in raw.strip("|").split("|")])
    return rows[1:]
