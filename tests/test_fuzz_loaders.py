"""Fuzzing the style and resume-state loaders with damaged files (issue #19, part 3).

Every case starts from a real checkpoint (the tests' tiny StyleNetwork) or resume state and damages it:
cut short, bits flipped, a safetensors header that lies about sizes, offsets, dtypes or shapes, tensors of
the wrong dtype or shape or holding NaN, a JSON with fields of the wrong type, huge or non-finite numbers,
NaN/Infinity literals, deep nesting, bytes that are not UTF-8, or no JSON at all. The loaders must answer
each with `UserError` and one short line (what `stream.py` prints), never another exception, and must
not allocate what a damaged file claims: RSS, and its peak (VmHWM, reset through /proc/self/clear_refs
where the kernel allows), stay within a bound over the whole loop. Seeded, and bounded by count.
"""
from __future__ import annotations

import io
import json
import math
import random
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save

from common.errors import UserError
from training.checkpoint import load_style, read_style_info, save_style
from training.model import PatchDiscriminator, StyleNetwork
from training.train import STATE_FILE, TrainConfig, read_state

pytestmark = pytest.mark.timeout(120)

CASE_SECONDS = 120.0  # a hang guard only (one load of a ~100 KB file takes milliseconds), never a speed test
RSS_GROWTH_MB = 24  # kept after the loop (a leak of each case's file would be ~30 MB over the loop)
PEAK_GROWTH_MB = 200  # at any moment of the loop (a network built from a damaged JSON would be GBs)
MESSAGE_CHARS = 400

TINY = dict(base_channels=8, dim=16, depth=1, heads=2)


# --- measuring -------------------------------------------------------------------------------------

def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


class Memory:
    """RSS now and its peak since `start()`, in MB."""

    def start(self) -> None:
        try:  # '5' resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
            self.peak_resettable = True
        except OSError:
            self.peak_resettable = False
        self.rss0 = _status_kb("VmRSS") / 1024

    def check(self, what: str) -> str:
        rss, peak = _status_kb("VmRSS") / 1024, _status_kb("VmHWM") / 1024
        figures = f"{what}: RSS {self.rss0:.0f} -> {rss:.0f} MB, peak {peak:.0f} MB"
        assert rss - self.rss0 < RSS_GROWTH_MB, f"memory grew over the fuzz loop ({figures})"
        if self.peak_resettable:
            assert peak - self.rss0 < PEAK_GROWTH_MB, f"a case allocated what a damaged file claims ({figures})"
        print(figures)
        return figures


def outcome(load: Callable[[Path], Any], path: Path) -> str:
    """'loaded', or the UserError's message after checking its shape; anything else fails the test."""
    started = time.monotonic()
    try:
        load(path)
        result = "loaded"
    except UserError as exc:
        result = str(exc)
        assert result and "\n" not in result and len(result) <= MESSAGE_CHARS, f"not one short line: {result!r}"
        assert "Traceback" not in result
    assert time.monotonic() - started < CASE_SECONDS, f"one case took {time.monotonic() - started:.1f} s"
    return result


def run_cases(cases: Iterator[tuple[str, bytes | None, bytes | None, str | None]], folder: Path,
              load: Callable[[Path], Any]) -> dict[str, int]:
    """Write each (label, weights, JSON, expectation) beside each other and load it.

    expectation: a phrase the UserError must contain, '' for any UserError, None when loading may also
    succeed (a bit flipped inside a weight is a different, valid weight). Returns outcomes per kind.
    """
    weights = folder / "case.safetensors"
    meta = weights.with_suffix(".json")
    counts: dict[str, int] = {}
    for label, weights_bytes, meta_bytes, expect in cases:
        if weights_bytes is not None:
            weights.write_bytes(weights_bytes)
        meta.unlink(missing_ok=True)
        if meta_bytes is not None:
            meta.write_bytes(meta_bytes)
        result = outcome(load, weights)
        if expect is not None:
            assert result != "loaded", f"{label}: a damaged style loaded"
            assert expect in result, f"{label}: {result!r} does not say {expect!r}"
        kind = label.split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# --- inputs ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, Any]]:
    """A real small checkpoint (as tests/conftest.py makes it): its weights' bytes and its JSON."""
    torch.manual_seed(0)
    path = save_style(StyleNetwork(**TINY), tmp_path_factory.mktemp("fuzz") / "good.safetensors", name="good")
    return path.read_bytes(), json.loads(path.with_suffix(".json").read_text())


def header_of(weights: bytes) -> tuple[int, dict[str, Any]]:
    size = struct.unpack("<Q", weights[:8])[0]
    return size, json.loads(weights[8:8 + size])


def with_header(header: Any, data: bytes, size: int | None = None) -> bytes:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(raw) if size is None else size) + raw + data


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any type, numbers that are huge, negative or not finite included."""
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, -16, 2, 17, 1025, 2**31, 2**63, 10**30, -(10**30)])
    if kind == 3:
        return rng.choice([0.5, 16.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf])
    if kind == 4:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 12)))
    if kind == 5:
        return rng.choice(["", "16", "../../etc/passwd", "a/b", "x" * 5000, "\x00", ".hidden", "NaN"])
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 7:
        return {str(rng.randrange(100)): random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    nested: Any = 1
    for _ in range(rng.randrange(50, 400)):
        nested = [nested]
    return nested


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def weight_cases(weights: bytes, meta: dict[str, Any], rng: random.Random):
    """Damaged .safetensors files beside a good JSON."""
    good_json = dumps(meta)
    size, header = header_of(weights)
    data = weights[8 + size:]
    names = [k for k in header if k != "__metadata__"]
    for cut in [0, 1, 7, 8, 9, 8 + size - 1, 8 + size, len(weights) - 1] + \
            [rng.randrange(len(weights)) for _ in range(60)]:
        yield f"cut:{cut}", weights[:cut], good_json, "corrupt or not a safetensors"
    for _ in range(80):  # any single bit of the length or the header: never a valid file of this network
        damaged = bytearray(weights)
        spot = rng.randrange(8 + size)
        damaged[spot] ^= 1 << rng.randrange(8)
        yield f"header-bit:{spot}", bytes(damaged), good_json, ""
    for _ in range(60):  # bits of the weights themselves: another weight, or NaN/Inf, which must be refused
        damaged = bytearray(weights)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(8 + size, len(damaged))] ^= 1 << rng.randrange(8)
        yield "data-bits", bytes(damaged), good_json, None
    for claimed in [2**64 - 1, 2**63, 10**12, len(weights), 100 * 2**20, 2]:
        yield f"header-size:{claimed}", with_header(header, data, claimed), good_json, "corrupt"
    first = next(k for k in names if len(header[k]["shape"]) > 1)  # a conv kernel: flattening changes it
    start, end = header[first]["data_offsets"]
    lies = {
        "offsets-huge": {"data_offsets": [0, 2**62]},
        "offsets-beyond": {"data_offsets": [start, end + len(data) * 1000]},
        "offsets-negative": {"data_offsets": [-8, end]},
        "offsets-reversed": {"data_offsets": [end, start]},
        "offsets-float": {"data_offsets": [0.5, end]},
        "shape-huge": {"shape": [2**40, 2**40]},
        "shape-overflow": {"shape": [2**62, 2**62, 16]},
        "shape-negative": {"shape": [-1, 16]},
        "shape-string": {"shape": "16"},
        "shape-nested": {"shape": [[16]]},
        "dtype-unknown": {"dtype": "F33"},
        "dtype-number": {"dtype": 5},
        "dtype-null": {"dtype": None},
    }
    for label, change in lies.items():
        lying = json.loads(json.dumps(header))
        lying[first].update(change)
        yield f"lie:{label}", with_header(lying, data), good_json, "corrupt"
    header_texts = {"list": b"[]", "null": b"null", "nan": b'{"a": NaN}', "deep": b"[" * 100_000,
                    "not-utf8": b'{"\xff\xfe": 1}', "many-keys": dumps({f"t{i}": {} for i in range(20_000)})}
    for label, raw in header_texts.items():
        yield f"header-json:{label}", with_header(raw, data), good_json, "corrupt"
    state = {k: torch.zeros(header[k]["shape"]) for k in names}
    for dtype in (torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64):
        yield f"dtype:{dtype}", _safetensors({k: v.to(dtype) for k, v in state.items()}), good_json, "floating-point"
    transposed = dict(state, **{first: state[first].reshape(-1)})
    yield "shape:flattened", _safetensors(transposed), good_json, "do not match the architecture"
    yield "shape:missing", _safetensors({k: v for k, v in state.items() if k != first}), good_json, "missing"
    yield "shape:extra", _safetensors(dict(state, extra=torch.zeros(3))), good_json, "unexpected"
    yield "shape:empty", _safetensors({}), good_json, "do not match the architecture"
    for value in (math.nan, math.inf, -math.inf):
        bad = dict(state, **{first: torch.full_like(state[first], value)})
        yield f"nonfinite:{value}", _safetensors(bad), good_json, "NaN or infinite"


def _safetensors(tensors: dict[str, torch.Tensor]) -> bytes:
    return save(tensors)


def json_cases(weights: bytes, meta: dict[str, Any], rng: random.Random):
    """A good .safetensors file beside damaged JSON."""
    bad_numbers = [None, [], [16], "16", {}, {"a": 1}, 1e308, -1e308, math.nan, math.inf, -math.inf, -16, 10**30,
                   2**63, True, False, 2.0, 16.0, 1025, [[[[16]]]]]
    for key in TINY:
        for value in bad_numbers:
            changed = json.loads(json.dumps(meta))
            changed["architecture"][key] = value
            yield f"architecture:{key}={value!r}"[:60], None, dumps(changed), "architecture"
    for _ in range(80):
        changed = json.loads(json.dumps(meta))
        key = rng.choice(list(changed["architecture"]) + ["colour", ""])
        value = random_json(rng)
        if changed["architecture"].get(key, object()) == value and type(value) is int:
            continue
        changed["architecture"][key] = value
        yield "architecture:random", None, dumps(changed), "architecture"
    absurd = [  # each size allowed alone; together a network of GBs that the weights cannot match
        dict(TINY, dim=1024, ffn_mult=1024),
        dict(TINY, depth=1024, quarter_blocks=1024, half_blocks=1024, base_channels=1024, dim=1024, heads=1,
             ffn_mult=1024, full_channels=1024),
        dict(TINY, base_channels=1024, full_channels=1024),
        dict(TINY, heads=3), dict(TINY, heads=0), dict(TINY, dim=0), dict(TINY, base_channels=0),
        dict(TINY, depth=0), dict(TINY, colour=1),
    ]
    for architecture in absurd:
        yield f"architecture:{architecture}"[:60], None, dumps(dict(meta, architecture=architecture)), "architecture"
    wrong_types = {
        "format": [None, 1, [], {}, "stylecast-style/2", math.nan],
        "architecture": [None, [], "TINY", 1e308, math.nan, [TINY]],
        "name": [1, [], {}, math.nan, 1e308, True, "../../escape", "a/b", "..", ".hidden", "x" * 5000, "a\x00b",
                 "tab\there", "\\\\server\\share"],
        "description": [1, [], {}, math.inf, True, ["a"]],
        "preview": [1, [], {}, math.nan, True, "/etc/passwd", "../x.jpg", "sub/x.jpg", "x\x00.jpg"],
        "training": [1, [], "steps", math.nan, [["steps", 3]], True],
    }
    for key, values in wrong_types.items():
        for value in values:
            yield f"field:{key}={value!r}"[:60], None, dumps(dict(meta, **{key: value})), f"'{key}'" \
                if key not in ("format",) else "not a style checkpoint"
    for _ in range(80):  # any value in any field: loads (a string description, say) or says what is wrong
        key = rng.choice(["format", "architecture", "name", "description", "preview", "training", "other"])
        yield f"field:random-{key}", None, dumps(dict(meta, **{key: random_json(rng)})), None
    text = dumps(meta)
    for cut in [0, 1] + [rng.randrange(len(text.rstrip())) for _ in range(20)]:
        yield f"json-cut:{cut}", None, text[:cut], "not"
    for _ in range(40):
        damaged = bytearray(text)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        yield "json-bit", None, bytes(damaged), None
    architecture = json.dumps(meta["architecture"]).encode()
    raw_cases = {
        "nan-literal": text.replace(architecture, b'{"dim": NaN}'),
        "infinity-literal": text.replace(architecture, b'{"dim": Infinity, "heads": -Infinity}'),
        "huge-literal": text.replace(architecture, b'{"dim": 1e999}'),
        "long-integer": text.replace(architecture, b'{"dim": ' + b"9" * 5000 + b"}"),
        "deep-list": b"[" * 100_000,
        "deep-object": b'{"a": ' * 50_000,
        "deep-field": text.replace(architecture, b"[" * 50_000 + b"]" * 50_000),
        "not-utf8": text.replace(b'"good"', b'"caf\xe9"'),
        "utf16": json.dumps(meta).encode("utf-16"),
        "random-bytes": bytes(rng.randrange(256) for _ in range(300)),
        "empty": b"",
        "null": b"null",
        "list": b"[]",
        "string": b'"stylecast-style/1"',
        "too-big": dumps(dict(meta, padding="x" * (2 << 20))),  # a style's JSON is ~1 KB
    }
    for label, raw in raw_cases.items():
        yield f"raw:{label}", None, raw, ""
    yield "missing-json", None, None, "missing beside it"


def state_cases(state_bytes: bytes, state: dict[str, Any], rng: random.Random):
    """Damaged resume states (training/train.py's state.pt)."""
    for cut in [0, 1, 100] + [rng.randrange(len(state_bytes)) for _ in range(30)]:
        yield f"cut:{cut}", state_bytes[:cut], "resume state is damaged"
    for _ in range(40):
        damaged = bytearray(state_bytes)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        yield "bits", bytes(damaged), None
    wrong = {
        "step": [None, -1, 2**70, 1.5, "3", [], True, math.nan],
        "config": [None, [], "config", 3, {"steps": 10}, dict(state["config"], steps="10"),
                   dict(state["config"], weights=[1, 2]), dict(state["config"], colour=1)],
        "generator": [None, [], {}, {"x": 1}, "weights"],
        "discriminator": [None, 3],
        "g_optimizer": [None, {}, {"state": [], "param_groups": []}, [1]],
        "d_optimizer": ["adam", {"param_groups": 1, "state": {}}],
    }
    for key, values in wrong.items():
        for value in values:
            yield f"{key}={value!r}"[:50], _torch_bytes(dict(state, **{key: value})), "resume state"
    for label, value in {"list": [1, 2], "none": None, "tensor": torch.zeros(3), "empty-dict": {}}.items():
        yield f"not-a-state:{label}", _torch_bytes(value), "resume state"
    yield "random-bytes", bytes(rng.randrange(256) for _ in range(2000)), "resume state is damaged"


def _torch_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


# --- tests -------------------------------------------------------------------------------------------

def test_damaged_weights_files_are_one_line_user_errors(tmp_path: Path, good: tuple[bytes, dict]) -> None:
    weights, meta = good
    rng = random.Random(0)
    cases = list(weight_cases(weights, meta, rng))
    memory = Memory()
    run_cases(iter(cases[:10]), tmp_path, load_style)  # warm-up: imports, allocator pools
    memory.start()
    counts = run_cases(iter(cases), tmp_path, load_style)
    memory.check(f"{len(cases)} damaged weights files")
    assert sum(counts.values()) == len(cases) >= 240, counts


def test_damaged_json_is_a_one_line_user_error(tmp_path: Path, good: tuple[bytes, dict]) -> None:
    weights, meta = good
    (tmp_path / "case.safetensors").write_bytes(weights)
    rng = random.Random(0)
    cases = list(json_cases(weights, meta, rng))
    memory = Memory()
    run_cases(iter(cases[:10]), tmp_path, load_style)
    memory.start()
    counts = run_cases(iter(cases), tmp_path, load_style)
    memory.check(f"{len(cases)} damaged JSON files")
    assert sum(counts.values()) == len(cases) >= 370, counts
    # the JSON reader alone (list_styles, the server's catalog) says the same for what it reads
    (tmp_path / "case.json").write_bytes(b'{"format": "stylecast-style/1", "architecture": {}, "preview": 5}')
    with pytest.raises(UserError, match="'preview'"):
        read_style_info(tmp_path / "case.safetensors")
    # a BOM (Windows Notepad) is not damage
    (tmp_path / "case.json").write_bytes(b"\xef\xbb\xbf" + dumps(meta))
    assert load_style(tmp_path / "case.safetensors")[1].name == "good"


def test_style_names_that_are_not_files_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "folder.safetensors").mkdir()
    names = ["x" * 5000, "x" * 5000 + ".safetensors", "a\x00b", "a\x00b.safetensors", "../../etc/passwd",
             "", " ", str(tmp_path / "folder.safetensors"), str(tmp_path / "nope.json"), "\udcff",
             "é" * 300 + ".safetensors", "\n"]
    for name in names:
        message = outcome(lambda n: load_style(n), name)  # type: ignore[arg-type]
        assert message != "loaded" and len(message) <= MESSAGE_CHARS, name[:40]


def test_the_run_command_path_refuses_damaged_styles_with_one_line(tmp_path: Path, good: tuple[bytes, dict],
                                                                   capsys: pytest.CaptureFixture) -> None:
    """`stylecast run/serve --style PATH` go through export.backends.create_stylizer; `export` too, via the CLI."""
    from export.backends import create_stylizer
    from stream import main

    weights, meta = good
    rng = random.Random(1)
    picked = [case for i, case in enumerate(weight_cases(weights, meta, rng)) if case[3] is not None and i % 10 == 0]
    picked += [case for i, case in enumerate(json_cases(weights, meta, rng)) if case[3] is not None and i % 25 == 0]
    style = tmp_path / "case.safetensors"
    (tmp_path / "case.safetensors").write_bytes(weights)
    for label, weights_bytes, meta_bytes, _ in picked:
        if weights_bytes is not None:
            style.write_bytes(weights_bytes)
        style.with_suffix(".json").unlink(missing_ok=True)
        if meta_bytes is not None:
            style.with_suffix(".json").write_bytes(meta_bytes)
        for backend in ("pytorch-cpu", "auto"):  # auto: the ONNX/OpenVINO backends load it first
            assert outcome(lambda p: create_stylizer(p, backend), style) != "loaded", label
        code = main(["export", "--style", str(style), "--out", str(tmp_path / "out.onnx")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("stylecast: error: "), (label, err)
        assert not (tmp_path / "out.onnx").exists()
    assert len(picked) >= 20


def test_damaged_resume_states_are_one_line_user_errors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, discriminator = StyleNetwork(**TINY), PatchDiscriminator(channels=8, layers=2, scales=1)
    g_optimizer, d_optimizer = torch.optim.Adam(generator.parameters()), torch.optim.Adam(discriminator.parameters())
    generator(torch.rand(1, 3, 16, 16)).mean().backward()
    g_optimizer.step()
    state = {"step": 3, "seconds": 1.0, "config": TrainConfig(style="s.png", name="fuzz").to_dict(),
             "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
             "g_optimizer": g_optimizer.state_dict(), "d_optimizer": d_optimizer.state_dict()}
    state_bytes = _torch_bytes(state)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / STATE_FILE).write_bytes(state_bytes)
    assert read_state(run_dir)["step"] == 3  # the undamaged state reads

    rng = random.Random(0)
    cases = list(state_cases(state_bytes, state, rng))
    memory = Memory()
    memory.start()
    for label, data, expect in cases:
        (run_dir / STATE_FILE).write_bytes(data)
        result = outcome(lambda _: read_state(run_dir), run_dir)
        if expect is not None:
            assert result != "loaded" and expect in result, (label, result)
    memory.check(f"{len(cases)} damaged resume states")
    assert len(cases) >= 100
