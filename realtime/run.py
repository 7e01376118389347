"""`stylecast run`: wire a source, the FrameProcessor and the sinks into a Pipeline, per file or live.

stream.py parses the options; this module decides what they mean (which sinks, pacing, batch over
a folder), shows progress, and prints the summary. Recordings are closed in every case (end,
Ctrl-C, SIGTERM, camera unplugged, disk full) before the error or interruption is reported.

Everything that can be checked is checked before the model loads: option values, every file the run
will write (realtime/outputs.py), and the recording settings on one frame (recorder.check_recording).
A run that wrote no frame fails.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tqdm import tqdm

from common.console import say as _say, warn
from common.errors import UserError
from common.lifetime import children_die_with_me, sigterm_as_interrupt
from realtime.outputs import batch_targets, check_writes
from realtime.pipeline import Pipeline, PipelineStats
from realtime.recorder import CONTAINERS, FileSink, RecordingSettings, check_output_path, check_recording, partial_path
from realtime.sinks import ImageFolderSink, PreviewSink, Sink, VirtualCameraSink, display_available
from realtime.sources import FrameSource, ImageFolderSource, image_files, open_source, parse_size, video_files

if TYPE_CHECKING:  # torch loads with the model, after every check that can fail fast
    from realtime.processor import FrameProcessor

PROGRESS_EVERY_S = 0.5
PROGRESS_LINE_EVERY_S = 1.0  # --progress lines: one line a second (the first frame's at once)
EXIT_INPUT_CUT_SHORT = 3  # the output was written, but the input ended early: scripts must be able to tell


def check_values(args: argparse.Namespace) -> None:
    """Refuse option values that would make a run do nothing or something odd, before anything starts."""
    def positive(name: str, value: float | None, integer: bool = False) -> None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UserError(f"--{name} must be a positive {'whole ' if integer else ''}number (got {value:g})")

    positive("fps", args.fps)
    positive("max-frames", args.max_frames, integer=True)
    positive("duration", args.duration)
    positive("caption-every", getattr(args, "caption_every", None))
    check_strength(args.strength)
    parse_mask_every(getattr(args, "mask_every", "auto"))
    if getattr(args, "apply", "all") != "all":
        from realtime.segmentation import check_model_installed

        check_model_installed()  # before a camera opens or a model loads


def check_strength(strength: float) -> None:
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise UserError(f"--strength must be between 0 and 1 (got {strength})")


def wants_preview(args: argparse.Namespace) -> bool:
    """--preview/--no-preview if given; otherwise a window when there is a display and no --output."""
    if args.headless:
        return False
    if args.preview is not None:
        return args.preview
    return display_available() and not args.output


def build_processor(args: argparse.Namespace) -> FrameProcessor:
    """The stylizer (through the one backend chooser) and the FrameProcessor around it."""
    from export.backends import OnnxCPUStylizer, create_stylizer
    from export.onnx import ensure_picture_template
    from realtime.processor import FrameProcessor

    check_strength(args.strength)
    apply, mask_every = getattr(args, "apply", "all"), parse_mask_every(getattr(args, "mask_every", "auto"))
    stylizer = create_stylizer(args.style, args.backend, getattr(args, "render_scale", 1.0),
                               getattr(args, "target_fps", None))
    _say(f"style '{stylizer.info.name}' on {stylizer.name}")
    if isinstance(stylizer.innermost, OnnxCPUStylizer):
        ensure_picture_template()  # a picture switched to live is then written, not traced (a 0.4 s freeze)
    return FrameProcessor(stylizer, strength=args.strength, keep_colours=getattr(args, "keep_colors", False),
                          apply=apply, mask_every=mask_every)


def parse_mask_every(value: str) -> int | None:
    """--mask-every: a whole number >= 1, or 'auto' (None)."""
    if value == "auto":
        return None
    try:
        every = int(value, 10) if value.isascii() else 0
    except ValueError:
        every = 0
    if every < 1:
        raise UserError(f"--mask-every must be a whole number >= 1 or auto, not '{value[:40]}'")
    return every


def style_cycle(processor: FrameProcessor, current: str) -> list[str]:
    """The styles the preview hotkeys step through: the one asked for, then the shipped ones."""
    from training.checkpoint import list_styles

    names = [current]
    names += [s.name for s in list_styles() if s.name not in (current, processor.style_name)]
    return names


class Progress:
    """A tqdm bar (frames, fps, ETA) fed by the pipeline's output thread, with latency and drops.

    lines=True (--progress lines): no bar; instead 'stylecast: progress: N frames written, D dropped' on
    stderr for the first frame and then once a second, whole lines that logs keep and scripts can wait
    for (a bar redrawn with carriage returns is neither)."""

    def __init__(self, source: FrameSource, max_frames: int | None, label: str, lines: bool = False):
        total = source.expected_frames if not source.live else None
        if max_frames is not None:
            total = min(total, max_frames) if total else max_frames
        self.bar = tqdm(total=total, unit="frame", desc=label, dynamic_ncols=True, file=sys.stderr,
                        mininterval=PROGRESS_EVERY_S, disable=lines)
        self.lines, self.total = lines, total
        self._shown = 0
        self._line_due = 0.0  # time.monotonic() of the next line

    def __call__(self, stats: PipelineStats) -> None:
        if self.lines:
            if time.monotonic() >= self._line_due:
                self._line_due = time.monotonic() + PROGRESS_LINE_EVERY_S
                of = f" of {self.total}" if self.total else ""
                _say(f"progress: {stats.written}{of} frames written, {stats.dropped} dropped")
            return
        self.bar.update(stats.written - self._shown)
        self._shown = stats.written
        if stats.written % 15 == 0:
            self.bar.set_postfix(latency=f"{stats.latency_ms(50):.0f}ms", dropped=stats.dropped, refresh=False)

    def close(self) -> None:
        self.bar.close()


def open_input(args: argparse.Namespace, source_spec: str, output: Path | None) -> FrameSource:
    """The source for --source, paced at its own speed when it only feeds a window or virtual camera."""
    size = parse_size(args.resolution) if args.resolution else None
    realtime = args.realtime or (output is None and (wants_preview(args) or args.virtual_camera))
    one_size = args.virtual_camera or (output is not None and output.suffix != "")  # a video: frames share a size
    return open_source(source_spec, size=size, fps=args.fps, reconnect=args.reconnect, realtime=realtime,
                       uniform=one_size)


def start_captioning(args: argparse.Namespace, processor: FrameProcessor, output: Path | None, live: bool = True,
                     stills: bool = False):
    """Attach the captioner for this output (its .srt/.vtt go beside `output`); None with --no-captions.

    live: whether the source runs on its own clock (see FrameSource.live); files rendered as fast as
    possible get their captions in step with the frames. stills: every frame is a photo of its own."""
    processor.captions = processor.renderer = None
    if not getattr(args, "captions", True):
        return None
    try:
        from realtime.captioner import build_captioning
    except ImportError:  # a checkout without the captioner package: run without captions
        return None
    captioning = build_captioning(args, output_path=output, live=live, stills=stills)
    processor.captions, processor.renderer = captioning.source, captioning.renderer
    processor.captions_enabled = captioning.source is not None and captioning.renderer is not None
    return captioning


def run_one(args: argparse.Namespace, processor: FrameProcessor, source: FrameSource, output: Path | None,
            label: str = "live", recording: RecordingSettings | None = None) -> PipelineStats:
    """Style one opened source into the chosen sinks; prints the summary, also when stopped early.

    A run that wrote no frame is a UserError (its subtitle files are removed)."""
    try:
        captioning = start_captioning(args, processor, output, live=source.live,
                                      stills=isinstance(source, ImageFolderSource))
    except BaseException:
        source.close()
        raise
    stats = None
    before = _file_identity(output)
    processor.stills = isinstance(source, ImageFolderSource)  # each photo gets a mask of its own
    try:
        stats = _run_pipeline(args, processor, source, output, label, recording)
    finally:
        processor.close()
        if captioning is not None:  # after the recording is closed: subtitles beside it, --speak audio mixed in
            captioning.finish(video_written=output is None or _file_identity(output) not in (None, before))
    if stats.written == 0 and (output is not None or stats.captured == 0):  # (not: quit before the first frame)
        raise UserError(_nothing_written(source, stats))
    return stats


def _nothing_written(source: FrameSource, stats: PipelineStats) -> str:
    what = f"{stats.corrupt} damaged packets or images skipped" if stats.corrupt else "the source gave no frame"
    return f"nothing was written: no frame of {source.description} could be read ({what})"


def _file_identity(path: Path | None) -> tuple[int, int] | None:
    """(inode, mtime ns) of a file, None if there is none: a recording put in place by os.replace is a new
    file, so comparing before and after tells whether this run wrote it (an older file may be there with
    --overwrite)."""
    try:
        status = path.stat() if path is not None and path.suffix else None
    except OSError:
        return None
    return (status.st_ino, status.st_mtime_ns) if status is not None else None


def _run_pipeline(args: argparse.Namespace, processor: FrameProcessor, source: FrameSource, output: Path | None,
                  label: str, recording: RecordingSettings | None) -> PipelineStats:
    sinks: list[Sink] = []
    try:
        status = lambda: _status_line(processor, pipeline.stats)  # noqa: E731 - pipeline is bound below
        sinks = make_sinks(args, processor, source, output, wants_preview(args), status, recording)
        _say(f"{source.description} -> {', '.join(type(s).__name__ for s in sinks) or 'no output (headless)'}")
        progress = Progress(source, args.max_frames, label, getattr(args, "progress", "bar") == "lines")
        pipeline = Pipeline(source, processor, sinks, max_frames=args.max_frames, max_seconds=args.duration,
                            on_frame=progress)
    except BaseException:
        for sink in sinks:
            sink.close(interrupted=True)
        source.close()
        raise
    try:
        pipeline.run()
    except BaseException as exc:
        progress.close()
        _report(pipeline.stats, output, stopped_by=exc)
        raise
    progress.close()
    _report(pipeline.stats, output)
    return pipeline.stats


def make_sinks(args: argparse.Namespace, processor: FrameProcessor, source: FrameSource, output: Path | None,
               preview: bool, status: Callable[[], str], recording: RecordingSettings | None = None) -> list[Sink]:
    """File or image-folder recording, virtual camera, preview window: any combination."""
    sinks: list[Sink] = []
    if output is not None and output.suffix == "" and isinstance(source, ImageFolderSource):
        targets = image_targets(source.paths, output)
        sinks.append(ImageFolderSink(output, lambda frame: targets[source.files[frame.index]].stem))
    elif output is not None:
        recording = recording or check_recording(output, args.codec, source.audio_path, source.start_time)
        sinks.append(FileSink(output, fps=source.fps, time_base=source.time_base, codec=recording.codec,
                              audio_from=recording.audio_from, audio_start=source.start_time,
                              audio_mode=recording.audio_mode))
    if args.virtual_camera:
        sinks.append(VirtualCameraSink(source.fps))
    if preview:
        from realtime.controls import LiveControls

        controls = LiveControls(processor, style_cycle(processor, str(args.style)), Path(args.screenshots),
                                background=True)
        sinks.append(PreviewSink(controls, status=status))
    return sinks


def _status_line(processor: FrameProcessor, stats: PipelineStats) -> str:
    """The preview's status line: style, strength, live fps, latency, drops."""
    style = processor.style_name if processor.style_enabled else "style off"
    return (f"{style}  strength {processor.strength:.1f}  {stats.fps:.1f} fps  "
            f"latency {stats.latency_ms(50):.0f} ms  dropped {stats.dropped}")


def _report(stats: PipelineStats, output: Path | None, stopped_by: BaseException | None = None) -> None:
    print(stats.summary())
    if output is not None and stats.written:
        how = "" if stopped_by is None else " (stopped early; it plays up to the last frame written)"
        _say(f"saved {output}{how}")


# --- what a run writes ---------------------------------------------------------------------------

def video_target_suffix(video: Path) -> str:
    """A batch keeps each video's container when it can record it, else makes an .mp4."""
    return video.suffix.lower() if video.suffix.lower() in CONTAINERS else ".mp4"


def image_targets(images: list[Path], folder: Path) -> dict[Path, Path]:
    return batch_targets(images, folder, lambda image: ".png")


def subtitle_files(video: Path) -> list[Path]:
    from realtime.subtitles import sidecar_paths

    return list(sidecar_paths(video))


def files_written(args: argparse.Namespace, video: Path) -> list[Path]:
    """Every file recording `video` creates: the video, its subtitles, and their .partial files."""
    from realtime.subtitles import partial_sidecar_paths

    files = [video, partial_path(video)]
    if getattr(args, "captions", True) and getattr(args, "subtitles", True):
        files += subtitle_files(video) + list(partial_sidecar_paths(video))
    return files


def check_run_outputs(args: argparse.Namespace, inputs: list[Path], videos: list[Path],
                      images: list[Path] = ()) -> None:
    """Apply outputs.check_writes to everything this run will write, before anything is opened."""
    written = [f for video in videos for f in files_written(args, video)] + list(images)
    obs_text = [Path(args.obs_text)] if getattr(args, "obs_text", None) else []
    style = [Path(args.style)] if Path(str(args.style)).is_file() else []
    check_writes(written, inputs + style, args.overwrite, may_exist=obs_text)
    if args.overwrite and not (getattr(args, "captions", True) and getattr(args, "subtitles", True)):
        stale = [f for video in videos for f in subtitle_files(video) if f.exists()]
        if stale:  # kept (they may be edited by hand), but they no longer match the video
            warn(f"{', '.join(str(f) for f in stale)}: subtitles from an earlier run, left as they are (this run "
                 "writes none); they describe the old video")


def run_batch(args: argparse.Namespace, folder: Path, out_folder: Path) -> int:
    """Style every video in `folder` into `out_folder` (same names); one bad file does not stop the rest."""
    targets = batch_targets(video_files(folder), out_folder, video_target_suffix)
    check_run_outputs(args, list(targets), list(targets.values()))
    for suffix in sorted({target.suffix for target in targets.values()}):
        check_recording(Path("x" + suffix), args.codec)
    processor = build_processor(args)
    out_folder.mkdir(parents=True, exist_ok=True)
    failed, cut_short = [], []
    for number, (video, target) in enumerate(targets.items(), 1):
        _say(f"[{number}/{len(targets)}] {video.name} -> {target}")
        try:
            source = open_input(args, str(video), target)
            run_one(args, processor, source, target, video.name)
        except UserError as exc:
            _say(f"skipped {video.name}: {exc}")
            failed.append(video.name)
            continue
        if source.stopped_early:
            cut_short.append(video.name)
    if failed:
        raise UserError(f"{len(failed)} of {len(targets)} videos failed: {', '.join(failed)}")
    return exit_code(cut_short)


def exit_code(cut_short: list[str]) -> int:
    """0, or EXIT_INPUT_CUT_SHORT (with a last line saying so) when an input ended before its end."""
    if not cut_short:
        return 0
    warn(f"{', '.join(cut_short)} ended early (damaged or cut short): the output holds only what could be read "
         f"(exit code {EXIT_INPUT_CUT_SHORT})")
    return EXIT_INPUT_CUT_SHORT


def run_command(args: argparse.Namespace) -> int:
    """Entry point for `stylecast run` (args as parsed by stream.py's run parser)."""
    check_values(args)
    children_die_with_me()  # the captioner's helper process must not outlive this one, even after kill -9
    with sigterm_as_interrupt():
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    args.overwrite = getattr(args, "overwrite", False)
    output = Path(args.output) if args.output else None
    source_spec = str(args.source)
    folder = Path(source_spec)
    batch = folder.is_dir() and bool(video_files(folder))
    if batch and (output is None or output.suffix):
        raise UserError(f"{folder} holds videos: give an output folder, e.g. --output {folder.name}-styled/")
    if output is None and not wants_preview(args) and not args.virtual_camera:
        _say("no display and no --output: running headless without output (add --output FILE to record)")
    if batch:
        return run_batch(args, folder, output)
    inputs = [folder] if folder.is_file() else []
    if output is not None and output.suffix == "" and folder.is_dir():
        images = image_files(folder)
        check_run_outputs(args, images, [], list(image_targets(images, output).values()))
    elif output is not None:
        check_output_path(output, args.codec)
        check_run_outputs(args, image_files(folder) if folder.is_dir() else inputs, [output])
    source = open_input(args, source_spec, output)  # first: a wrong --source fails before the model loads
    try:
        recording = None
        if output is not None and output.suffix:
            recording = check_recording(output, args.codec, source.audio_path, source.start_time)
        processor = build_processor(args)
    except BaseException:
        source.close()
        raise
    run_one(args, processor, source, output, Path(source_spec).name if output else "live", recording)
    return exit_code([source.description] if source.stopped_early else [])
