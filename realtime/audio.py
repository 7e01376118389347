"""The audio track of a recording: the input's audio, copied when the container takes it, else re-encoded.

Copying keeps the sound bit-exact and costs nothing, but containers only take some codecs: WebM takes
Opus and Vorbis only, and fragmented MP4 cannot hold AC3 (its header would have to wait for the first
AC3 packet). So the codec is checked against the container first, and anything else is decoded and
encoded again (AAC for MP4/MOV/MKV, Opus for WebM) instead of being dropped.

Packets are muxed in step with the video: everything that starts before the newest video frame's time,
so the streams stay interleaved and an interrupted recording has audio up to where its video stops.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterator

import av

COPYABLE = {  # muxer -> audio codecs copied as they are (None: any)
    "mp4": {"aac", "mp3", "alac"},
    "mov": {"aac", "mp3", "alac"},
    "webm": {"opus", "vorbis"},
    "matroska": None,
}
ENCODERS = {  # muxer -> audio encoders to use when copying is impossible, best first
    "webm": ("libopus", "opus", "libvorbis", "vorbis"),
}
DEFAULT_ENCODERS = ("aac",)
OPUS_RATE = 48_000  # Opus only runs at 48 kHz (and a few lower rates)


def audio_encoder(muxer: str) -> str | None:
    """The audio encoder for `muxer` that this FFmpeg build has, or None."""
    return next((name for name in ENCODERS.get(muxer, DEFAULT_ENCODERS) if name in av.codecs_available), None)


def can_copy(codec: str, muxer: str) -> bool:
    allowed = COPYABLE.get(muxer, set())
    return allowed is None or codec in allowed


class AudioTrack:
    """The input file's first audio stream, added to an output `container` by copy or re-encoding.

    mode: "copy", "encode", or "auto" (copy when the container takes the codec, else encode).
    start: seconds in the input's clock where the video's time 0 sits.
    """

    def __init__(self, container: av.container.OutputContainer, muxer: str, source: str, start: float = 0.0,
                 mode: str = "auto"):
        self.container, self.start = container, float(start)
        self.input = av.open(source)
        try:
            self.stream = self.input.streams.audio[0]
            codec = self.stream.codec_context.name
            self.mode = ("copy" if can_copy(codec, muxer) else "encode") if mode == "auto" else mode
            self.out = self._add_output(muxer)
        except BaseException:
            self.input.close()
            raise
        self._packets: Iterator | None = self.input.demux(self.stream)
        self._held = None  # a packet read ahead that belongs after the current video time

    def _add_output(self, muxer: str):
        if self.mode == "copy":
            return self.container.add_stream_from_template(self.stream)
        encoder = audio_encoder(muxer)
        if encoder is None:
            raise ValueError(f"this FFmpeg build has no audio encoder for {muxer}")
        context = self.stream.codec_context
        rate = OPUS_RATE if "opus" in encoder else (context.sample_rate or OPUS_RATE)
        layout = "stereo" if (context.channels or 2) >= 2 else "mono"
        out = self.container.add_stream(encoder, rate=rate, layout=layout)
        out.time_base = Fraction(1, rate)
        return out

    @property
    def description(self) -> str:
        """'aac copied' or 'ac3 re-encoded as aac', for the run's log."""
        name = self.stream.codec_context.name
        return f"{name} copied" if self.mode == "copy" else f"{name} re-encoded as {self.out.codec_context.name}"

    def write_until(self, seconds: float | None) -> None:
        """Mux the audio that starts before `seconds` of video time (None: all that is left)."""
        while self._packets is not None:
            packet = self._held or next(self._packets, None)
            self._held = None
            if packet is None:
                self._packets = None
                self._flush()
                return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            when = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base) - self.start
            if seconds is not None and when > seconds:
                self._held = packet
                return
            if self.mode == "copy":
                self._copy(packet)
            else:
                self._encode(packet)

    def finish(self, seconds: float | None) -> None:
        """Write the rest (up to `seconds` of video time) and flush the encoder."""
        self.write_until(seconds)
        if self._packets is not None:
            self._packets = None
            self._flush()

    def _copy(self, packet: av.Packet) -> None:
        shift = round(self.start / packet.time_base)
        if packet.pts is not None and packet.pts < shift:  # encoder priming / audio before the first frame
            return
        if packet.pts is not None:
            packet.pts -= shift
        packet.dts -= shift
        packet.stream = self.out
        self.container.mux(packet)

    def _encode(self, packet: av.Packet) -> None:
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:  # one damaged audio packet: a short gap, not a failed recording
            return
        for frame in frames:
            if frame.pts is None:
                continue
            offset = float(frame.pts * frame.time_base) - self.start
            if offset < 0:
                continue
            frame.pts, frame.time_base = round(offset * frame.sample_rate), Fraction(1, frame.sample_rate)
            self._mux_encoded(self.out.encode(frame))

    def _mux_encoded(self, packets: list[av.Packet]) -> None:
        """The encoder's first packet starts before 0 (its priming samples). A negative time makes the
        muxer shift *every* stream later, video included; dropping that one packet keeps both in place."""
        self.container.mux([p for p in packets if p.pts is None or p.pts >= 0])

    def _flush(self) -> None:
        if self.mode == "encode":
            self._mux_encoded(self.out.encode(None))

    def close(self) -> None:
        self.input.close()
