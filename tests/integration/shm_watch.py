"""What a test's engines hold while they run, read from /proc independently of the tool's own records.

:class:`ShmWatch` samples, every 0.5 s, every live process carrying the test's ``ORCH_TEST_TAG``:
the /dev/shm segments it maps or holds open, plus the segments named after one of those pids
(loky's ``sem.loky-<pid>-*``) and every segment sharing a vLLM all-reduce prefix it saw
(``vllm_dist_<id>-``). After the run, :meth:`ShmWatch.left` says which of them still exist.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

from tests.conftest import tagged_processes

SHM = Path("/dev/shm")


def pids_of(tag: str) -> list[int]:
    return [int(entry.split(":", 1)[0]) for entry in tagged_processes(tag)]


def held(pid: int) -> set[str]:
    """/dev/shm names that ``pid`` maps or holds open."""
    names: set[str] = set()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/maps") as maps:
        names |= {
            m.group(1) for m in re.finditer(r"/dev/shm/([^/\n]+?)(?: \(deleted\))?$", maps.read(), re.M)
        }
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("/dev/shm/"):
                    names.add(target[len("/dev/shm/") :].removesuffix(" (deleted)"))
    return names


class ShmWatch:
    """Records the shared-memory segments of the tagged processes while a sweep runs."""

    def __init__(self, tag: str, interval_s: float = 0.5) -> None:
        self.tag = tag
        self.interval_s = interval_s
        self.seen: set[str] = set()
        self.by_pid: dict[int, set[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ShmWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sample(self) -> None:
        pids = pids_of(self.tag)
        listing = os.listdir(SHM)
        for pid in pids:
            names = held(pid)
            names |= {n for n in listing if n.startswith(f"sem.loky-{pid}-")}
            self.by_pid.setdefault(pid, set()).update(names)
            self.seen |= names
        prefixes = {m.group(1) for n in self.seen if (m := re.match(r"(vllm_dist_[0-9a-f]+-)", n))}
        self.seen |= {n for n in listing if n.startswith(tuple(prefixes))} if prefixes else set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def left(self) -> list[str]:
        """The recorded segments still in /dev/shm."""
        present = set(os.listdir(SHM))
        return sorted(n for n in self.seen if n in present)
