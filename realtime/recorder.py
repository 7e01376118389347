"""Recording the stylized stream to a video file (PyAV), with the input's audio (realtime/audio.py).

Why it is written this way:
- Interrupted recordings must still play. MP4/MOV are written *fragmented* (an empty `moov` up
  front, then self-contained `moof+mdat` fragments, one per keyframe, with a keyframe every
  second), so a crash, Ctrl-C or a full disk loses at most the last second. MKV plays when cut.
- The user's files are never touched until the recording exists: it is written to NAME.partial.EXT
  beside the target and renamed over it when closed. A run killed outright leaves the .partial file,
  which plays up to where it stopped.
- Timestamps are the source's own (`Frame.pts` in the source's time base), so the output has the
  same frame rate, duration and variable timing as the input.
- Settings are tried before any work starts (`check_recording`): the encoder is opened for real
  (an NVENC codec on a machine without an NVIDIA GPU is listed by FFmpeg but cannot open) and one
  frame, with the audio, is muxed in memory, so a codec the container refuses fails in a second.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Iterator

import av
import numpy as np

from common.console import say, warn
from common.errors import UserError
from realtime.audio import AudioTrack
from realtime.frames import Frame
from realtime.sinks import Sink

CONTAINERS = {  # suffix -> (FFmpeg muxer, default video codec)
    ".mp4": ("mp4", "libx264"),
    ".m4v": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
}
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
ENCODER_OPTIONS = {
    # no B-frames: they delay every packet, and without an edit list (fragmented MP4 has none)
    # the delay would shift the first frame's timestamp
    "libx264": {"preset": "veryfast", "crf": "20", "bf": "0"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"},
}
KNOWN_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1", "mpeg4",
                  "h264_nvenc", "hevc_nvenc", "h264_vaapi", "h264_qsv")
TRIAL_SIZE = (64, 48)


def holds_a_frame(path: Path) -> bool:
    """Whether a (possibly cut-off) recording holds at least one decodable video frame."""
    try:
        with av.open(str(path)) as container:
            return next(container.decode(video=0), None) is not None
    except (av.FFmpegError, IndexError, OSError):
        return False


def partial_path(path: Path) -> Path:
    """Where a recording is written until it is complete: NAME.partial.EXT beside it (still playable)."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split("; last error log: ")[-1]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what encoder libraries print straight to file descriptor 2 (x265 and SVT-AV1 banners)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def scheduling_kept() -> Iterator[None]:
    """Give the calling thread back its CPU scheduling policy after opening an encoder. SVT-AV1 makes the thread
    that opens it real-time (SCHED_FIFO) whenever it may, i.e. as root: probing the usable encoders once left
    the whole program real-time, and every process it started after (a browser under test) inherited it; on a
    2-core machine a real-time thread that spins starves everything, Ctrl-C included."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    except (AttributeError, OSError):  # not Linux
        yield
        return
    try:
        yield
    finally:
        if os.sched_getscheduler(0) != policy:
            os.sched_setscheduler(0, policy, param)


@functools.lru_cache(maxsize=None)
def encoder_opens(codec: str) -> str | None:
    """None when `codec` opens here for a small yuv420p picture, else why not (hardware missing, ...)."""
    try:
        with _quiet_stderr(), scheduling_kept():
            context = av.CodecContext.create(codec, "w")
            context.width, context.height = TRIAL_SIZE
            context.pix_fmt = "yuv420p"
            context.time_base = Fraction(1, 25)
            context.open()
            del context
    except Exception as exc:  # noqa: BLE001 - any failure to open means "not usable here"
        return _reason(exc)
    return None


def usable_encoders() -> list[str]:
    """The well-known video encoders that really open on this machine."""
    return [c for c in KNOWN_ENCODERS if c in av.codecs_available and encoder_opens(c) is None]


def check_output_path(path: Path, codec: str | None) -> tuple[str, str]:
    """Validate the file name and that the video encoder opens here; returns (muxer, codec)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise UserError(f"cannot record to '{path}': use one of {', '.join(CONTAINERS)} as the file extension")
    muxer, default_codec = CONTAINERS[suffix]
    codec = codec or default_codec
    try:
        found = av.Codec(codec, "w")
    except Exception:  # av.codec.codec.UnknownCodecError, which PyAV does not export stably
        raise UserError(f"video codec '{codec}' is not available in this FFmpeg build "
                        f"(usable here: {', '.join(usable_encoders())})") from None
    if found.type != "video":
        raise UserError(f"'{codec}' is a {found.type} codec, not a video codec")
    problem = encoder_opens(codec)
    if problem is not None:
        raise UserError(f"video codec '{codec}' cannot be used on this machine ({problem}); "
                        f"usable here: {', '.join(usable_encoders())}")
    return muxer, codec


@dataclass(frozen=True)
class RecordingSettings:
    """What `check_recording` found works: the video codec and what happens to the audio."""

    codec: str
    audio_from: str | None
    audio_mode: str = "auto"


def check_recording(path: Path, codec: str | None, audio_from: str | None = None,
                    audio_start: float = 0.0) -> RecordingSettings:
    """Try the recording settings on one frame in memory, before the model loads.

    A codec the container refuses is a UserError; audio that cannot be copied is re-encoded, and
    audio that cannot go in at all is dropped with a warning (the video is what was asked for).
    """
    muxer, codec = check_output_path(path, codec)
    try:
        _trial(path, codec, None, audio_start, "auto")
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot record {Path(path).suffix} with video codec '{codec}' ({_reason(exc)}); "
                        f"{suggest_codec(muxer)}") from None
    if audio_from is None:
        return RecordingSettings(codec, None)
    problems = []
    for mode in ("auto", "encode"):
        try:
            _trial(path, codec, audio_from, audio_start, mode)
            return RecordingSettings(codec, audio_from, mode)
        except Exception as exc:  # noqa: BLE001
            problems.append(_reason(exc))
    warn(f"the input's audio cannot be recorded into {Path(path).suffix} ({problems[-1]}); recording without audio")
    return RecordingSettings(codec, None)


def suggest_codec(muxer: str) -> str:
    if muxer == "webm":
        return "WebM takes VP8, VP9 or AV1 video: use --codec libvpx-vp9, or record to .mp4/.mkv"
    return "leave out --codec for the default (libx264), or record to .mkv, which takes most codecs"


def _trial(path: Path, codec: str, audio_from: str | None, audio_start: float, audio_mode: str) -> None:
    sink = _TrialSink(path, fps=25, codec=codec, audio_from=audio_from, audio_start=audio_start,
                      audio_mode=audio_mode)
    try:
        sink.write(Frame(np.zeros((*TRIAL_SIZE[::-1], 3), np.uint8), 0.0, 0.0, 0, Fraction(1, 25)))
        sink.close(interrupted=True)
        if sink.failure is not None:
            raise sink.failure
    finally:
        sink._release()  # noqa: SLF001


class FileSink(Sink):
    """Writes Frames to `path`; `close(interrupted)` finalises it (always call it, also on errors)."""

    def __init__(self, path: str | Path, *, fps: float, time_base: Fraction | None = None, codec: str | None = None,
                 audio_from: str | None = None, audio_start: float = 0.0, audio_mode: str = "auto"):
        self.path = Path(path)
        self.muxer, self.codec = check_output_path(self.path, codec)
        self.fps = float(fps)
        self.time_base = time_base or Fraction(1, 1000)
        self.audio_from, self.audio_start, self.audio_mode = audio_from, float(audio_start), audio_mode
        self.frames_written = 0
        self.failure: BaseException | None = None  # the error that stopped writing, if any
        self._writing_to: Path | None = None  # the .partial file, renamed to `path` at close
        self._file: IO[bytes] | None = None
        self._container = None
        self._video = None
        self._audio: AudioTrack | None = None
        self._padded: tuple[int, int] | None = None
        self._last_ticks = -1
        self._last_pts = 0.0

    # --- opening ---------------------------------------------------------------------------------

    def _open_file(self) -> IO[bytes]:
        """The byte stream the muxer writes to: a new .partial file beside the target."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(self.path)
        handle = open(partial, "wb")
        self._writing_to = partial
        return handle

    def _open(self, width: int, height: int) -> None:
        self._file = self._open_file()
        options = FRAGMENTED if self.muxer in ("mp4", "mov") else {}
        self._container = av.open(self._file, "w", format=self.muxer, options=options)
        rate = Fraction(self.fps).limit_denominator(1001)
        self._video = self._container.add_stream(self.codec, rate=rate, options=ENCODER_OPTIONS.get(self.codec, {}))
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = self.time_base
        self._video.codec_context.time_base = self.time_base
        self._video.codec_context.gop_size = max(1, round(self.fps))  # a keyframe (= a fragment) per second
        if self.audio_from:
            self._audio = AudioTrack(self._container, self.muxer, self.audio_from, self.audio_start, self.audio_mode)

    # --- writing ---------------------------------------------------------------------------------

    def write(self, frame: Frame) -> None:
        """Encode one frame at its own pts (seconds); pts that do not increase are nudged by one tick."""
        image = self._even(frame.image)
        if self._container is None:
            self._guarded(self._open, image.shape[1], image.shape[0])
        ticks = max(round(frame.pts / self.time_base), self._last_ticks + 1)
        if self.frames_written == 0 and self.muxer in ("mp4", "mov"):
            # Fragmented MP4 has no edit list to start the video late: FFmpeg moves a first frame at
            # 0.04 s to 0 and miscounts its duration, which shifts every later frame. Showing the
            # first frame from 0 instead keeps all the others, and the audio, exactly in place.
            ticks = 0
        av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        av_frame.pts, av_frame.time_base = ticks, self.time_base
        self._guarded(self._encode, av_frame)
        self._last_ticks, self._last_pts = ticks, float(ticks * self.time_base)
        self.frames_written += 1
        if self._audio is not None:
            self._guarded(self._audio.write_until, self._last_pts)

    def _even(self, image: np.ndarray) -> np.ndarray:
        """yuv420p needs even sizes: an odd side gets one more row/column (a copy of the edge), never fewer."""
        height, width = image.shape[:2]
        if not (height % 2 or width % 2):
            return image
        if self._padded is None and not isinstance(self, _TrialSink):
            self._padded = (width + width % 2, height + height % 2)
            say(f"frame size {width}x{height} is rounded up to {self._padded[0]}x{self._padded[1]} "
                "for the video codec (it needs even sizes); the extra edge repeats the last pixel row/column")
        return np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")

    def _encode(self, av_frame: av.VideoFrame | None) -> None:
        with scheduling_kept():  # the first frame opens the encoder (see scheduling_kept)
            packets = self._video.encode(av_frame)
        for packet in packets:
            self._container.mux(packet)

    def _guarded(self, step, *args) -> None:
        """Run a write step; after any failure nothing more is written (flushing a muxer whose header
        failed crashes FFmpeg), and a full disk becomes a UserError that says what was kept."""
        if self.failure is not None:
            return
        try:
            step(*args)
        except BaseException as exc:
            self.failure = exc
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise UserError(f"disk full while recording {self.path}: recording stopped at frame "
                                f"{self.frames_written}; the part that reached the disk is kept and plays") from None
            raise

    # --- closing ---------------------------------------------------------------------------------

    def close(self, interrupted: bool = False) -> None:
        """Flush the encoder, add the rest of the audio (only up to the video's end if interrupted),
        close, and put the file in place. After a write error (full disk) nothing more is written:
        what is on disk already plays."""
        try:
            if self._container is not None and self.failure is None:
                self._guarded(self._finish, interrupted)
        finally:
            self._release()
            self._put_in_place()

    def _finish(self, interrupted: bool) -> None:
        self._encode(None)
        if self._audio is not None:
            frame_duration = 1.0 / self.fps if self.fps > 0 else 0.0
            self._audio.finish(self._last_pts + frame_duration if interrupted else None)
        self._container.close()
        self._container = None

    def _release(self) -> None:
        """Close whatever is still open, quietly: used after errors, when the disk may be full."""
        for closable in (self._container, self._audio, self._file):
            if closable is not None:
                try:
                    closable.close()
                except (OSError, av.FFmpegError):
                    pass
        self._container = self._audio = self._file = None

    def _put_in_place(self) -> None:
        """Rename the finished .partial file over the target; a file with no frame is removed. After a write
        error the frames encoded may never have reached the disk (a disk full from the start leaves an empty
        file): the file on disk is asked, so an empty or header-only file never replaces the target."""
        partial, self._writing_to = self._writing_to, None
        if partial is None or not partial.exists():
            return
        if self.frames_written == 0 or (self.failure is not None and not holds_a_frame(partial)):
            partial.unlink()
        else:
            os.replace(partial, self.path)


class _TrialSink(FileSink):
    """A FileSink that writes to memory: `check_recording` runs the real code path on one frame."""

    def _open_file(self) -> IO[bytes]:
        return io.BytesIO()

    def _guarded(self, step, *args) -> None:
        if self.failure is None:
            try:
                step(*args)
            except Exception as exc:  # noqa: BLE001 - reported by _trial
                self.failure = exc
