"""common.threads: one place decides the threads of every engine."""
from __future__ import annotations

import os
import sys
import time

import onnxruntime as ort
import pytest

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
    monkeypatch.setattr(threads, "busy_cores_now", lambda: None)  # no /proc/stat: the load average decides
    assert threads.idle_cores() == threads.cpu_count()


def test_own_threads_are_not_a_neighbour(monkeypatch):
    """Both cores busy for the whole window, one of them by this process: one neighbour core."""
    ticks = iter([(0, 0), (200, 200)])  # (busy, total) jiffies: everything busy
    own = iter([0.0, 1.0])  # this process used one core-second ...
    clock = iter([0.0, 1.0])  # ... in one second
    monkeypatch.setattr(threads, "_cpu_ticks", lambda: next(ticks))
    monkeypatch.setattr(threads.time, "process_time", lambda: next(own))
    monkeypatch.setattr(threads.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    assert threads.busy_cores_now() == 1.0


def test_onnxruntime_options_single_place():
    options = ort.SessionOptions()
    assert threads.configure_onnxruntime(options, 1) == 1
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    busy = threads.busy_cores_now(0.05)
    assert busy is None or busy >= 0.0


def cpu_after_runs(path, configure) -> float:
    """CPU seconds the process uses in the 0.3 s after three runs of the session at `path` (a frame loop's gap)."""
    import numpy as np

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the control overwrites a key: a warning, not news
    configure(options)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.ones((1, 16, 128, 128), np.float32)
    for _ in range(3):
        session.run(None, {"x": x})
    before = time.process_time()
    time.sleep(0.3)
    return time.process_time() - before


def test_onnxruntime_workers_stop_spinning_when_a_run_ends(tmp_path):
    """Workers may spin inside a run (fast), never between frames: after a run the process uses no CPU, where a
    session left to ORT's default spinning does (checked first: on CPUs where it spins too briefly to see, skip)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(0).random((16, 16, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 128, 128])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 128, 128])], [weights])
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))

    def spinning_between_runs(options):
        threads.configure_onnxruntime(options, 2)
        options.add_session_config_entry("session.force_spinning_stop", "0")

    # measured here: ~0.03 s of CPU after the runs when left spinning, ~0.0001 s with the stop
    if threads.cpu_count() < 2 or cpu_after_runs(path, spinning_between_runs) < 0.01:
        pytest.skip("ORT's workers do not spin long enough after a run on this machine to tell the difference")
    assert cpu_after_runs(path, lambda options: threads.configure_onnxruntime(options, 2)) < 0.005


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_a_style_is_prepared_on_a_lower_priority_thread_with_one_torch_thread():
    import threading

    import torch

    torch_threads = torch.get_num_threads()
    seen = threads.run_in_background(lambda: (threading.get_native_id(), os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()), torch.get_num_threads()))
    native_id, nice, inside = seen
    assert native_id != threading.get_native_id()  # a fresh thread: the caller keeps its priority
    assert nice >= threads.BACKGROUND_NICE and inside == 1
    assert torch.get_num_threads() == torch_threads
    assert threads.run_in_background(torch.get_num_threads, single_torch_thread=False) == torch_threads
    with pytest.raises(ValueError, match="bad picture"):
        threads.run_in_background(lambda: (_ for _ in ()).throw(ValueError("bad picture")))
