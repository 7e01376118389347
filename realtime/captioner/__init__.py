"""The captioner: spoken-style narration of the video, beside the frame loop.

`build_captioning(args, output_path)` is the one entry point for `run` and `serve`: it picks the
narrator (offline detectors, a local transformers model, or Ollama), starts the CaptionService
(the CaptionSource), the SubtitleOverlay (the CaptionRenderer), and the subscribers that keep
.srt/.vtt beside a recording and the OBS text file up to date. `finish()` closes all of it and, with
--speak, mixes the spoken narration into the finished recording.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import UserError
from realtime.captioner.base import Caption, CaptionRenderer, CaptionSource
from realtime.captioner.service import CaptionService, Narrator

log = logging.getLogger(__name__)

__all__ = ["Caption", "CaptionRenderer", "CaptionSource", "CaptionService", "Captioning", "build_captioning",
           "build_narrator"]


@dataclass
class Captioning:
    """What `run`/`serve` hold for one output: the source and renderer for the FrameProcessor, and finish()."""

    source: CaptionService | None
    renderer: CaptionRenderer | None
    output_path: Path | None = None
    speak: bool = False
    subtitles: object | None = None  # SubtitleWriter when a recording gets sidecar subtitles
    captions: list[Caption] = field(default_factory=list)  # everything narrated, for --speak
    _finished: bool = False

    def finish(self, video_written: bool = True) -> None:
        """After the recording is closed: stop narrating, complete .srt/.vtt, mix in the speech (--speak).

        video_written: whether this run put its video in place; if not, its subtitles are removed too."""
        if self._finished:
            return
        self._finished = True
        if self.source is not None:
            self.source.close()
        if self.subtitles is not None:
            self.subtitles.close(video_end=_video_duration(self.output_path) if video_written else None,
                                 keep=video_written)
        if self.speak and self.captions and self.output_path is not None and self.output_path.is_file():
            from realtime.speech import mix_narration

            mix_narration(self.output_path, self.captions)


def _video_duration(path: Path | None) -> float | None:
    """Seconds of video in a finished recording (None when it cannot be read)."""
    if path is None or not path.is_file():
        return None
    try:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            end = 0.0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.duration is not None:
                    end = max(end, float((packet.pts + packet.duration) * stream.time_base))
            return end or None
    except Exception:  # a damaged recording still gets its subtitles, uncut
        return None


def _option(args: argparse.Namespace, name: str, default):
    """Options with defaults, so callers whose parser lacks some of them (serve, tests) still work."""
    value = getattr(args, name, default)
    return default if value is None else value


def build_narrator(args: argparse.Namespace, in_step: bool = False) -> Narrator:
    """The narrator --captioner asks for (offline by default; models only from local files/servers)."""
    lang = _option(args, "caption_lang", "en")
    kind = _option(args, "captioner", "offline")
    if kind == "offline":
        from realtime.captioner.narrator import OfflineNarrator

        return OfflineNarrator(lang, separate_process=True, idle_priority=not in_step)
    from realtime.captioner.models import ModelNarrator, OllamaCaptioner, TransformersCaptioner

    model = _option(args, "captioner_model", "")
    if kind == "transformers":
        if not model:
            raise UserError("--captioner transformers needs --captioner-model FOLDER (a locally saved model)")
        return ModelNarrator(TransformersCaptioner(model), lang)
    if kind == "ollama":
        url = _option(args, "ollama_url", "http://127.0.0.1:11434")
        return ModelNarrator(OllamaCaptioner(model or "llava", url, lang), lang)
    raise UserError(f"unknown --captioner {kind!r} (offline, transformers, ollama)")


def build_captioning(args: argparse.Namespace, output_path: Path | None = None, *, live: bool = True,
                     stills: bool = False) -> Captioning:
    """Everything captions need for one run; Captioning(None, None) with --no-captions.

    live=False (a file or the demo rendered as fast as possible, not paced): captions go in step
    with the frames, so each line is burned in from the frame it describes, instead of whenever
    the narrator happens to be ready. stills=True (a folder of photos): every frame is a scene of its
    own with its own line, burned in at full strength (a photo is one frame: no fade).
    """
    output_path = Path(output_path) if output_path is not None else None
    if not _option(args, "captions", True):
        return Captioning(None, None, output_path)
    every = float(_option(args, "caption_every", 4.0))
    if every <= 0:
        raise UserError(f"--caption-every must be a positive number of seconds (got {every})")
    from realtime.overlay import FADE_S, SubtitleOverlay

    lang = _option(args, "caption_lang", "en")
    renderer = SubtitleOverlay(lang, fade_s=0.0 if stills else FADE_S)  # checks the font: a clear error now
    in_step = not live
    narrator = build_narrator(args, in_step)
    service = CaptionService(narrator, every_s=every, in_step=in_step, stills=stills)
    captioning = Captioning(service, renderer, output_path, speak=bool(_option(args, "speak", False)))
    service.subscribe(captioning.captions.append)
    if captioning.speak:
        from realtime.speech import check_tts

        check_tts(lang)
    records_file = output_path is not None and output_path.suffix != ""
    if records_file and _option(args, "subtitles", True):
        from realtime.subtitles import SubtitleWriter

        captioning.subtitles = SubtitleWriter(output_path)
        service.subscribe(captioning.subtitles)
    if _option(args, "obs_text", None):
        from realtime.captioner.obs import ObsTextFile

        service.subscribe(ObsTextFile(Path(args.obs_text)))
    return captioning
