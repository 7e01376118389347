"""The threaded frame loop: file policy (every frame, in order) and live policy (newest frame, bounded latency)."""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clips import decode, pattern

from export.backends import Stylizer
from realtime.frames import Frame
from realtime.pipeline import END, FrameQueue, Pipeline
from realtime.processor import FrameProcessor
from realtime.recorder import FileSink
from realtime.sinks import Sink
from realtime.sources import FrameSource, SourceLost
from training.checkpoint import StyleInfo


PATIENCE_S = 240.0  # waits on events below end after this only if something hangs


class InvertStylizer(Stylizer):
    """A stand-in model with a known output (255 - frame) and a chosen speed.

    before(call), if given, is called at the start of each call (1, 2, ...): a model busy with a frame
    for exactly as long as a test wants, whatever the machine's speed."""

    name = "test-invert"

    def __init__(self, seconds_per_frame: float = 0.0, fail_at: int | None = None, before=None):
        self.seconds_per_frame, self.fail_at, self.calls, self.before = seconds_per_frame, fail_at, 0, before
        self.info = StyleInfo("invert", Path("invert"), {})

    def load_style(self, style):
        self.info = StyleInfo(str(style), Path(str(style)), {})
        return self.info

    def __call__(self, frame, strength=1.0):
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("model exploded")
        if self.before is not None:
            self.before(self.calls)
        time.sleep(self.seconds_per_frame)
        return 255 - frame


class SyntheticSource(FrameSource):
    """`count` pattern frames at `fps`; live ones run on their own clock like a camera's sensor.

    A live frame's captured_at is when the sensor took it (start + index / fps), whether or not
    anyone was reading at that moment, exactly what makes queued frames stale.
    paced=False: a live source that delivers its frames as fast as they are taken (the live queue
    policy, without waiting on the wall clock). before(index), if given, is called before each frame
    is made: by then every earlier frame has been handed to the pipeline. `finished` is set once all
    `count` frames have been.
    """

    def __init__(self, count: int, fps: float = 30.0, live: bool = False, lost_after: int | None = None,
                 size: tuple[int, int] = (64, 48), paced: bool = True, before=None):
        super().__init__()
        self.count, self.fps, self.live, self.lost_after, self.size = count, fps, live, lost_after, size
        self.paced, self.before = paced, before
        self.time_base = Fraction(1, 1000)
        self.closed = False
        self.finished = threading.Event()

    def frames(self):
        start = time.monotonic()
        for index in range(self.count):
            if self.before is not None:
                self.before(index)
            if self.stopping:
                return
            if self.lost_after is not None and index == self.lost_after:
                raise SourceLost("camera unplugged")
            taken = start + index / self.fps
            if self.live and self.paced:
                self._sleep_until(taken)
            captured_at = taken if self.live and self.paced else time.monotonic()
            yield Frame(pattern(index, *self.size), index / self.fps, captured_at, index, self.time_base)
        self.finished.set()

    def close(self):
        self.closed = True


class ListSink(Sink):
    def __init__(self, quit_after: int | None = None):
        self.frames: list[Frame] = []
        self.quit_after, self.closed_with = quit_after, None
        self.wrote_first = threading.Event()

    def write(self, frame):
        self.frames.append(frame)
        self.wrote_first.set()
        self.quit_requested = self.quit_after is not None and len(self.frames) >= self.quit_after

    def close(self, interrupted=False):
        self.closed_with = "interrupted" if interrupted else "finished"


def run(source, stylizer, *sinks, **options):
    pipeline = Pipeline(source, FrameProcessor(stylizer), list(sinks), **options)
    return pipeline, pipeline.run()


def test_live_queue_keeps_the_newest_and_counts_the_rest():
    queue = FrameQueue(1, drop_oldest=True, stop=threading.Event())
    for item in range(5):
        queue.put(item)
    queue.put(END)
    assert queue.get() == 4 and queue.get() is END and queue.dropped == 4


def test_file_queue_waits_for_room_instead_of_dropping():
    queue = FrameQueue(1, drop_oldest=False, stop=threading.Event())
    news = threading.Event()  # the producer either waits for room or returns: whichever comes first
    waiters: list[str] = []

    class Watched(threading.Condition):
        def wait(self, timeout=None):
            waiters.append(threading.current_thread().name)
            news.set()
            return super().wait(timeout)

    queue._changed = Watched()  # noqa: SLF001 - to see the put() wait, not guess how long it takes
    queue.put("first")
    returned = threading.Event()
    producer = threading.Thread(target=lambda: (queue.put("second"), returned.set(), news.set()), name="producer")
    producer.start()
    assert news.wait(PATIENCE_S)
    assert "producer" in waiters and not returned.is_set(), "put into a full file queue must wait"
    assert queue.get() == "first"
    producer.join(PATIENCE_S)
    assert queue.get() == "second" and queue.dropped == 0


def test_files_get_every_frame_in_order_even_with_a_slow_model():
    sink = ListSink()
    pipeline, stats = run(SyntheticSource(24), InvertStylizer(0.005), sink)
    assert [f.index for f in sink.frames] == list(range(24))
    assert stats.dropped == 0 and stats.written == 24
    assert np.array_equal(sink.frames[5].image, 255 - pattern(5, 64, 48))
    assert set(stats.stage_ms()) >= {"capture", "stylize", "overlay", "output"}
    assert sink.closed_with == "finished"


def wait(event: threading.Event) -> None:
    assert event.wait(PATIENCE_S), "a stage never got there"


def test_live_source_with_a_slow_model_drops_frames_and_latency_stays_bounded():
    """A camera delivers 79 more frames while the model is still busy with its first: the stale ones are
    dropped, never queued, and the model goes on with the newest frame, so latency stays ~1 model call."""
    busy, sink = threading.Event(), ListSink()
    camera = SyntheticSource(80, live=True, paced=False, before=lambda index: index == 1 and wait(busy))

    def model_speed(call: int) -> None:
        if call == 1:  # stuck on frame 0 until the camera has handed over every other frame
            busy.set()
            wait(camera.finished)
        elif call == 2:  # (and the next frame not ready before frame 0 is out: no drop further down)
            wait(sink.wrote_first)

    pipeline, stats = run(camera, InvertStylizer(before=model_speed), sink)
    assert stats.captured == 80
    assert [f.index for f in sink.frames] == [0, 79], "the newest frame must come next, not a queued one"
    assert stats.dropped == 78 and stats.written + stats.dropped == stats.captured

    # the peer: the same camera through the file policy queues every frame, so after the same stall the
    # model works through the stale frames one by one, and latency grows with every frame it falls behind
    second_handed_over, sink = threading.Event(), ListSink()
    camera = SyntheticSource(80, live=True, paced=False, before=lambda index: index == 2 and second_handed_over.set())
    model = InvertStylizer(before=lambda call: call == 1 and wait(second_handed_over))
    queued = Pipeline(camera, FrameProcessor(model), [sink])
    for queue in queued.queues:
        queue.drop_oldest = False
    queued_stats = queued.run()
    assert [f.index for f in sink.frames] == list(range(80)) and queued_stats.dropped == 0


def test_a_failing_stage_stops_the_loop_and_still_closes_the_sinks():
    sink, source = ListSink(), SyntheticSource(50)
    with pytest.raises(RuntimeError, match="model exploded"):
        run(source, InvertStylizer(fail_at=3), sink)
    assert len(sink.frames) == 3 and sink.closed_with == "interrupted" and source.closed


def test_a_sink_can_ask_to_quit():
    sink = ListSink(quit_after=4)
    pipeline, stats = run(SyntheticSource(10_000, fps=100, live=True), InvertStylizer(), sink)
    assert stats.written == 4 and pipeline.stop_event.is_set() and sink.closed_with == "interrupted"


def test_max_frames_stops_the_source():
    sink = ListSink()
    run(SyntheticSource(100), InvertStylizer(), sink, max_frames=7)
    assert len(sink.frames) == 7


def test_unplugged_camera_leaves_a_closed_playable_recording(tmp_path):
    written = threading.Semaphore(0)  # a camera no faster than the loop: each frame is written before the next
    camera = SyntheticSource(1000, fps=60, live=True, lost_after=15, size=(64, 48),
                             before=lambda index: index == 0 or written.acquire(timeout=PATIENCE_S))
    recorder = FileSink(tmp_path / "cam.mp4", fps=60, time_base=camera.time_base)
    with pytest.raises(SourceLost):
        run(camera, InvertStylizer(), recorder, on_frame=lambda stats: written.release())
    recording = decode(tmp_path / "cam.mp4")
    assert len(recording.frames) == recorder.frames_written == 15
    assert recording.frames[0].shape == (48, 64, 3)
