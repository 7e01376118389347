"""Recording the stylized stream to a video file (PyAV), with the input's audio copied across.

Why it is written this way:
- Interrupted recordings must still play. MP4/MOV are written *fragmented* (an empty `moov` up
  front, then self-contained `moof+mdat` fragments, one per keyframe, with a keyframe every
  second), so a crash, Ctrl-C or a full disk loses at most the last second. MKV plays when cut.
- Timestamps are the source's own (`Frame.pts` in the source's time base), so the output has the
  same frame rate, duration and variable timing as the input.
- Audio is *remuxed*, not re-encoded: packets are copied from the input file in step with the
  video (every packet up to the time of the newest video frame), so they stay in sync, and an
  interrupted recording has audio up to where its video stops.
"""
from __future__ import annotations

import errno
import sys
from fractions import Fraction
from pathlib import Path
from typing import IO, Iterator

import av
import numpy as np

from common.errors import UserError
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


def check_output_path(path: Path, codec: str | None) -> tuple[str, str]:
    """Validate the file name and codec before any work starts; returns (muxer, codec)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise UserError(f"cannot record to '{path}': use one of {', '.join(CONTAINERS)} as the file extension")
    muxer, default_codec = CONTAINERS[suffix]
    codec = codec or default_codec
    try:
        found = av.Codec(codec, "w")
    except Exception:  # av.codec.codec.UnknownCodecError, which PyAV does not export stably
        encoders = sorted(c for c in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1", "mpeg4",
                                      "h264_nvenc", "hevc_nvenc") if c in av.codecs_available)
        raise UserError(f"video codec '{codec}' is not available in this FFmpeg build "
                        f"(available here: {', '.join(encoders)})") from None
    if found.type != "video":
        raise UserError(f"'{codec}' is a {found.type} codec, not a video codec")
    return muxer, codec


class FileSink(Sink):
    """Writes Frames to `path`; `close(interrupted)` finalises it (always call it, also on errors)."""

    def __init__(self, path: str | Path, *, fps: float, time_base: Fraction | None = None, codec: str | None = None,
                 audio_from: str | None = None, audio_start: float = 0.0):
        self.path = Path(path)
        self.muxer, self.codec = check_output_path(self.path, codec)
        self.fps = float(fps)
        self.time_base = time_base or Fraction(1, 1000)
        self.audio_from, self.audio_start = audio_from, float(audio_start)
        self.frames_written = 0
        self._file: IO[bytes] | None = None
        self._container = None
        self._video = None
        self._audio_in = None
        self._audio_out = None
        self._audio_packets: Iterator | None = None
        self._held_packet = None
        self._last_ticks = -1
        self._last_pts = 0.0
        self._broken = False

    # --- opening ---------------------------------------------------------------------------------

    def _open_file(self) -> IO[bytes]:
        """The byte stream the muxer writes to (a plain file; tests put a size limit on it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.path, "wb")

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
            self._open_audio()

    def _open_audio(self) -> None:
        self._audio_in = av.open(self.audio_from)
        template = self._audio_in.streams.audio[0]
        try:
            self._audio_out = self._container.add_stream_from_template(template)
        except (ValueError, av.FFmpegError) as exc:
            print(f"stylecast: warning: the input's audio ({template.codec_context.name}) cannot go into "
                  f"{self.path.suffix} ({exc}); recording without audio", file=sys.stderr)
            self._audio_in.close()
            self._audio_in = None
            return
        self._audio_packets = self._audio_in.demux(template)

    # --- writing ---------------------------------------------------------------------------------

    def write(self, frame: Frame) -> None:
        """Encode one frame at its own pts (seconds); pts that do not increase are nudged by one tick."""
        image = frame.image[: frame.image.shape[0] & ~1, : frame.image.shape[1] & ~1]  # yuv420p needs even sizes
        if self._container is None:
            self._open(image.shape[1], image.shape[0])
        ticks = max(round(frame.pts / self.time_base), self._last_ticks + 1)
        av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        av_frame.pts, av_frame.time_base = ticks, self.time_base
        self._guarded(self._encode, av_frame)
        self._last_ticks, self._last_pts = ticks, float(ticks * self.time_base)
        self.frames_written += 1
        self._guarded(self._copy_audio_until, self._last_pts)

    def _encode(self, av_frame: av.VideoFrame | None) -> None:
        for packet in self._video.encode(av_frame):
            self._container.mux(packet)

    def _copy_audio_until(self, seconds: float | None) -> None:
        """Mux input audio packets that start before `seconds` (None = all that are left)."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._held_packet or next(self._audio_packets, None)
            self._held_packet = None
            if packet is None:
                self._audio_packets = None
                return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            in_base = packet.time_base
            shift = round(self.audio_start / in_base)
            start = float((packet.pts - shift) * in_base)
            if seconds is not None and start > seconds:
                self._held_packet = packet
                return
            if start < 0:  # encoder priming / audio before the first video frame: it would shift the sync
                continue
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = self._audio_out
            self._container.mux(packet)

    def _guarded(self, step, *args) -> None:
        """Run a write step; a full disk becomes a UserError that says what was kept."""
        try:
            step(*args)
        except OSError as exc:
            self._broken = True
            if exc.errno == errno.ENOSPC:
                raise UserError(f"disk full while recording {self.path}: recording stopped at frame "
                                f"{self.frames_written}; what reached the disk still plays") from None
            raise

    # --- closing ---------------------------------------------------------------------------------

    def close(self, interrupted: bool = False) -> None:
        """Flush the encoder, copy the rest of the audio (only up to the video's end if interrupted), close.

        After a write error (full disk) nothing more is written: what is on disk already plays.
        """
        try:
            if self._container is not None and not self._broken:
                self._guarded(self._finish, interrupted)
        finally:
            self._release()

    def _finish(self, interrupted: bool) -> None:
        self._encode(None)
        frame_duration = 1.0 / self.fps if self.fps > 0 else 0.0
        self._copy_audio_until(self._last_pts + frame_duration if interrupted else None)
        self._container.close()
        self._container = None

    def _release(self) -> None:
        """Close whatever is still open, quietly: used after errors, when the disk may be full."""
        for closable in (self._container, self._audio_in, self._file):
            if closable is not None:
                try:
                    closable.close()
                except (OSError, av.FFmpegError):
                    pass
        self._container = self._audio_in = self._file = None
