"""`stylecast export`: write a style's ONNX file or TensorRT engine and report how exact it is."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from common.errors import UserError


def _hw(text: str) -> tuple[int, int]:
    """'1280x720' (WxH, as everywhere in the CLI) -> (720, 1280)."""
    from realtime.sources import parse_size

    width, height = parse_size(text)
    return height, width


def export_onnx_file(style: str, out: Path | None, check_hw: tuple[int, int]) -> Path:
    """Copy the checked, cached ONNX of `style` to `out`; print the parity with PyTorch at `check_hw`."""
    from export.onnx import OPSET, check_onnx, style_onnx
    from training.checkpoint import load_style

    cached, info = style_onnx(style, "fp32")
    target = out or Path(f"{info.name}.onnx")
    shutil.copyfile(cached, target)
    model, _ = load_style(style, "cpu")
    error = check_onnx(model, target, hw=check_hw)
    print(f"wrote {target} (opset {OPSET}, input 'frames' Bx3xHxW float RGB [0,1], dynamic batch/height/width)")
    print(f"ONNX Runtime vs PyTorch at {check_hw[1]}x{check_hw[0]}: max abs error {error:.2e} (pixels in [0,1])")
    return target


def export_engine_file(style: str, out: Path | None, profile) -> Path:
    """Build (or reuse) the FP16 engine, copy it to `out`, print FP16-vs-FP32 agreement."""
    from export.tensorrt import cached_engine, fp16_report

    engine = cached_engine(style, profile, fp16=True)
    target = out or Path(f"{Path(str(style)).stem}.engine")
    shutil.copyfile(engine, target)
    report = fp16_report(style, profile)
    print(f"wrote {target} (TensorRT FP16, {profile.describe()}; cached engine {engine})")
    print(f"FP16 vs FP32 engine at {profile.opt_hw[1]}x{profile.opt_hw[0]}: max abs error "
          f"{report['max_abs_error']:.2e}, PSNR {report['psnr_db']:.1f} dB")
    return target


def export_command(args: argparse.Namespace) -> int:
    if args.out and args.out.is_dir():
        raise UserError(f"--out {args.out} is a folder; give a file name")
    if args.format == "onnx":
        export_onnx_file(args.style, args.out, _hw(args.check_size))
        return 0
    from export.tensorrt import ShapeProfile

    profile = ShapeProfile(_hw(args.min), _hw(args.opt), _hw(args.max))
    export_engine_file(args.style, args.out, profile)
    return 0
