"""The sweep views driven by scripted events: the plain (non-terminal) lines and the live frame."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from engines.standins.fake_trials import make_result, make_trials
from orchestrator.cli.live import LiveView
from orchestrator.cli.view import PlainView, SweepState, stage_text
from orchestrator.core.trial import Trial
from orchestrator.execution.events import RELEASED, InstanceEvent


def _event(
    trials: list[Trial], stage: str, point: int = 0, at: float = 0.0, **progress: object
) -> InstanceEvent:
    first = trials[0]
    return InstanceEvent(
        key=f"{first.trial_id}-0",
        label=f"{first.engine.name} tp{first.tp} {first.model.name}",
        stage=stage,
        trial_ids=tuple(t.trial_id for t in trials),
        point=point,
        current=trials[point - 1].name if point else "",
        progress=progress,
        at=at,
    )


def _script(trials: list[Trial]) -> list[InstanceEvent]:
    """One engine instance of two points, as the scheduler and the progress poll report it."""
    return [
        _event(trials, "placing", at=100.0),
        _event(trials, "starting", at=101.0),
        _event(trials, "starting", at=102.0, phase="loading model", elapsed_s=0.5),
        _event(
            trials,
            "starting",
            at=103.0,
            phase="starting engine",
            elapsed_s=0.2,
            timeout_s=600.0,
            log="INFO Loading weights took 1.2 s",
        ),
        _event(
            trials,
            "starting",
            at=104.0,
            phase="starting engine",
            elapsed_s=1.2,
            timeout_s=600.0,
            log="INFO Uvicorn running on http://127.0.0.1:8000",
        ),
        _event(trials, "running", point=1, at=105.0),
        _event(
            trials,
            "running",
            point=1,
            at=106.0,
            phase="measuring",
            elapsed_s=1.0,
            sent=12,
            total=32,
            rate=11.5,
        ),
    ]


def _plain_lines(out: io.StringIO) -> list[str]:
    return [re.sub(r"^\[\s*\S+\] ", "", ln) for ln in out.getvalue().splitlines()]


def test_plain_view_prints_one_line_per_stage_change(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1,4]")
    out = io.StringIO()
    view = PlainView(Console(file=out, width=200, force_terminal=False), progress_every_s=1e9)
    view.start(trials, {}, parallel=1)
    for event in _script(trials):
        view.instance(event)
    view.trial(trials[0], make_result(trials[0]))
    view.instance(_event(trials, "running", point=2, at=107.0))
    view.trial(trials[1], make_result(trials[1], ok=False))
    view.instance(_event(trials, "stopping", at=108.0))
    view.instance(_event(trials, RELEASED, at=109.0))
    lines = _plain_lines(out)
    key = f"vllm tp1 tiny-llama [{trials[0].trial_id}-0]"
    assert lines[0] == f"{key} placing (waiting for GPUs) 0s"
    assert lines[1] == f"{key} starting engine 0s"
    assert lines[2] == f"{key} loading model 0s"
    # a new phase prints (with the engine's last log line); more log lines of that phase do not
    assert lines[3] == f"{key} starting engine 0s/10m00s | INFO Loading weights took 1.2 s"
    assert lines[4] == f"{key} measuring point 1/2 {trials[0].name} 0s"
    assert lines[5] == f"{key} measuring point 1/2 {trials[0].name} 1s: sent 12/32, 11.5 req/s"
    assert lines[6] == f"DONE {trials[0].name} {trials[0].trial_id}"
    assert lines[7].startswith("1/2 trials · ") and lines[7].endswith("ETA 1s")
    assert lines[8] == f"{key} measuring point 2/2 {trials[1].name} 0s"
    assert lines[9] == f"FAILED(engine_crash) {trials[1].name} {trials[1].trial_id} engine died"
    assert lines[10].startswith("2/2 trials (1 failed) · ")
    assert lines[11:] == [f"{key} stopping engine", f"{key} FAILED(engine_crash) (1/2 done)"]
    assert "\x1b[" not in out.getvalue(), "plain output never redraws"


def test_plain_view_progress_is_rate_limited(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1]")
    out = io.StringIO()
    view = PlainView(Console(file=out, width=200, force_terminal=False), progress_every_s=10.0)
    view.start(trials, {}, parallel=1)
    view.instance(_event(trials, "running", point=1, at=0.0))
    for k in range(1, 30):  # a poll a second with a new count each time
        view.instance(_event(trials, "running", point=1, at=float(k), phase="measuring", elapsed_s=k, sent=k))
    sent = [ln for ln in _plain_lines(out) if "sent" in ln]
    assert [ln.rsplit("sent ", 1)[1] for ln in sent] == ["1", "11", "21"]


def test_live_view_frame_shows_each_instance_and_the_overall_bar(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1,2]", "workload.concurrency=[1,4]")
    tp1, tp2 = [t for t in trials if t.tp == 1], [t for t in trials if t.tp == 2]
    console = Console(file=io.StringIO(), width=160, force_terminal=True, record=True)
    view = LiveView(console)
    view.state.start(trials, {t.trial_id: 10.0 for t in trials}, parallel=2)  # no Live thread: render only
    for event in _script(tp2)[:5]:
        view.instance(event)
    for event in _script(tp1):
        view.instance(event)
    view.trial(tp1[0], make_result(tp1[0]))
    console.print(view.render())
    text = console.export_text()
    assert f"vllm tp2 tiny-llama [{tp2[0].trial_id}] starting engine" in text
    assert "INFO Uvicorn running on http://127.0.0.1:8000" in text  # the engine's last log line
    assert f"measuring point 1/2 {tp1[0].name}" in text and "sent 12/32, 11.5 req/s" in text
    assert f"DONE {tp1[0].name} {tp1[0].trial_id}" in text
    assert re.search(r"1/4 trials · \S+ elapsed · ETA 15s", text), text


def test_eta_from_known_durations_then_this_sweeps(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1,2,3,4]")
    state = SweepState()
    state.start(trials, {}, parallel=2)
    assert state.eta_s() is None  # nothing known yet: "ETA ?"
    state.start(trials, {trials[0].trial_id: 30.0, trials[1].trial_id: 10.0}, parallel=2)
    assert state.eta_s() == (30 + 10 + 20 + 20) / 2  # unknown trials at the known mean
    result = make_result(trials[0])
    result.started_at, result.ended_at = 1000.0, 1004.0
    state.on_trial(trials[0], result)
    assert state.eta_s() == (10 + 4 + 4) / 2  # this sweep's own durations, once it has some
    assert "ETA 9s" in state.overall()


def test_stage_text_of_a_batch_trial_and_a_restart(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1]")
    state = SweepState()
    line, _ = state.on_instance(_event(trials, "running", point=1, at=0.0, phase="running", elapsed_s=65.0,
                                       timeout_s=3600.0, log="step 3/8"))  # fmt: skip
    assert stage_text(line, now=0.0) == f"measuring point 1/1 {trials[0].name} 1m05s/1h00m"
    restart = InstanceEvent(**{**_event(trials, "starting", at=0.0).__dict__, "attempt": 1})
    line, _ = state.on_instance(restart)
    assert stage_text(line, now=3.0).endswith("(restart)")


def test_stage_text_while_waiting_for_exclusive_nodes(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1,4]")
    state = SweepState()
    state.on_instance(_event(trials, "running", point=1, at=0.0))
    line, moved = state.on_instance(_event(trials, "waiting", at=10.0))
    assert moved and stage_text(line, now=14.0) == "waiting for its nodes (ray.exclusive_nodes) 4s"
