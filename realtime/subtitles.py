"""Sidecar subtitles (.srt and .vtt) for recordings, timed in the video's own clock.

Lines are written as they come (flushed each time), so a recording that is interrupted still has
subtitles for everything narrated so far. A line is written once the next one starts (or at close),
so that it can end where the next begins instead of overlapping it.

Like the video (realtime/recorder.py), they are written to NAME.partial.srt/.vtt and put in place at
close only when the video they describe was: a run that failed before writing its video (a full disk,
a broken input) leaves no subtitle file that would block the rerun, and a run killed outright leaves
NAME.partial.srt beside NAME.partial.mp4.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from realtime.captioner.base import Caption


def timestamp(seconds: float, separator: str) -> str:
    """HH:MM:SS,mmm (srt, separator ',') or HH:MM:SS.mmm (vtt, '.')."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def srt_block(number: int, start: float, end: float, text: str) -> str:
    return f"{number}\n{timestamp(start, ',')} --> {timestamp(end, ',')}\n{text}\n\n"


def vtt_block(start: float, end: float, text: str) -> str:
    return f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n{text}\n\n"


def sidecar_paths(video: Path) -> tuple[Path, Path]:
    """Where the subtitles of `video` go: same name, .srt and .vtt."""
    return video.with_suffix(".srt"), video.with_suffix(".vtt")


def partial_sidecar_paths(video: Path) -> tuple[Path, Path]:
    """Where they are written until the run ends: NAME.partial.srt and NAME.partial.vtt."""
    from realtime.recorder import partial_path  # the video's own rule, so the two always match

    return tuple(partial_path(path) for path in sidecar_paths(video))


class SubtitleWriter:
    """A caption subscriber that appends each line to NAME.partial.srt/.vtt beside the video; `close(keep=True)`
    renames them to NAME.srt and NAME.vtt."""

    def __init__(self, video: Path):
        self.srt_path, self.vtt_path = sidecar_paths(Path(video))
        self.partial_paths = partial_sidecar_paths(Path(video))
        self.srt_path.parent.mkdir(parents=True, exist_ok=True)
        self._srt = open(self.partial_paths[0], "w", encoding="utf-8")
        self._vtt = open(self.partial_paths[1], "w", encoding="utf-8")
        self._vtt.write("WEBVTT\n\n")
        self._vtt.flush()
        self._pending: Caption | None = None
        self._lock = threading.Lock()
        self.written = 0

    def __call__(self, caption: Caption) -> None:
        with self._lock:
            if self._pending is not None:
                self._write(self._pending, end=min(self._pending.end, caption.start))
            self._pending = caption

    def cut_short(self, caption: Caption) -> None:
        """The line not yet written ends earlier (a cut came): it will be written with its new end. The lock:
        close() comes from another thread than the captioner's lines."""
        with self._lock:
            if self._pending is not None and (self._pending.start, self._pending.text) == (caption.start, caption.text):
                self._pending = caption

    def _write(self, caption: Caption, end: float) -> None:
        if end <= caption.start:  # replaced before it could be read: leave it out
            return
        self.written += 1
        text = caption.text.replace("\n", " ").replace("-->", "->")
        self._srt.write(srt_block(self.written, caption.start, end, text))
        self._vtt.write(vtt_block(caption.start, end, text))
        self._srt.flush()
        self._vtt.flush()

    def close(self, video_end: float | None = None, keep: bool = True) -> None:
        """Write the last line (cut at `video_end` seconds if the video stops earlier), close, and put the
        files in place; `keep=False` (the video was not written) removes them instead."""
        with self._lock:
            if self._srt.closed:
                return
            try:
                if keep and self._pending is not None:
                    end = self._pending.end if video_end is None else min(self._pending.end, video_end)
                    self._write(self._pending, end)
                self._pending = None
            finally:
                self._srt.close()
                self._vtt.close()
                for partial, final in zip(self.partial_paths, (self.srt_path, self.vtt_path)):
                    if keep:
                        os.replace(partial, final)
                    else:
                        partial.unlink(missing_ok=True)
