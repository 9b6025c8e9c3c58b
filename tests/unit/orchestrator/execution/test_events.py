"""Instance events: the scheduler's stage changes as the live view gets them; the runner's progress."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engines.standins.fake_trials import make_trials
from orchestrator.config.schema import ExperimentConfig, RayConfig, StatsConfig
from orchestrator.execution.events import RELEASED, InstanceEvent, InstanceWatch
from orchestrator.execution.instance import Instance, Stage, instances_at_once, plan_instances
from orchestrator.execution.progress import Progress, SendCounter, last_line, sent_total
from orchestrator.sweep.placement import NodeSpec, plan_for
from orchestrator.sweep.repeats import with_repeats


def test_each_stage_change_is_one_event_in_order(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[2]", "workload.concurrency=[1,4]")
    events: list[InstanceEvent] = []
    watch = InstanceWatch(events.append, interval_s=60)
    inst = Instance(trials, plan_for(2, 1, [NodeSpec(4, 8)]), queue=list(trials), watch=watch)
    assert events == [], "creating an instance (queued) says nothing"
    # what the scheduler does to it, in order (_place, _start_actor, _advance, _next_point, _release)
    inst.submitted_at = 1.0
    inst.placed_at = 2.0  # not watched
    inst.stage = Stage.STARTING
    inst.stage = Stage.RUNNING  # transient: the first point follows at once
    inst.current = inst.queue.pop(0)
    inst.current = inst.queue.pop(0)
    inst.current = None  # transient
    inst.stage = Stage.STOPPING
    inst.stage = Stage.STOPPING  # no change: no event
    inst.released_at = 9.0
    watch.close()
    assert [(e.stage, e.point, e.current) for e in events] == [
        ("placing", 0, ""),
        ("starting", 0, ""),
        ("running", 1, trials[0].name),
        ("running", 2, trials[1].name),
        ("stopping", 0, ""),
        (RELEASED, 0, ""),
    ]
    first = events[0]
    assert first.key == f"{trials[0].trial_id}-0" and first.label == "vllm tp2 tiny-llama"
    assert first.trial_ids == (trials[0].trial_id, trials[1].trial_id)


def running_first_point(tmp_path: Path) -> tuple[Instance, InstanceWatch, list[InstanceEvent]]:
    """An instance of two points that started its engine and runs the first, with its events."""
    trials = make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1,4]")
    events: list[InstanceEvent] = []
    watch = InstanceWatch(events.append, interval_s=60)
    inst = Instance(trials, plan_for(1, 1, [NodeSpec(4, 8)]), queue=list(trials), watch=watch)
    inst.stage = Stage.STARTING
    inst.stage = Stage.RUNNING
    inst.current = inst.queue.pop(0)
    return inst, watch, events


def test_a_restart_is_a_new_attempt_on_the_same_line(tmp_path: Path) -> None:
    inst, watch, events = running_first_point(tmp_path)
    # _fresh_engine: the engine died in point 1; point 2 runs on a new engine
    inst.attempt += 1
    inst.current = None
    inst.stage = Stage.STARTING
    watch.close()
    assert [(e.stage, e.attempt) for e in events][-1] == ("starting", 1)


def test_waiting_for_exclusive_nodes_is_an_event(tmp_path: Path) -> None:
    inst, watch, events = running_first_point(tmp_path)
    # Scheduler._next_point with ray.exclusive_nodes while another window is open on its node
    inst.current = None
    inst.stage = Stage.WAITING
    inst.stage, inst.current = Stage.RUNNING, inst.queue.pop(0)  # _wake: the node is free again
    watch.close()
    assert [(e.stage, e.point) for e in events] == [
        ("starting", 0),
        ("running", 1),
        ("waiting", 0),
        ("running", 2),
    ]


def test_every_cold_repeat_round_is_a_watched_line_of_its_own(tmp_path: Path) -> None:
    trials = with_repeats(make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[1,4]"), 2, seed=0)
    events: list[InstanceEvent] = []
    watch = InstanceWatch(events.append, interval_s=60)
    cfg = ExperimentConfig(stats=StatsConfig(restart="cold"))
    rounds = plan_instances(trials, cfg, [NodeSpec(4, 8)], {}, watch)
    assert len(rounds) == 2 and all(i.watch is watch for i in rounds)
    for inst in rounds:
        inst.submitted_at = 1.0
        inst.stage = Stage.STARTING
        inst.stage = Stage.RUNNING
        inst.current = inst.queue.pop(0)
    watch.close()
    running = [e for e in events if e.stage == "running"]
    assert len({e.key for e in events}) == 2 and len(running) == 2
    assert {e.current.rsplit("-", 1)[1] for e in running} == {"r0", "r1"}  # each round its repeats
    assert all(len(e.trial_ids) == 2 for e in running)
    (warm,) = plan_instances(trials, ExperimentConfig(), [NodeSpec(4, 8)], {}, watch)
    assert warm.watch is watch and len(warm.trials) == 4


def test_instances_at_once_counts_engine_instances_not_trials(tmp_path: Path) -> None:
    trials = make_trials(tmp_path, "engine.tp=[1,2]", "workload.concurrency=[1,4]")  # 2 instances
    cfg = ExperimentConfig()
    assert instances_at_once(trials, cfg, [NodeSpec(4, 8)]) == 2
    assert instances_at_once(trials, cfg, [NodeSpec(2, 8)]) == 1  # TP 2 + TP 1 need 3 GPUs
    capped = ExperimentConfig(ray=RayConfig(max_concurrent_engines=1))
    assert instances_at_once(trials, capped, [NodeSpec(4, 8)]) == 1


def test_send_counter_counts_reads_and_passes_the_signal_on() -> None:
    inner = threading.Event()
    sends = SendCounter(inner)
    assert [sends.is_set() for _ in range(3)] == [False, False, False]
    inner.set()
    assert sends.is_set() and sends.reads == 4


def test_progress_snapshot(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    log.write_text("INFO a\nINFO Loading model weights\n\n")
    progress = Progress()
    assert progress.snapshot()["phase"] == ""
    progress.enter("starting engine", 600.0, log)
    snap = progress.snapshot()
    assert snap["phase"] == "starting engine" and snap["timeout_s"] == 600.0
    assert snap["log"] == "INFO Loading model weights" and snap["elapsed_s"] >= 0
    sends = SendCounter(threading.Event())
    progress.enter("measuring", total=4, sends=sends)
    for _ in range(6):
        sends.is_set()  # the last read of each worker sends nothing: capped at the total
    time.sleep(0.25)
    snap = progress.snapshot()
    assert snap["sent"] == 4 and snap["total"] == 4 and snap["rate"] > 0 and "log" not in snap


def test_last_line_and_sent_total(tmp_path: Path) -> None:
    assert last_line(tmp_path / "missing.log") == "" and last_line(None) == ""
    (tmp_path / "long.log").write_text("x" * 10_000 + "\nend " + "y" * 500)
    assert last_line(tmp_path / "long.log") == ("end " + "y" * 500)[:160]
    trial = make_trials(tmp_path, "workload.concurrency=[4]", "workload.num_requests=20")[0]
    assert sent_total(trial.point) == 20
