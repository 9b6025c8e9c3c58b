"""The MLflow UI in a real browser: a system Chromium driven by Playwright (never downloads a browser)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engines.standins.fake_trials import write_sweep
from orchestrator.tracking.sync import Uploader

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


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
    from playwright import sync_api

    store, trials = write_sweep(results_dir, "t-browser", ["engine.tp=[1,2]", "workload.concurrency=[1,4]"])
    warnings: list[str] = []
    up = Uploader(store, warnings.append)
    up.connect(mlflow_server.uri, "t-browser", store.sweep_meta()["config"], {"preset": "smoke"})
    for trial in trials:
        up.upload(trial.trial_id)
    up.finish(True)
    assert warnings == [] and up.tracker is not None

    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"system Chromium at {chromium} does not start: {str(exc).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(up.tracker.experiment_url() + "/runs")
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
        finally:
            browser.close()
