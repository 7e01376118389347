"""Stopping cleanly: SIGTERM behaves like Ctrl-C, and helper processes never outlive the program.

A helper process (the captioner's detector worker, multiprocessing's resource tracker) that is not
told its parent died waits on its queue forever, holding tens of MB. A signal handler cannot help
when the parent is killed with SIGKILL, so every spawned helper watches a *lifeline*: a pipe whose
write end only this process holds. The kernel closes it however the process ends, the helper's read
returns end-of-file, and the helper exits. Linux's PR_SET_PDEATHSIG is not used because it fires when
the *thread* that started the child ends, which would kill a helper started from a worker thread.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

_lifeline_read: int | None = None
_lifeline_write: int | None = None  # held open (never inherited) until this process ends
_hooked = False

# Run first in each spawned helper: a daemon thread that exits the process when the lifeline closes.
_WATCH = ("import os as _o, threading as _t\n"
          "def _lifeline(fd={fd}):\n"
          "    while _o.read(fd, 1): pass\n"
          "    _o._exit(0)\n"
          "_t.Thread(target=_lifeline, daemon=True, name='lifeline').start()\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (recordings are closed) but reported with the usual exit code 143."""

    exit_code = 128 + signal.SIGTERM


def _lifeline() -> int:
    """The read end of this process's lifeline pipe (made on first use)."""
    global _lifeline_read, _lifeline_write
    if _lifeline_read is None:
        _lifeline_read, _lifeline_write = os.pipe()  # both non-inheritable: only passed on purpose
    return _lifeline_read


def children_die_with_me() -> None:
    """Make every helper process that multiprocessing spawns from now on exit when this process ends.

    multiprocessing starts helpers with `python -c CODE` through util.spawnv_passfds; the hook puts
    the lifeline watcher in front of CODE and passes the pipe's read end along. The resource tracker
    is left alone: it exits by itself once its last client (this process and its helpers) is gone,
    and must outlive them briefly to clean up after them.
    """
    global _hooked
    if _hooked or not hasattr(os, "pipe") or sys.platform == "win32":
        return
    from multiprocessing import util

    original = util.spawnv_passfds

    def spawn_with_lifeline(path, args, passfds):
        args = list(args)
        if "-c" in args and "resource_tracker" not in args[args.index("-c") + 1]:
            fd = _lifeline()
            code = args.index("-c") + 1
            args[code] = _WATCH.format(fd=fd) + args[code]
            passfds = [*passfds, fd]
        return original(path, args, passfds)

    util.spawnv_passfds = spawn_with_lifeline
    _hooked = True


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (kill, systemd, docker stop) raises Terminated in the main thread,
    so the same clean-up as Ctrl-C runs: recordings are flushed and closed, helpers stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_stuck: list[threading.Thread] = []


def note_stuck(thread: threading.Thread) -> None:
    """Record a worker thread that did not finish when asked (e.g. still inside one slow model call)."""
    _stuck.append(thread)


def leave_now_if_stuck(code: int) -> None:
    """End the process at once with `code` when a recorded worker thread still runs.

    A thread left inside ONNX Runtime or torch while Python shuts down makes the C++ runtime abort
    ("terminate called without an active exception", exit 134) after the work was already saved;
    ending without the interpreter's shutdown keeps the exit code honest. Output is flushed first."""
    if any(thread.is_alive() for thread in _stuck):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
