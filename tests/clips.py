"""Tiny media files the frame-loop tests make for themselves, and decoders to check what came out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A moving test pattern (HxWx3 uint8 RGB): colour gradients plus a bright bar that slides right."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1),
                      np.full_like(xs, (index * 37) % 256)], axis=-1).astype(np.uint8)
    left = (index * 7) % width
    image[:, left:left + 12] = 255
    return image


def make_clip(path: Path, frames: int = 18, fps: int = 12, size: tuple[int, int] = (160, 96),
              audio: bool = True, sample_rate: int = 16000, codec: str = "libx264", audio_codec: str = "aac",
              rotation: int = 0, last_frame_at: float | None = None, audio_seconds: float | None = None) -> Path:
    """Write a clip: `frames` frames of the moving pattern, plus (if audio) a 440 Hz tone as long as the video.

    The container follows the suffix (.mp4, .ts, .avi, ...); rotation: a display-matrix tag in degrees
    counter-clockwise, as phones write for portrait video (the pixels stay as they are).
    last_frame_at: one more frame at this many seconds (the tone still ends after `frames`): played at
    its own speed (--realtime) such a clip cannot end before then, so a test can stop it whenever it
    likes. audio_seconds: the tone's length, if not that of the `frames` frames."""
    path = Path(path)
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        if audio:
            tone = out.add_stream(audio_codec, rate=sample_rate)
            tone.layout = "mono"
        ticks = list(range(frames)) + ([round(last_frame_at * fps)] if last_frame_at is not None else [])
        for i in ticks:
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio:
            seconds = audio_seconds if audio_seconds is not None else frames / fps
            t = np.arange(int(sample_rate * seconds)) / sample_rate
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
                chunk = chunk if tone.codec_context.format.name == "fltp" else _resampled(chunk, tone)
                chunk.sample_rate, chunk.pts = sample_rate, start
                out.mux(tone.encode(chunk))
            out.mux(tone.encode(None))
    return path


def photo_clip(path: Path, shots: list[tuple[np.ndarray, int]], fps: int = 8, codec: str = "libx264") -> Path:
    """A silent clip of still photos: each (HxWx3 uint8 RGB image, number of frames) in turn, all one size."""
    height, width = shots[0][0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        index = 0
        for image, count in shots:
            for _ in range(count):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = index
                index += 1
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return Path(path)


def _resampled(chunk: av.AudioFrame, stream) -> av.AudioFrame:
    """`chunk` in the sample format `stream`'s encoder wants (AC3 takes planar float, others s16...)."""
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=chunk.sample_rate)
    return resampler.resample(chunk)[0]


def blank_media_data(path: Path) -> Path:
    """Zero every byte of an MP4's media data (the `mdat` box), keeping its index: a file that opens
    but none of whose packets decode."""
    data = bytearray(Path(path).read_bytes())
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        if data[offset + 4:offset + 8] == b"mdat":
            data[offset + 8:offset + size] = bytes(size - 8)
        offset += max(size, 8)
    Path(path).write_bytes(bytes(data))
    return Path(path)


@dataclass
class Decoded:
    """Everything a test checks about a media file."""

    frames: list[np.ndarray]  # HxWx3 uint8 RGB
    pts: list[float]  # seconds
    duration: float  # container duration, seconds
    audio_seconds: float | None  # decoded audio length; None = no audio track

    @property
    def frame_interval(self) -> float:
        return float(np.median(np.diff(self.pts))) if len(self.pts) > 1 else 0.0


def decode(path: Path) -> Decoded:
    """Decode every video frame and all the audio of `path`."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, pts = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(float(frame.pts * frame.time_base))
        duration = (container.duration or 0) / 1e6
    audio_seconds = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            stream = container.streams.audio[0]
            audio_seconds = sum(f.samples for f in _decoded_audio(container, stream)) / stream.sample_rate
    return Decoded(frames, pts, duration, audio_seconds)


def _decoded_audio(container, stream):
    """Every audio frame that decodes (real recordings have the odd damaged packet)."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue
