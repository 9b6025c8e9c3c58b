"""The sweep as its consumer sees it: one event per change of an engine instance, and its progress.

:class:`InstanceWatch` is the scheduler instances' ``watch`` hook (``Scheduler(..., watch=...)``):
every change of an instance's stage, current trial or release becomes an :class:`InstanceEvent`
handed to ``sink``, a plain callable. The consumer (the CLI's live view, ``orchestrator/cli/view.py``)
owns the sink and its protocol; execution imports nothing of it. While an instance starts its engine
or runs a point, a poller thread asks its actor for ``progress()`` every ``interval_s`` (phase,
seconds in it and the timeout, the engine log's last line, requests sent) and sends an event when
that changed. ``sink`` may thus be called from two threads; it must not block.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # instance.py imports Ray; the CLI imports this module before Ray is needed
    from orchestrator.execution.instance import Instance

RELEASED = "released"  # the instance's GPUs are free again: its line is finished
STARTING, RUNNING = "starting", "running"  # instance.Stage values (a StrEnum)
PHASES = {STARTING: ("loading model", "starting engine"), RUNNING: ("measuring", "running")}
"""The runner's phases (execution.progress) that belong to each stage: a poll answered just before
the stage changed is dropped, not shown under the new stage."""


@dataclass(frozen=True)
class InstanceEvent:
    """One engine instance's state: ``stage`` is a :class:`Stage` value or ``released``."""

    key: str  # first trial id and attempt: one line of the live view
    label: str  # ``vllm tp2 tiny-llama``
    stage: str
    trial_ids: tuple[str, ...]  # its trials, in run order
    point: int = 0  # 1-based index of the trial being measured (0: none)
    current: str = ""  # that trial's name
    attempt: int = 0
    progress: Mapping[str, Any] = field(default_factory=dict)  # Progress.snapshot() of its runner
    at: float = 0.0  # time.time()


EventSink = Callable[[InstanceEvent], None]


def event_of(inst: Instance, progress: Mapping[str, Any] | None = None) -> InstanceEvent:
    first = inst.trials[0]
    current = inst.current
    point = next((i + 1 for i, t in enumerate(inst.trials) if t is current), 0) if current else 0
    return InstanceEvent(
        key=inst.key,
        label=f"{first.engine.name} tp{first.tp} {first.model.name}",
        stage=RELEASED if inst.released_at else str(inst.stage),
        trial_ids=tuple(t.trial_id for t in inst.trials),
        point=point,
        current=current.name if current is not None else "",
        attempt=inst.attempt,
        progress=dict(progress or {}),
        at=time.time(),
    )


class InstanceWatch:
    """The instances' hook: stage events at once, actor progress polled by a daemon thread."""

    def __init__(self, sink: EventSink, interval_s: float = 1.0) -> None:
        self.sink = sink
        self.interval_s = interval_s
        self._live: dict[str, Instance] = {}
        self._last: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, inst: Instance) -> None:
        if inst.stage == RUNNING and inst.current is None and not inst.released_at:
            return  # between two points, or on the way to stopping: the next change follows at once
        event = event_of(inst)
        state = (event.stage, event.point, event.attempt)
        with self._lock:
            if self._last.get(event.key) == state:
                return
            self._last[event.key] = state
            if event.stage == RELEASED:
                self._live.pop(event.key, None)
            else:
                self._live[event.key] = inst
        self.sink(event)
        if self._thread is None and event.stage != RELEASED:
            self._thread = threading.Thread(target=self._poll, name="instance-progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        import ray

        pending: dict[str, tuple[Any, Instance]] = {}  # key → (progress ref, instance)
        shown: dict[str, tuple[Any, ...]] = {}
        while not self._stop.wait(self.interval_s):
            with self._lock:
                live = dict(self._live)
            for key, inst in live.items():
                actor = inst.actor
                busy = inst.stage == STARTING or (inst.stage == RUNNING and inst.current is not None)
                if key not in pending and actor is not None and busy:
                    try:
                        pending[key] = (actor.progress.remote(), inst)
                    except Exception:  # the actor is being killed: no progress to show
                        continue
            if not pending:
                continue
            refs = {ref: key for key, (ref, _) in pending.items()}
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0.5)
            for ref in ready:
                key = refs[ref]
                _, inst = pending.pop(key)
                try:
                    snap = dict(ray.get(ref))
                except Exception:  # actor gone (released, lost): its own events say so
                    continue
                with self._lock:
                    if key not in self._live or snap.get("phase") not in PHASES.get(str(inst.stage), ()):
                        continue
                event = event_of(inst, snap)
                if shown.get(key) != (seen := _shown(event)):
                    shown[key] = seen
                    self.sink(event)


def _shown(event: InstanceEvent) -> tuple[Any, ...]:
    """What a progress event shows beyond its stage: a new phase, point, log line or count is
    sent on; elapsed seconds alone are not (the views tick their own clock)."""
    p = event.progress
    return (event.stage, event.point, *(p.get(k) for k in ("phase", "log", "sent", "rate")))
