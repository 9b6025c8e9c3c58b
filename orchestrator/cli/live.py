"""The live view on a terminal: one redrawn line per engine instance and an overall bar.

Finished trials print their ``DONE``/``FAILED`` line above the live area (it scrolls like a log);
the area below shows each engine instance's stage (placing, loading model, starting engine with
elapsed/timeout and the engine log's last line, measuring point k/n with requests sent and req/s,
waiting for its nodes (``ray.exclusive_nodes``), stopping, DONE/FAILED) and the sweep's trials
done/total, elapsed time and ETA.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.cli.view import Line, SweepState, result_line, stage_text
from orchestrator.core.results import TrialResult
from orchestrator.core.trial import Trial
from orchestrator.execution.events import RELEASED, InstanceEvent

MAX_RELEASED_SHOWN = 6  # finished instances kept on screen (the newest); the rest scrolled off
STAGE_STYLE = {
    "placing": "cyan",
    "starting": "yellow",
    "running": "blue",
    "waiting": "cyan",
    "stopping": "magenta",
}


class LiveView:
    def __init__(self, console: Console, refresh_per_second: float = 4.0) -> None:
        self.console = console
        self.state = SweepState()
        self._live = Live(
            get_renderable=self.render,
            console=console,
            refresh_per_second=refresh_per_second,
            transient=False,
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._running = False

    def start(self, trials: Sequence[Trial], estimates: Mapping[str, float], parallel: int) -> None:
        with self.state.lock:
            self.state.start(trials, estimates, parallel)
        if not self._running:
            self._live.start()
            self._running = True

    def instance(self, event: InstanceEvent) -> None:
        with self.state.lock:
            self.state.on_instance(event)

    def trial(self, trial: Trial, result: TrialResult) -> None:
        with self.state.lock:
            status = self.state.on_trial(trial, result)
        self.console.print(result_line(trial, result, status), highlight=False)

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._live.refresh()
            self._live.stop()

    def render(self) -> RenderableType:
        now = time.time()
        with self.state.lock:
            lines = list(self.state.lines.values())
            overall = self.state.overall()
            done, total = self.state.done, len(self.state.trials)
        live = [ln for ln in lines if ln.event.stage != RELEASED]
        released = [ln for ln in lines if ln.event.stage == RELEASED][-MAX_RELEASED_SHOWN:]
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis")
        for ln in released + live:
            label = Text(f"{ln.event.label} [{ln.event.key[:12]}]", style="bold")
            table.add_row(label, _stage(ln, now))
            log = ln.event.progress.get("log")
            if log and ln.event.stage in ("starting", "running") and "sent" not in ln.event.progress:
                table.add_row("", Text(f"  {log}", style="dim"))
        bar = Table.grid(padding=(0, 1))
        bar.add_column(width=30)
        bar.add_column(no_wrap=True)
        bar.add_row(ProgressBar(total=max(total, 1), completed=done, width=30), Text(overall))
        return Group(table, bar)


def _stage(line: Line, now: float) -> Text:
    text = stage_text(line, now)
    stage = line.event.stage
    if stage == RELEASED:
        return Text.from_markup(f"[{'green' if text.startswith('DONE') else 'red'}]{escape(text)}[/]")
    return Text(text, style=STAGE_STYLE.get(stage, ""))
