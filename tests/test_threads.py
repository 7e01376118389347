"""common.threads: one place decides the threads of every engine."""
from __future__ import annotations

import onnxruntime as ort

from common import threads


def test_requested_and_environment_win_over_the_idle_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.decide_threads(3) == 3 and threads.decide_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= threads.decide_threads() <= threads.cpu_count()


def test_a_busy_neighbour_is_seen_at_once(monkeypatch):
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # the load average lags
    monkeypatch.setattr(threads, "busy_cores_now", lambda: threads.cpu_count() - 0.9)
    assert threads.idle_cores() == 1


def test_onnxruntime_options_single_place():
    options = ort.SessionOptions()
    assert threads.configure_onnxruntime(options, 1) == 1
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    busy = threads.busy_cores_now(0.05)
    assert busy is None or busy >= 0.0
