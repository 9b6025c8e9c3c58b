"""Run a command; kill its whole process group when the launching process dies.

Usage: ``python -m engines.watchdog --parent PID --exit-file F -- cmd args...``, started in a new
session. It forks and the first process exits at once, so the watchdog is no longer a child of the
launcher: a Ray worker that dies SIGKILLs its direct children, and this keeps the watchdog alive to
take the engine down with it (first running ``--on-stop``, a JSON argv, e.g. ``docker stop NAME``,
for what lives outside the group). On SIGTERM it forwards to the command, waits for it and writes its
exit code to F.

Descendants in other process groups (TGI's shards and router: ``process_group(0)``) are not reached
by signalling the group, and once orphaned they are no longer descendants: the watchdog records the
tree every ``TRACK_S`` (:class:`engines.proctree.Tree`) and kills what it recorded (same pid and
start time) when the launching process dies, and stops what the command left behind when it exits.
It records the tree's shared-memory segments every ``SEGMENTS_S`` and right before it kills, and
unlinks those left behind once the processes are gone (:mod:`engines.shm`): it signals every other
member of its group, not itself, so that it outlives them for that. ``--cpus`` sets the affinity
the command and all its children inherit (a CPU core lease, :mod:`engines.cpu_cores`); ``--remove``
names the instance's scratch directory, removed once the command is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from engines.cpu_cores import parse_cpu_list
from engines.proctree import Tree, group_members

TRACK_S = 1.0
SEGMENTS_S = 10.0
LEFTOVER_GRACE_S = 5.0


def process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` (from /proc), to tell it from a later process with the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]


def run_on_stop(argv: list[str], timeout_s: float = 30.0) -> int | None:
    """Run a stop command (its exit code; None if it could not run or timed out)."""
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout_s, check=False).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"engines.watchdog: stop command {argv[:3]} failed: {exc}", file=sys.stderr, flush=True)
        return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="engines.watchdog")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--exit-file", required=True)
    parser.add_argument("--on-stop", default="", help="JSON argv run before the group is killed")
    parser.add_argument("--cpus", default="", help="logical CPUs the command runs on (0,1 or 0-3)")
    parser.add_argument("--remove", default="", help="a scratch directory removed once the command is gone")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given after --")
    parent_start = process_start_time(args.parent)
    if os.fork() > 0:
        os._exit(0)  # the launcher reaps this; the watchdog lives on in the same group
    if args.cpus:
        os.sched_setaffinity(0, parse_cpu_list(args.cpus))  # inherited by the command and its children
    child = subprocess.Popen(cmd)
    pgid = os.getpgid(0)

    def on_term(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    tree = Tree(pgid)
    next_track = next_segments = 0.0
    while child.poll() is None:
        now = time.monotonic()
        if now >= next_track:
            tree.snapshot(segments=now >= next_segments)
            next_track = now + TRACK_S
            next_segments = now + SEGMENTS_S if now >= next_segments else next_segments
        if parent_start is None or process_start_time(args.parent) != parent_start:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            tree.snapshot(segments=True)
            if args.on_stop:
                run_on_stop(json.loads(args.on_stop))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            tree.snapshot()
            tree.signal_survivors(signal.SIGKILL)  # in other groups: the group's kill misses them
            kill_group_but_me(pgid)
            note_removed(tree.remove_leftover_shm())
            remove_scratch(args.remove)
            return 128 + signal.SIGKILL  # the launcher is gone: nobody reads an exit file
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.25)  # returns as soon as the command exits
    with open(args.exit_file, "w") as f:
        f.write(str(child.returncode))
    stop_leftovers(tree)
    note_removed(tree.remove_leftover_shm())  # what no live process uses (a member still alive keeps its own)
    remove_scratch(args.remove)
    return child.returncode


def remove_scratch(path: str) -> None:
    """The instance's scratch dir (sockets, vLLM's rendezvous file): the runner removes it too, but
    not when its actor was killed."""
    if path:
        shutil.rmtree(path, ignore_errors=True)


def note_removed(names: list[str]) -> None:
    if names:
        print(f"engines.watchdog: removed {len(names)} shared-memory segment(s) the engine left in /dev/shm: "
              f"{', '.join(names)}", file=sys.stderr, flush=True)  # fmt: skip


def kill_group_but_me(pgid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL every other member of the group until none is left (new children included)."""
    me = os.getpid()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        others = [pid for pid in group_members(pgid) if pid != me]
        if not others:
            return
        for pid in others:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def stop_leftovers(tree: Tree) -> None:
    """What the command left running in other groups (its launcher was killed): SIGTERM, then
    SIGKILL after ``LEFTOVER_GRACE_S``."""
    left = tree.signal_survivors(signal.SIGTERM)
    if not left:
        return
    print(f"engines.watchdog: the command exited leaving pids {left} in other process groups: SIGTERM",
          file=sys.stderr, flush=True)  # fmt: skip
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while tree.survivors() and time.monotonic() < deadline:
        time.sleep(0.05)
    tree.signal_survivors(signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
