"""--speak: espeak-ng narration mixed into a finished recording at the caption times."""
from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from realtime.captioner.base import Caption
from realtime.speech import mix_narration, synthesize
from clips import make_clip

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def decode(path: Path) -> tuple[np.ndarray, int, int, float]:
    """(mono audio, sample rate, video frames, video seconds) of a file."""
    with av.open(str(path)) as container:
        video = sum(1 for _ in container.decode(video=0))
        container.seek(0)
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
        seconds = float(container.duration / av.time_base)
        return np.concatenate(chunks), stream.rate, video, seconds


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0


@pytest.mark.parametrize("lang, text", [("en", "Hello there"), ("zh", "你好呀")])
def test_synthesize_speaks(lang: str, text: str) -> None:
    samples, rate = synthesize(text, lang)
    assert rate > 8000 and 0.3 < samples.size / rate < 5 and rms(samples) > 0.02


def test_speech_is_added_where_there_was_no_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "silent.mp4", frames=30, fps=10, audio=False)
    mix_narration(clip, [Caption("Hello there", 1.5, 1.0)])
    audio, rate, frames, seconds = decode(clip)
    assert frames == 30 and seconds == pytest.approx(3.0, abs=0.15)
    assert rms(audio[: int(1.4 * rate)]) < 1e-3  # silence until the caption starts
    assert rms(audio[int(1.5 * rate): int(2.2 * rate)]) > 0.02  # then the voice


def test_speech_is_mixed_over_existing_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "tone.mp4", frames=30, fps=10, audio=True)
    before, rate, _, _ = decode(clip)
    mix_narration(clip, [Caption("Hello there", 1.0, 1.0, "en")])
    after, rate_after, frames, _ = decode(clip)
    assert rate_after == rate and frames == 30
    n = min(before.size, after.size)
    change = np.abs(after[:n] - before[:n])
    # the original tone is kept before the line; the line changes the track from 1.0 s on
    assert change[: int(0.9 * rate)].mean() < 0.02
    assert change[int(1.0 * rate): int(1.6 * rate)].mean() > 0.05
    assert rms(after[: int(0.9 * rate)]) == pytest.approx(rms(before[: int(0.9 * rate)]), rel=0.1)
