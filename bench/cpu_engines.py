#!/usr/bin/env python3
"""Which CPU engine runs the style network best here: ONNX Runtime FP32 (what onnx-cpu ships), ONNX Runtime
INT8 (static QDQ, per-channel weights, calibrated on demo frames) and OpenVINO when it is installed.

Cost is CPU time of one thread per call (time.process_time), so a shared machine's other jobs change the
wall clock but not the comparison; error is against the FP32 graph, pixels in [0,1].

    python bench/cpu_engines.py --out bench/results/cpu_engines.md
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.backends import demo_frames, machine_description  # noqa: E402
from export.onnx import INPUT_NAME, ort_session, style_onnx  # noqa: E402
from export.preprocess import frame_to_array  # noqa: E402


def quantized(fp32: Path, out: Path, calibration: list[np.ndarray], unsigned_weights: bool) -> Path:
    """Static QDQ INT8 copy of `fp32`, activations calibrated (min/max) on `calibration` frames."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {INPUT_NAME: item}

    prepared = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(out), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QUInt8 if unsigned_weights else QuantType.QInt8)
    return out


def openvino_call(fp32: Path, hw: tuple[int, int]):
    """A 1-thread OpenVINO request compiled for this size (dynamic shapes were 80x slower at 720p), or None."""
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    model = core.read_model(str(fp32))
    model.reshape({INPUT_NAME: [1, 3, *hw]})
    request = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
                                 ).create_infer_request()
    return lambda x: request.infer({0: x})[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--size", default="640x360", help="WxH")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    fp32, _ = style_onnx(args.style, "fp32")
    frames = [frame_to_array(frame) for frame in demo_frames((height, width), 12)]
    calls = {"onnxruntime FP32 (onnx-cpu)": lambda x, s=ort_session(fp32, 1): s.run(None, {INPUT_NAME: x})[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, unsigned in (("onnxruntime INT8 QDQ (u8 act, s8 weights)", False),
                               ("onnxruntime INT8 QDQ (u8 act, u8 weights)", True)):
            path = quantized(fp32, Path(tmp) / f"int8-{unsigned}.onnx", frames[:8], unsigned)
            calls[name] = lambda x, s=ort_session(path, 1): s.run(None, {INPUT_NAME: x})[0]
        openvino = openvino_call(fp32, (height, width))
        if openvino is not None:
            calls["OpenVINO FP32"] = openvino
        test = frames[8:]
        reference = [calls["onnxruntime FP32 (onnx-cpu)"](x) for x in test]
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for run in range(args.runs):  # round-robin: a neighbour's load hits every engine alike
            for name, call in calls.items():
                started = time.process_time()
                call(test[run % len(test)])
                samples[name].append(time.process_time() - started)
        errors = {name: [float(np.abs(call(x) - ref).max()) for x, ref in zip(test, reference)]
                  for name, call in calls.items()}
    base = statistics.median(samples["onnxruntime FP32 (onnx-cpu)"])
    lines = ["# CPU engines for the style network: CPU time per frame and error against FP32", "",
             f"- date: {datetime.date.today().isoformat()}; {machine_description()['cpu']}; "
             f"{machine_description()['software']}",
             f"- style {args.style}, {args.size}, one thread, median of {args.runs} calls (process CPU time)",
             f"- command: `python bench/cpu_engines.py {' '.join(sys.argv[1:])}`", "",
             "| engine | CPU ms/frame | vs FP32 | max abs error |", "|---|---:|---:|---:|"]
    for name, values in samples.items():
        ms = statistics.median(values) * 1000
        lines.append(f"| {name} | {ms:.1f} | {base * 1000 / ms:.2f}x | {max(errors[name]):.3f} |")
    if openvino is None:
        lines.append("\nOpenVINO is not installed here (`pip install openvino` to include it).")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
