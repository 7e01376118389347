"""Sidecar .srt/.vtt: video timestamps, no overlaps, lines on disk as soon as they are final."""
from __future__ import annotations

from pathlib import Path

from realtime.captioner.base import Caption
from realtime.subtitles import SubtitleWriter, timestamp


def test_timestamps() -> None:
    assert timestamp(0, ",") == "00:00:00,000"
    assert timestamp(3661.2344, ".") == "01:01:01.234"
    assert timestamp(59.9996, ",") == "00:01:00,000"


def test_srt_and_vtt_timing_and_incremental_writes(tmp_path: Path) -> None:
    writer = SubtitleWriter(tmp_path / "clip.mp4")
    writer(Caption("first line", 0.0, 3.0))
    writer(Caption("second line", 2.5, 2.0))  # starts before the first ends: the first is cut at 2.5
    srt_so_far = (tmp_path / "clip.partial.srt").read_text()  # the name until the video is in place
    assert srt_so_far == "1\n00:00:00,000 --> 00:00:02,500\nfirst line\n\n"  # on disk before close()
    assert not (tmp_path / "clip.srt").exists()
    writer(Caption("third line", 6.0, 7.0))
    writer.close(video_end=8.25)
    assert (tmp_path / "clip.srt").read_text() == (
        "1\n00:00:00,000 --> 00:00:02,500\nfirst line\n\n"
        "2\n00:00:02,500 --> 00:00:04,500\nsecond line\n\n"
        "3\n00:00:06,000 --> 00:00:08,250\nthird line\n\n")
    assert (tmp_path / "clip.vtt").read_text() == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\nfirst line\n\n"
        "00:00:02.500 --> 00:00:04.500\nsecond line\n\n"
        "00:00:06.000 --> 00:00:08.250\nthird line\n\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.srt", "clip.vtt"]  # no .partial left


def test_subtitles_of_a_video_that_was_not_written_are_removed(tmp_path: Path) -> None:
    writer = SubtitleWriter(tmp_path / "clip.mp4")
    writer(Caption("first line", 0.0, 3.0))
    writer(Caption("second line", 3.0, 2.0))
    writer.close(keep=False)
    assert list(tmp_path.iterdir()) == []


def test_a_line_replaced_at_its_own_start_is_left_out(tmp_path: Path) -> None:
    writer = SubtitleWriter(tmp_path / "x.mkv")
    writer(Caption("gone", 1.0, 2.0))
    writer(Caption("kept", 1.0, 2.0))
    writer.close()
    assert (tmp_path / "x.srt").read_text() == "1\n00:00:01,000 --> 00:00:03,000\nkept\n\n"
