"""The user's view of a running sweep: what the CLI shows while the scheduler works.

:class:`SweepView` is the sink protocol the CLI owns; execution only calls its ``instance`` method
(``orchestrator.execution.events.InstanceWatch``) with :class:`InstanceEvent` s. Two views:
:class:`PlainView` (stdout is not a terminal: CI, ``kubectl logs``, a RayJob) prints one line per
stage change and per finished trial and never redraws; ``orchestrator.cli.live.LiveView`` (a
terminal) redraws one line per engine instance and an overall bar. Both read :class:`SweepState`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import flags_text
from orchestrator.execution.events import RELEASED, InstanceEvent

PLAIN_PROGRESS_EVERY_S = 10.0  # plain output: a progress line per instance at most this often


class SweepView(Protocol):
    def start(self, trials: Sequence[Trial], estimates: Mapping[str, float], parallel: int) -> None: ...
    def instance(self, event: InstanceEvent) -> None: ...  # from the scheduler's (and a poll) thread
    def trial(self, trial: Trial, result: TrialResult) -> None: ...
    def note(self, text: str) -> None: ...  # rich markup
    def stop(self) -> None: ...


@dataclass
class Line:
    """One engine instance as shown: its last event and how its trials ended."""

    event: InstanceEvent
    stage_at: float  # when the stage (or point) last changed
    outcomes: dict[str, str] = field(default_factory=dict)  # trial id → status text


def status_text(result: TrialResult) -> str:
    if result.status == Status.DONE:
        return "DONE*" if result.flags else "DONE"
    return f"FAILED({result.reason})" if result.reason else str(result.status)


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class SweepState:
    """The trials and instances of the running sweep, and the ETA from known durations."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.time()
        self.trials: dict[str, Trial] = {}
        self.estimates: dict[str, float] = {}
        self.parallel = 1
        self.results: dict[str, str] = {}  # trial id → status text
        self.took: dict[str, float] = {}  # trial id → seconds it ran
        self.lines: dict[str, Line] = {}

    def start(self, trials: Sequence[Trial], estimates: Mapping[str, float], parallel: int) -> None:
        self.started = time.time()
        self.trials = {t.trial_id: t for t in trials}  # a search's rounds: each round its own
        self.results = {k: v for k, v in self.results.items() if k in self.trials}
        self.estimates = {k: v for k, v in estimates.items() if k in self.trials}
        self.parallel = max(1, parallel)

    def on_instance(self, event: InstanceEvent) -> tuple[Line, bool]:
        """The instance's line, and whether its stage or point changed (not only its progress)."""
        line = self.lines.get(event.key)
        if line is None:
            line = self.lines[event.key] = Line(event, event.at)
            return line, True
        moved = (line.event.stage, line.event.point) != (event.stage, event.point)
        line.event = event
        if moved:
            line.stage_at = event.at
        return line, moved

    def on_trial(self, trial: Trial, result: TrialResult) -> str:
        text = status_text(result)
        self.results[trial.trial_id] = text
        if result.ended_at and result.started_at:
            self.took[trial.trial_id] = max(0.0, result.ended_at - result.started_at)
        for line in self.lines.values():
            if trial.trial_id in line.event.trial_ids:
                line.outcomes[trial.trial_id] = text
        return text

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> int:
        return sum(not r.startswith("DONE") for r in self.results.values())

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left: the remaining trials' known (else this sweep's mean) durations, shared
        by the engines that run at once. None while nothing is known."""
        left = [t for t in self.trials if t not in self.results]
        if not left:
            return 0.0
        known = list(self.took.values()) or list(self.estimates.values())
        if not known:
            return None
        mean = sum(known) / len(known)
        work = sum(self.estimates.get(t, mean) for t in left)
        return work / min(self.parallel, len(left))

    def overall(self) -> str:
        """``3/8 trials (1 failed) · 1m02s elapsed · ETA 2m10s``."""
        failed = f" ({self.failed} failed)" if self.failed else ""
        eta = self.eta_s()
        eta_text = "ETA ?" if eta is None else f"ETA {duration(eta)}"
        elapsed = duration(time.time() - self.started)
        return f"{self.done}/{len(self.trials)} trials{failed} · {elapsed} elapsed · {eta_text}"


def stage_text(line: Line, now: float | None = None) -> str:
    """What one instance is doing: ``starting engine 12s/600s``, ``measuring 2/4 c4-in64-out32:
    sent 12/32, 3.1 req/s``, ``waiting for its nodes``, ``DONE 4/4`` ... (plain text; the views add
    colour)."""
    e = line.event
    now = time.time() if now is None else now
    p = e.progress
    elapsed = float(p["elapsed_s"]) + (now - e.at) if "elapsed_s" in p else now - line.stage_at
    if e.stage == RELEASED:
        return released_text(line)
    if e.stage == "placing":
        return f"placing (waiting for GPUs) {duration(now - line.stage_at)}"
    if e.stage == "stopping":
        return "stopping engine"
    if e.stage == "waiting":
        return f"waiting for its nodes (ray.exclusive_nodes) {duration(now - line.stage_at)}"
    if e.stage == "starting":
        phase = p.get("phase") or "starting engine"
        text = f"{phase} {duration(elapsed)}"
        if p.get("timeout_s"):
            text += f"/{duration(float(p['timeout_s']))}"
        return text + (" (restart)" if e.attempt and not e.point else "")
    n = len(e.trial_ids)
    text = f"measuring point {e.point}/{n} {e.current} {duration(elapsed)}"
    if p.get("timeout_s") and p.get("phase") == "running":
        text += f"/{duration(float(p['timeout_s']))}"
    if "sent" in p:
        text += f": sent {p['sent']}" + (f"/{p['total']}" if "total" in p else "")
        if p.get("rate"):
            text += f", {float(p['rate']):.1f} req/s"
    return text


def released_text(line: Line) -> str:
    outcomes = list(line.outcomes.values())
    n = len(line.event.trial_ids)
    done = sum(o.startswith("DONE") for o in outcomes)
    if done == n:
        return f"DONE {done}/{n}"
    failed = next((o for o in outcomes if not o.startswith("DONE")), "not run")
    return f"{failed} ({done}/{n} done)"


def result_line(trial: Trial, result: TrialResult, status: str) -> str:
    """The line a finished trial prints (rich markup): status, name, id and message."""
    colour = "green" if status == "DONE" else "yellow" if status == "DONE*" else "red"
    message = result.message
    if result.flags and result.status == Status.DONE:
        status = f"DONE* flags: {flags_text(result.flags)};"
        message = f"{result.message} {'; '.join(f.reason for f in result.flags)}".strip()
    text = f"[{colour}]{escape(status)}[/] {trial.name} {trial.trial_id}"
    return f"{text} {escape(message)}" if message else text


class PlainView:
    """Line per event, for logs: every stage change, progress at most every 10 s per instance."""

    def __init__(self, console: Console, progress_every_s: float = PLAIN_PROGRESS_EVERY_S) -> None:
        self.console = console
        self.state = SweepState()
        self.progress_every_s = progress_every_s
        self._printed: dict[str, tuple[float, str]] = {}  # key → (when, phase) of its last line

    def start(self, trials: Sequence[Trial], estimates: Mapping[str, float], parallel: int) -> None:
        with self.state.lock:
            self.state.start(trials, estimates, parallel)

    def instance(self, event: InstanceEvent) -> None:
        with self.state.lock:
            line, moved = self.state.on_instance(event)
            when, phase = self._printed.get(event.key, (0.0, ""))
            new_phase = event.progress.get("phase", phase)
            if not moved and new_phase == phase and event.at - when < self.progress_every_s:
                return
            self._printed[event.key] = (event.at, new_phase)
            text = stage_text(line, event.at)
            log = (
                event.progress.get("log") if event.stage == "starting" or "sent" not in event.progress else ""
            )
            self._print(f"{event.label} [{event.key}] {text}" + (f" | {log}" if log else ""))

    def trial(self, trial: Trial, result: TrialResult) -> None:
        with self.state.lock:
            status = self.state.on_trial(trial, result)
            self.console.print(result_line(trial, result, status), highlight=False)
            self._print(self.state.overall())

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def stop(self) -> None:
        pass

    def _print(self, text: str) -> None:
        stamp = duration(time.time() - self.state.started)
        self.console.print(f"[{stamp:>6}] {text}", markup=False, highlight=False, soft_wrap=True)
