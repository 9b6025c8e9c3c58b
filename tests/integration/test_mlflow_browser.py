"""The MLflow UI in a real browser: a system Chromium driven by Playwright (never downloads a browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from engines.standins.fake_trials import write_sweep
from orchestrator.tracking.sync import Uploader
from orchestrator.tracking.tracker import UI_QUERY, Tracker
from tests.integration.mlflow_rest import sweep_runs
from tests.integration.smoke import EXPERIMENT, SWEEP_ID, SmokeSweep

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def runs_table_url(tracker: Tracker) -> str:
    """The experiment's runs table (parent runs, their children nested), in MLflow's ML view."""
    return f"{tracker.uri}/#/experiments/{tracker.experiment_id}/runs{UI_QUERY}"


@contextmanager
def browser_page(chromium: str) -> Iterator[Any]:
    """A page of the system Chromium (headless, 1800×1000, 120 s timeouts); a skip when it does not start."""
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"system Chromium at {chromium} does not start: {str(exc).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            page.set_default_timeout(120_000)
            yield page
        finally:
            browser.close()


def system_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture
def chromium() -> str:
    """The system Chromium, or a skip with the reason (checked before the MLflow server starts)."""
    pytest.importorskip("playwright.sync_api", reason="python package playwright not installed")
    path = system_chromium()
    if path is None:
        pytest.skip("no system Chromium installed (apt-get install chromium); playwright's are not used")
    return path


def test_ui_lists_child_runs_and_a_metric(chromium: str, mlflow_server, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    store, trials = write_sweep(results_dir, "t-browser", ["engine.tp=[1,2]", "workload.concurrency=[1,4]"])
    warnings: list[str] = []
    up = Uploader(store, warnings.append)
    up.connect(mlflow_server.uri, "t-browser", store.sweep_meta()["config"], {"preset": "smoke"})
    for trial in trials:
        up.upload(trial.trial_id)
    up.finish(True)
    assert warnings == [] and up.tracker is not None

    with browser_page(chromium) as page:
        page.goto(runs_table_url(up.tracker))
        parent = page.locator("[role=row]", has_text="t-browser").first
        parent.wait_for()
        # Child runs are nested under the sweep's parent run: expand it, then every trial is listed.
        parent.locator("[col-id='attributes.`Run Name`'] button").first.click()
        for trial in trials:
            page.get_by_text(trial.name, exact=True).first.wait_for()
        # Add a metric column from the Columns picker and read the children's values in it.
        page.get_by_role("button", name="Columns").click()
        page.locator("[data-radix-popper-content-wrapper]").get_by_text("ttft_p50_ms", exact=True).click()
        page.keyboard.press("Escape")
        page.locator("[role=columnheader]", has_text="ttft_p50_ms").first.wait_for()
        cells = page.locator("[role=gridcell][col-id='metrics.`ttft_p50_ms`']")
        cells.nth(len(trials)).wait_for()
        values = sorted(t for t in cells.all_inner_texts() if t.strip() != "-")
        assert values == sorted(str(10 * t.point.concurrency) for t in trials)


def check_sweep_pages(page: Any, tracker: Tracker, parent: dict[str, Any], children: list[dict[str, Any]],
                      shots: Path) -> None:  # fmt: skip
    """The experiment's runs table (parent, children nested), the parent's report artifacts, a
    child's metrics: what a user clicks through after a sweep. Screenshots of each under ``shots``."""
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(runs_table_url(tracker))  # the experiment's runs table, not GenAI traces
    row = page.locator("[role=row]", has_text=parent["info"]["run_name"]).first
    row.wait_for()
    row.locator("[col-id='attributes.`Run Name`'] button").first.click()
    for child in children:
        page.get_by_text(child["info"]["run_name"], exact=True).first.wait_for()
    page.screenshot(path=str(shots / "experiment-runs.png"))

    page.goto(tracker.run_url(parent["info"]["run_id"]))
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("config.yaml", exact=True).first.wait_for()
    page.get_by_text("report", exact=True).first.click()
    for name in ("report.html", "report.md", "summary.png"):
        page.get_by_text(name, exact=True).first.wait_for()
    page.get_by_text("summary.png", exact=True).first.click()
    page.locator("img[src*='summary.png'], img[src^='blob:']").first.wait_for()
    page.screenshot(path=str(shots / "parent-artifacts.png"))

    child = children[0]
    page.goto(tracker.run_url(child["info"]["run_id"]))
    page.get_by_text(child["info"]["run_name"]).first.wait_for()
    search = page.get_by_placeholder("Search metrics")
    for metric in ("ttft_p50_ms", "output_token_throughput", "num_ok"):
        search.fill(metric)
        row = page.get_by_role("row").filter(has_text=metric).first
        row.wait_for()
        assert metric in row.inner_text()
    assert f"{child['metrics']['num_ok']:g}" in row.inner_text().split()  # the value beside its name
    search.fill("")
    page.screenshot(path=str(shots / "child-metrics.png"), full_page=True)


def test_finished_smoke_sweep_in_the_browser(chromium: str, smoke_sweep: SmokeSweep) -> None:
    assert smoke_sweep.proc.returncode == 0, smoke_sweep.proc.stdout[-3000:] + smoke_sweep.proc.stderr[-3000:]
    parent, children = sweep_runs(smoke_sweep.uri, EXPERIMENT, SWEEP_ID)
    tracker = Tracker(smoke_sweep.uri, EXPERIMENT)
    assert f"MLflow: {tracker.run_url(parent['info']['run_id'])}" in smoke_sweep.proc.stdout
    with browser_page(chromium) as page:
        check_sweep_pages(page, tracker, parent, children, smoke_sweep.results_dir / SWEEP_ID / "screenshots")
