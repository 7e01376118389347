"""Where frames come from: webcams (OpenCV), video files and network streams (PyAV), image folders, the demo.

Every source yields `realtime.frames.Frame`s (HxWx3 uint8 RGB, pts in seconds from the source's start,
captured_at = time.monotonic()). `live` says whether the source runs on its own clock (a camera,
an RTSP stream, the demo): the pipeline then keeps only the newest frame. Files are not live: every
frame is processed, in order, as fast as the model allows (or at their own rate with `realtime=True`).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from common.console import say, warn
from common.errors import UserError
from realtime.frames import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts", ".flv", ".wmv", ".mpg", ".mpeg", ".gif"}
LIVE_URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://", "srt://")
CAMERA_LOST_AFTER_S = 2.0  # no frame for this long from a camera = unplugged
RECONNECT_EVERY_S = 1.0


class SourceLost(UserError):
    """A live source (camera, stream) stopped delivering frames mid-way."""


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); raises UserError for anything else."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"resolution '{text}' is not WIDTHxHEIGHT (for example 1280x720)") from None
    if width < 16 or height < 16 or width > 8192 or height > 8192:
        raise UserError(f"resolution '{text}' is out of range (16..8192 per side)")
    return width, height


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale `image` to fit inside size=(width, height) keeping its aspect, centred on black bars."""
    height, width = image.shape[:2]
    scale = min(size[0] / width, size[1] / height)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    left, top = (size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2
    canvas[top:top + inner[1], left:left + inner[0]] = fit_to(image, inner)
    return canvas


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """Turn decoded pixels the way the file's display matrix says (`rotation`: degrees counter-clockwise,
    as FFmpeg reports it); a phone's portrait clip is stored sideways with such a tag."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def fit_to(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize to size=(width, height) when it differs (INTER_AREA when shrinking: no aliasing)."""
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class FrameSource(ABC):
    """A stream of Frames; `stop()` may be called from any thread and makes `frames()` end soon."""

    live: bool = False
    fps: float = 30.0
    time_base: Fraction | None = None
    expected_frames: int | None = None  # for the progress bar; None = unknown or endless
    audio_path: str | None = None  # a file whose audio track a recording copies
    start_time: float = 0.0  # seconds: where pts 0 sits in `audio_path`'s clock
    description: str = "?"
    stopped_early: str | None = None  # why reading ended before the end of the input (truncated, damaged)

    def __init__(self) -> None:
        self.corrupt_frames = 0
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _sleep_until(self, deadline: float) -> None:
        """Sleep until time.monotonic() == deadline, waking early on stop()."""
        delay = deadline - time.monotonic()
        if delay > 0:
            self._stopping.wait(delay)

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Yields frames until the source ends or stop() is called."""

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- webcam -------------------------------------------------------------------------------------

def _camera_hint() -> str:
    if sys.platform.startswith("linux"):
        present = sorted(str(p) for p in Path("/dev").glob("video*"))
        found = ", ".join(present) if present else "none"
        return f"cameras present: {found}; try another index, a file, or --source demo"
    return "check that it is plugged in and not used by another program; or use --source demo"


class CameraSource(FrameSource):
    """A webcam by index (0, 1, ...) or device path (/dev/video2), via OpenCV.

    Asks for MJPG first: most USB cameras only reach 720p/1080p at 30 fps compressed; OpenCV falls
    back to whatever the camera offers. The driver's buffer is kept to one frame so what we read is
    the newest picture, not one from a queue.
    """

    live = True

    def __init__(self, device: int | str, size: tuple[int, int] | None = None, fps: float | None = None,
                 reconnect: bool = False):
        super().__init__()
        self.device, self.size, self.requested_fps, self.reconnect = device, size, fps, reconnect
        self.description = f"camera {device}"
        self.time_base = Fraction(1, 1000)  # live pts are wall-clock milliseconds
        self.capture = self._open()

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.device, int) and sys.platform.startswith("linux") and \
                not Path(f"/dev/video{self.device}").exists():
            raise UserError(f"{self.description} could not be opened ({_camera_hint()})")
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our one-line error says it better
        try:
            capture = cv2.VideoCapture(self.device)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not capture.isOpened():
            capture.release()
            raise UserError(f"{self.description} could not be opened ({_camera_hint()})")
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if self.size:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if self.requested_fps:
            capture.set(cv2.CAP_PROP_FPS, self.requested_fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        reported = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(self.requested_fps or (reported if 1 <= reported <= 240 else 30.0))
        return capture

    def _wait_for_camera(self) -> bool:
        """Reopen the camera once a second until it is back (True) or stop() is called (False)."""
        warn(f"{self.description} disconnected; waiting for it to come back (Ctrl-C to stop)")
        self.capture.release()
        while not self.stopping:
            try:
                self.capture = self._open()
                say(f"{self.description} reconnected")
                return True
            except UserError:
                self._stopping.wait(RECONNECT_EVERY_S)
        return False

    def frames(self) -> Iterator[Frame]:
        index, start = 0, time.monotonic()
        last_good = start
        while not self.stopping:
            ok, bgr = self.capture.read()
            now = time.monotonic()
            if not ok or bgr is None:
                if now - last_good < CAMERA_LOST_AFTER_S:
                    self._stopping.wait(0.02)  # a hiccup; a dead camera fails instantly, so don't spin
                    continue
                if self.reconnect and self._wait_for_camera():
                    last_good = time.monotonic()
                    continue
                if self.stopping:
                    return
                raise SourceLost(f"{self.description} stopped delivering frames (unplugged?) after {index} frames; "
                                 "use --reconnect to wait for it")
            last_good = now
            if bgr.ndim != 3 or bgr.shape[2] != 3:
                self.corrupt_frames += 1
                continue
            rgb = fit_to(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size)
            yield Frame(rgb, now - start, now, index, self.time_base)
            index += 1

    def close(self) -> None:
        self.capture.release()


# --- files and network streams ------------------------------------------------------------------

def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


class BestEffortTimestamps:
    """FFmpeg's guess_correct_pts: a frame's time from its pts, or its dts when the pts are the ones
    that run backwards. AVI has no presentation times at all: its packets are numbered in decode
    order, so DivX/Xvid files with B-frames carry 1, 2, 3, 5, 4, ... as pts, while the dts that comes
    out with each decoded frame is its place in display order (`prefer_dts`)."""

    def __init__(self, prefer_dts: bool = False) -> None:
        self.prefer_dts = prefer_dts
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts = self.last_dts = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if self.prefer_dts and dts is not None:
            return dts
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


class VideoFileSource(FrameSource):
    """A video file or network URL decoded with PyAV, keeping the file's own timestamps.

    Packets that fail to decode (damaged data) are skipped and counted in `corrupt_frames`.
    `realtime=True` plays the file at its own frame rate (for a preview or the virtual camera)
    and makes it live, so a slow model drops frames instead of slowing the clock.
    """

    def __init__(self, location: str, size: tuple[int, int] | None = None, realtime: bool = False,
                 reconnect: bool = False):
        super().__init__()
        self.description = location
        self.download: Path | None = None  # a web file fetched to a temporary file first (see fetch)
        if is_web_file(location):
            self.download = location = str(fetch(location))
        self.location, self.size, self.reconnect = location, size, reconnect
        self.is_url = "://" in location
        if not self.is_url and not Path(location).is_file():
            raise UserError(f"input file not found: {location}")
        self.position = 0.0  # pts (seconds) of the last frame read, for "stopped at 12.0 of 30.0 s"
        self.stopped_early: str | None = None  # why reading ended before the end of the file
        try:
            self.container = self._open()
        except BaseException:
            self._remove_download()
            raise
        stream = self.container.streams.video[0]
        self.time_base = stream.time_base
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 30.0
        self.start_time = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        duration = self.container.duration  # microseconds, None for endless streams
        self.expected_frames = stream.frames or (round(duration / 1e6 * self.fps) if duration else None)
        self.duration = duration / 1e6 if duration else None
        self.live = realtime or (self.is_url and (location.startswith(LIVE_URL_SCHEMES) or duration is None))
        self.realtime = realtime and not self.is_url  # network streams pace themselves
        self.audio_path = location if (self.container.streams.audio and not self.is_url) else None
        if self.container.streams.audio and self.is_url:
            warn(f"the audio of the live stream {location} is not recorded (only files keep their audio)")

    def _open(self):
        import av

        options = {"rtsp_transport": "tcp"} if self.location.startswith(("rtsp://", "rtsps://")) else {}
        try:
            container = av.open(self.location, options=options, timeout=(10.0, 10.0) if self.is_url else None)
        except av.FFmpegError as exc:
            what = "stream" if self.is_url else "file"
            raise UserError(f"cannot open {what} {self.location}: {_ffmpeg_reason(exc)} "
                            "(not a video, damaged, or unreachable)") from None
        if not container.streams.video:
            container.close()
            raise UserError(f"{self.location} has no video track")
        stream = container.streams.video[0]
        codec = stream.codec_context.codec if stream.codec_context is not None else None
        if codec is None or not codec.is_decoder:
            tag = getattr(stream.codec_context, "codec_tag", None) or "unknown"
            container.close()
            raise UserError(f"{self.location}: video codec '{tag}' is not supported by this FFmpeg build")
        stream.thread_type = "AUTO"  # frame + slice threads: decoding keeps up with the model
        return container

    def _decoded(self) -> Iterator:
        """Decoded av.VideoFrames; damaged packets are counted and skipped, not fatal."""
        import av

        stream = self.container.streams.video[0]
        try:
            for packet in self.container.demux(stream):
                if self.stopping:
                    return
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    self.corrupt_frames += 1
                    continue
                except av.FFmpegError as exc:
                    if "codec" in str(exc).lower() or "decoder" in str(exc).lower():
                        raise UserError(f"{self.location}: cannot decode video codec "
                                        f"'{stream.codec_context.name}' ({_ffmpeg_reason(exc)})") from None
                    self.corrupt_frames += 1
                    continue
                for frame in decoded:
                    if frame.is_corrupt:
                        self.corrupt_frames += 1
                        continue
                    yield frame
        except av.FFmpegError as exc:  # the container itself broke (truncated file, network drop)
            if not self.live:
                self.corrupt_frames += 1
                total = f" of {self.duration:.1f}" if self.duration else ""
                self.stopped_early = (f"reading {self.description} stopped early at {self.position:.1f}{total} s "
                                      f"({_ffmpeg_reason(exc)}); the rest of the file was not processed")
                warn(self.stopped_early)
                return
            raise SourceLost(f"stream {self.location} dropped ({_ffmpeg_reason(exc)})") from None

    def frames(self) -> Iterator[Frame]:
        index, started = 0, time.monotonic()
        timestamps = BestEffortTimestamps(prefer_dts=self.container.format.name == "avi")
        while True:
            for av_frame in self._decoded():
                ticks = timestamps(av_frame.pts, av_frame.dts)
                if ticks is None:
                    pts = index / self.fps
                else:
                    pts = float(ticks * self.time_base) - self.start_time
                if self.realtime:
                    self._sleep_until(started + pts)
                self.position = pts
                image = fit_to(upright(av_frame.to_ndarray(format="rgb24"), av_frame.rotation), self.size)
                yield Frame(image, pts, time.monotonic(), index, self.time_base)
                index += 1
            self._check_complete()
            if not (self.is_url and self.reconnect and not self.stopping):
                return
            warn(f"stream {self.location} ended; reconnecting")
            self.container.close()
            while not self.stopping:
                try:
                    self.container = self._open()
                    break
                except UserError:
                    self._stopping.wait(RECONNECT_EVERY_S)

    def _check_complete(self) -> None:
        """Warn when a file ends well before the duration its header gives (cut off, e.g. a copy that
        was interrupted): the demuxer just stops, and the run would otherwise look complete."""
        missing = (self.duration or 0.0) - self.position
        if self.live or self.stopping or self.stopped_early or missing <= max(1.0, 0.05 * (self.duration or 0)):
            return
        self.stopped_early = (f"{self.description} ended at {self.position:.1f} of {self.duration:.1f} s "
                              "(the file looks cut short); only that much was processed")
        warn(self.stopped_early)

    def close(self) -> None:
        self.container.close()
        self._remove_download()

    def _remove_download(self) -> None:
        if self.download is not None:
            Path(self.download).unlink(missing_ok=True)
            self.download = None


def is_web_file(location: str) -> bool:
    """An http(s) URL of a video *file* (by its extension), as opposed to a live or HLS stream."""
    from urllib.parse import urlparse

    parsed = urlparse(location)
    return parsed.scheme in ("http", "https") and Path(parsed.path).suffix.lower() in VIDEO_SUFFIXES


def fetch(url: str) -> Path:
    """Download a web video file to a temporary file and return its path.

    Reading it straight from the server fails when the file's index sits at its end and the server
    cannot serve byte ranges (common), and its audio could not be copied without a second download.
    """
    import shutil
    import tempfile
    import urllib.error
    import urllib.request
    from urllib.parse import urlparse

    suffix = Path(urlparse(url).path).suffix.lower()
    handle, name = tempfile.mkstemp(prefix="stylecast-", suffix=suffix)
    say(f"downloading {url} to a temporary file first")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(name).unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UserError(f"cannot download {url}: {reason}") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


# --- image folder -------------------------------------------------------------------------------

def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def video_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


class ImageFolderSource(FrameSource):
    """Every image in a folder (sorted by name) as one frame at `fps`; unreadable images are skipped.

    Each image keeps its own size and aspect. Frames that must share one size (`uniform`: a video file
    or the virtual camera) are fitted into `size`, or the first image's size, with black bars:
    never stretched. With `size` and not uniform, each image is fitted into `size` the same way.
    """

    def __init__(self, folder: Path, size: tuple[int, int] | None = None, fps: float | None = None,
                 uniform: bool = False):
        super().__init__()
        self.paths = image_files(folder)
        if not self.paths:
            raise UserError(f"{folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos")
        self.size, self.fps = size, float(fps or 25.0)
        self.time_base = Fraction(1, round(self.fps)) if float(self.fps).is_integer() else Fraction(1, 1000)
        self.expected_frames = len(self.paths)
        self.uniform = uniform
        self.names: dict[int, str] = {}  # frame index -> image file stem, for writing results under the same name
        self.files: dict[int, Path] = {}  # frame index -> the image file it came from
        self.description = f"{folder} ({len(self.paths)} images)"

    def frames(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            if self.stopping:
                return
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                self.corrupt_frames += 1
                warn(f"skipping unreadable image {path}")
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            self.names[index], self.files[index] = path.stem, path
            if self.uniform and self.size is None:
                self.size = (rgb.shape[1], rgb.shape[0])
            image = rgb if self.size is None or (rgb.shape[1], rgb.shape[0]) == self.size else letterbox(rgb, self.size)
            yield Frame(image, index / self.fps, time.monotonic(), index, self.time_base)
            index += 1


# --- demo ---------------------------------------------------------------------------------------

class DemoSource(FrameSource):
    """The built-in demo scene (realtime/demo.py) as a live camera at `fps`, or as fast as asked.

    live=True paces frames on the wall clock like a webcam; live=False renders every frame with no
    waiting (benchmarks of raw throughput).
    """

    def __init__(self, size: tuple[int, int] | None = None, fps: float | None = None, live: bool = True):
        super().__init__()
        from realtime.demo import DemoScene

        self.size = size or (640, 360)
        self.fps = float(fps or 30.0)
        self.live = live
        self.time_base = Fraction(1, round(self.fps)) if self.fps.is_integer() else Fraction(1, 1000)
        self.scene = DemoScene(*self.size)
        self.description = f"demo scene {self.size[0]}x{self.size[1]} @ {self.fps:g} fps"

    def frames(self) -> Iterator[Frame]:
        index, start = 0, time.monotonic()
        while not self.stopping:
            pts = index / self.fps
            if self.live:
                self._sleep_until(start + pts)
            image = self.scene.render(pts)
            yield Frame(image, pts, time.monotonic(), index, self.time_base)
            index += 1


# --- choosing a source --------------------------------------------------------------------------

def open_source(spec: str, *, size: tuple[int, int] | None = None, fps: float | None = None,
                reconnect: bool = False, realtime: bool = False, uniform: bool = True) -> FrameSource:
    """Turn the --source text into a source: 'demo', a camera index, /dev/videoN, a URL, a file or a folder.

    uniform: whether every frame must have the same size (a video file, the virtual camera); only
    an image folder's frames can differ."""
    spec = str(spec).strip()
    if spec in ("", "demo"):
        # Recorded, the demo renders every frame (a smooth clip); shown, it behaves like a webcam.
        return DemoSource(size, fps, live=realtime)
    if spec.isdigit():
        return CameraSource(int(spec), size, fps, reconnect)
    if spec.startswith("/dev/video"):
        if not os.path.exists(spec):
            raise UserError(f"camera {spec} does not exist ({_camera_hint()})")
        return CameraSource(spec, size, fps, reconnect)
    if "://" in spec:
        return VideoFileSource(spec, size, realtime=False, reconnect=reconnect)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, size, fps, uniform=uniform)
    if not path.exists():
        raise UserError(f"input not found: {spec} (give a camera index, /dev/videoN, a video file, a URL, "
                        "an image folder, or 'demo')")
    from realtime.animated_image import AnimatedImageSource, is_animated_image

    if is_animated_image(path):
        return AnimatedImageSource(path, size, realtime=realtime)
    return VideoFileSource(spec, size, realtime=realtime)
