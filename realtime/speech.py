"""Spoken narration for recordings: espeak-ng speaks each caption, and the speech is mixed into the
finished file's audio track at the caption's time.

The recording is post-processed once it is closed: video packets are copied untouched, the existing
audio (if any) is decoded, the speech is added on top, and the result is encoded with the container's
audio codec (AAC; Opus for WebM), as a new audio track when the recording had none. The new file replaces the old one only when it is complete.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from common.errors import UserError
from realtime.captioner.base import Caption

VOICES = {"en": "en-us", "zh": "cmn"}
MIX_RATE = 48_000  # Hz, the rate of a new audio track
SPEECH_GAIN = 0.9  # speech level relative to full scale
DUCK = 0.5  # the original audio is turned down to this while a line is spoken


def check_tts(lang: str) -> None:
    """A clear error now (before recording) when espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        raise UserError("--speak needs espeak-ng: install it (apt-get install espeak-ng, brew install espeak-ng)")
    if lang not in VOICES:
        raise UserError(f"--speak has no voice for language {lang!r}")


def synthesize(text: str, lang: str) -> tuple[np.ndarray, int]:
    """espeak-ng speech for `text`: (mono float32 samples in -1..1, sample rate Hz)."""
    check_tts(lang)
    result = subprocess.run(["espeak-ng", "-v", VOICES[lang], "-s", "165", "--stdout", text],
                            capture_output=True, timeout=60, check=False)
    if result.returncode != 0 or len(result.stdout) < 44:
        raise UserError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip() or 'no audio'}")
    return _parse_wav(result.stdout)


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV from a pipe (espeak-ng writes placeholder chunk sizes when streaming)."""
    rate = struct.unpack_from("<I", data, 24)[0]
    channels = struct.unpack_from("<H", data, 22)[0]
    start = data.find(b"data") + 8
    pcm = np.frombuffer(data[start: start + (len(data) - start) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
    return pcm.reshape(-1, channels).mean(axis=1), rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear resampling of mono audio (good enough for speech)."""
    if rate == target or samples.size == 0:
        return samples
    n = int(round(samples.size * target / rate))
    return np.interp(np.arange(n) * rate / target, np.arange(samples.size), samples).astype(np.float32)


def speech_track(captions: list[Caption], rate: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(mono speech, 0/1 'someone is talking' mask), `length` samples at `rate`, each line at its start."""
    speech = np.zeros(length, np.float32)
    talking = np.zeros(length, np.float32)
    for caption in captions:
        voice, voice_rate = synthesize(caption.text, caption.lang)
        voice = resample(voice, voice_rate, rate)
        start = int(round(caption.start * rate))
        end = min(length, start + voice.size)
        if end > start:
            speech[start:end] += voice[: end - start] * SPEECH_GAIN
            talking[start:end] = 1.0
    return speech, talking


def _decode_audio(container: av.container.InputContainer, rate: int, layout: str) -> np.ndarray:
    """The first audio stream as (channels, samples) float32 at `rate`, starting at time 0."""
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    chunks, first = [], None
    for frame in container.decode(stream):
        if first is None and frame.pts is not None:
            first = float(frame.pts * stream.time_base)
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray())
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray())
    channels = len(av.AudioLayout(layout).channels)
    audio = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    lead = int(round(max(0.0, first or 0.0) * rate))  # audio that starts late keeps its place
    return np.pad(audio, ((0, 0), (lead, 0)))


def mix_narration(video: Path, captions: list[Caption]) -> None:
    """Mix spoken `captions` into `video`'s audio (or add an audio track), replacing the file when done."""
    if not captions:
        return
    video = Path(video)
    encoder = _speech_encoder(video)
    with av.open(str(video)) as source:
        if not source.streams.video:
            raise UserError(f"{video} has no video stream to narrate")
        vstream = source.streams.video[0]
        duration = float(source.duration / av.time_base) if source.duration else max(c.end for c in captions)
        has_audio = bool(source.streams.audio)
        if has_audio:
            astream = source.streams.audio[0]
            rate = MIX_RATE if "opus" in encoder else (astream.rate or MIX_RATE)
            layout = "stereo" if (astream.channels or 2) >= 2 else "mono"
            original = _decode_audio(source, rate, layout)
        else:
            rate, layout = MIX_RATE, "mono"
            original = np.zeros((1, 0), np.float32)
    length = max(original.shape[1], int(round(duration * rate)))
    original = np.pad(original, ((0, 0), (0, length - original.shape[1])))
    speech, talking = speech_track(captions, rate, length)
    mixed = np.clip(original * (1.0 - (1.0 - DUCK) * talking) + speech, -1.0, 1.0).astype(np.float32)
    tmp = video.with_name(f".{video.stem}.speaking{video.suffix}")
    try:
        _remux_with_audio(video, tmp, mixed, rate, layout, encoder)
        os.replace(tmp, video)
    finally:
        tmp.unlink(missing_ok=True)


def _speech_encoder(video: Path) -> str:
    """The audio encoder the recording's container takes (MIX_RATE suits all of them, Opus included)."""
    from realtime.audio import audio_encoder
    from realtime.recorder import CONTAINERS

    muxer = CONTAINERS.get(video.suffix.lower(), ("matroska", ""))[0]
    encoder = audio_encoder(muxer)
    if encoder is None:
        raise UserError(f"--speak: this FFmpeg build has no audio encoder for {video.suffix} files")
    return encoder


def _remux_with_audio(video: Path, target: Path, audio: np.ndarray, rate: int, layout: str,
                      encoder: str = "aac") -> None:
    """Copy `video`'s video packets into `target` and encode `audio` ((channels, samples)) with `encoder`."""
    with av.open(str(video)) as source, av.open(str(target), "w") as out:
        vin = source.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream(encoder, rate=rate, layout=layout)
        aout.time_base = Fraction(1, rate)
        chunk = 1024
        written = 0  # samples encoded so far

        def encode_until(seconds: float) -> None:
            nonlocal written
            while written < audio.shape[1] and written / rate <= seconds:
                block = np.ascontiguousarray(audio[:, written: written + chunk])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = rate, written, aout.time_base
                out.mux(aout.encode(frame))
                written += block.shape[1]

        for packet in source.demux(vin):
            if packet.dts is None:
                continue
            encode_until(float(packet.dts * vin.time_base) + 0.5)  # keep the two streams interleaved
            packet.stream = vout
            out.mux(packet)
        encode_until(float("inf"))
        out.mux(aout.encode(None))
