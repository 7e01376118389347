"""Driving a running `stream.py` from a test by what it reports, never by how long things take.

A test that must act in the middle of a run (a Ctrl-C, a kill) waits for a line the program prints
(`stream.py run --progress lines`: 'stylecast: progress: N frames written, ...'), and waits for processes
to end on the kernel's word (a pidfd), so its outcome is the same on an idle machine and on a busy CI
runner. The time limits here only turn a hang into a failure; they are far longer than any run needs.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATIENCE_S = 240.0  # a safety net against hangs, not a guess at how long anything takes

PROGRESS = re.compile(r"stylecast: progress: (\d+)(?: of \d+)? frames written")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """`stream.py ARGS...` started in the background; its stdout and stderr are read as they come."""

    def __init__(self, *args: str):
        # SIGINT as a terminal delivers it: a suite started in the background of a script (`cmd &`) inherits
        # SIGINT *ignored*, and so would the program, which then could not be Ctrl-C'd by the test
        self.process = subprocess.Popen([sys.executable, str(REPO / "stream.py"), *args], cwd=REPO,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        preexec_fn=_default_sigint)
        self.pid = self.process.pid
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(pipe, lines), daemon=True)
                         for pipe, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))]
        self._open = len(self._readers)
        for reader in self._readers:
            reader.start()

    def _read(self, pipe, lines: list[str]) -> None:
        for line in pipe:
            with self._changed:
                lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def wait_for_stderr(self, pattern: re.Pattern, accept=lambda match: True) -> re.Match:
        """The first stderr line matching `pattern` (and `accept`); fails if the program ends without one."""
        seen = 0
        with self._changed:
            while True:
                for line in self.err[seen:]:
                    match = pattern.search(line)
                    if match and accept(match):
                        return match
                seen = len(self.err)
                if self._open == 0:
                    raise AssertionError(f"the program ended without printing {pattern.pattern!r}:\n"
                                         + "".join(self.err))
                if not self._changed.wait(PATIENCE_S):
                    raise AssertionError(f"nothing printed for {PATIENCE_S:.0f} s:\n" + "".join(self.err))

    def frames_written(self, at_least: int) -> int:
        """Wait for a progress line saying at least `at_least` frames were written; how many it says."""
        match = self.wait_for_stderr(PROGRESS, lambda m: int(m.group(1)) >= at_least)
        return int(match.group(1))

    def finish(self) -> tuple[int, str, str]:
        """Wait for the program to end: (exit code, stdout, stderr). If it does not, the failure shows where
        every thread of it was (stream.py prints its stacks on SIGUSR1) and what it printed last."""
        try:
            code = self.process.wait(PATIENCE_S)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            with self._changed:
                self._changed.wait(10)  # the stacks start arriving as stderr lines
            self.kill()
            for reader in self._readers:  # everything written before the kill, up to the pipes' end
                reader.join(PATIENCE_S)
            raise AssertionError(f"the program did not end within {PATIENCE_S:.0f} s; its last output and stacks:\n"
                                 + "".join(self.err[-200:])) from None
        for reader in self._readers:
            reader.join(PATIENCE_S)
        return code, "".join(self.out), "".join(self.err)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(PATIENCE_S)


def wait_gone(pids: set[int], timeout: float = PATIENCE_S) -> set[int]:
    """Wait until every process in `pids` has ended (a zombie has); the ones still running after `timeout`.

    Linux only: a pidfd becomes readable when its process exits, so this wakes on the exit itself."""
    handles = {}
    for pid in pids:
        try:
            handles[os.pidfd_open(pid)] = pid
        except ProcessLookupError:  # already gone (and reaped)
            pass
    try:
        poller = select.poll()
        for handle in handles:
            poller.register(handle, select.POLLIN)
        waiting = dict(handles)
        while waiting:
            exited = poller.poll(timeout * 1000)  # (the limit restarts at each exit: it is only a safety net)
            if not exited:
                break
            for handle, _ in exited:
                poller.unregister(handle)
                waiting.pop(handle, None)
        return set(waiting.values())
    finally:
        for handle in handles:
            os.close(handle)
