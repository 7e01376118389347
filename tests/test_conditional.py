"""Issue 17: one conditional network for any picture, blends, quick refine, keeping the video's colours.

A tiny conditional network is trained here for a few steps (random-filter losses, small crops) so the
tests never depend on the shipped one; its MLP output is what every picture and blend goes through.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from clips import decode

from common.errors import UserError
from tests.training_data import TINY_ARCHITECTURE, write_content_folder
from training.checkpoint import load_style, resolve_style
from training.conditional import FOLDED_DETAIL, ConditionalStyleNetwork, load_conditional, mix_codes, save_conditional
from training.model import StyleNetwork
from training.style_code import CODE_SIZE, style_code
from training.style_spec import materialize, parse_spec

REPO = Path(__file__).resolve().parents[1]


def picture(path: Path, seed: int, size: tuple[int, int] = (96, 80), mode: str = "RGB") -> Path:
    """Coloured stripes and blobs: a 'painting' with its own palette and strokes."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w]
    colours = rng.integers(0, 255, (3, 3))
    image = colours[((xx * (seed + 1) + yy * 2) // 7) % 3].astype(np.uint8)
    for _ in range(4):
        cv2.circle(image, tuple(int(v) for v in rng.integers(0, min(h, w), 2)), int(rng.integers(4, 20)),
                   tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    from PIL import Image

    Image.fromarray(image).convert(mode).save(path)
    return path


def tiny_config(folder: Path, **overrides):
    """A few steps of train-base on three pictures, at 32 px with random-filter losses: seconds on a CPU."""
    from training.conditional_train import ConditionalConfig

    styles = folder / "styles"
    styles.mkdir(parents=True, exist_ok=True)
    for seed in range(3):
        picture(styles / f"p{seed}.png", seed)
    values = dict(style=str(styles), content=str(write_content_folder(folder / "content")), steps=6, size=32, batch=2,
                  architecture=TINY_ARCHITECTURE, features="random", init=None, out=str(folder / "net"),
                  work_dir=str(folder / "run"), save_every=3, progress=False, threads=1)
    return ConditionalConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    """A conditional network trained for a few steps on three pictures; its MLP is made to matter."""
    from training.conditional_train import train_conditional

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_conditional(tiny_config(tmp_path_factory.mktemp("cond")))
    finally:
        torch.set_num_threads(threads)


def test_a_fixed_style_is_a_plain_style_network_that_exports_like_a_shipped_one(tmp_path, conditional, monkeypatch):
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    model = load_conditional(conditional)
    code = torch.from_numpy(style_code(cv2.imread(str(picture(tmp_path / "a.png", 7)))[..., ::-1].copy()))
    assert code.shape == (CODE_SIZE,) and torch.isfinite(code).all()
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        folded = model.fixed(code)
        plain = StyleNetwork(**model.architecture)
        plain.load_state_dict(folded.state_dict())
        assert torch.allclose(plain(x), model(x, code), atol=1e-6)  # the fold is the conditional network ...
        detail = (FOLDED_DETAIL / 100) * folded.fine_detail(x * 2 - 1)  # ... plus the photo's finest detail
        assert torch.allclose(folded(x), (model(x, code) + detail).clamp(0, 1), atol=1e-5)
        assert folded.architecture["detail"] == FOLDED_DETAIL and float(detail.abs().mean()) > 1e-3
    from export.onnx import check_onnx, style_onnx

    path = materialize(str(tmp_path / "a.png"), conditional)
    onnx_path, info = style_onnx(path)
    network, _ = load_style(path)
    assert check_onnx(network, onnx_path) < 1e-4  # ONNX Runtime computes what PyTorch computes
    assert info.training["from"] == "conditional" and info.name == "a"


def test_the_code_moves_the_weights(conditional, tmp_path):
    """Two pictures give two different networks: the MLP's output is not a constant."""
    model = load_conditional(conditional)
    codes = [torch.from_numpy(style_code(cv2.imread(str(picture(tmp_path / f"{i}.png", i)))[..., ::-1].copy()))
             for i in (0, 1)]
    a, b = (dict(model.fixed(c).named_parameters()) for c in codes)
    moved = sum(float((a[name] - b[name]).detach().abs().sum()) for name in model.dependent)
    shared = sum(float((a[name] - b[name]).detach().abs().sum()) for name in a if name not in model.dependent)
    assert moved > 0 and shared == 0


def test_a_blend_sweep_has_no_jump(conditional, tmp_path):
    """Sweeping one weight 0 -> 1 in 20 steps: no step changes the picture 3x more than the median step."""
    model = load_conditional(conditional)
    codes = [torch.from_numpy(style_code(cv2.imread(str(picture(tmp_path / f"{i}.png", i)))[..., ::-1].copy()))
             for i in (0, 2)]
    photo = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = [model(photo, mix_codes(codes, [1 - t, t])) for t in np.linspace(0, 1, 21)]
    steps = np.array([float((b - a).abs().mean()) for a, b in zip(outputs, outputs[1:])])
    assert steps.max() > 0 and steps.max() <= 3 * np.median(steps), steps


def test_blend_specs_parse_and_bad_ones_get_one_line(tmp_path):
    first = picture(tmp_path / "first.png", 1)
    parts = parse_spec(f"mosaic:0.7,{first}:0.3")
    assert [p.weight for p in parts] == [0.7, 0.3] and parts[0].image.ndim == 3
    for spec, words in [("nosuch:1", "unknown style 'nosuch'"), ("mosaic:abc", "not a number"),
                        ("mosaic:0,scream:0", "add up to 0"), ("mosaic:-1", ">= 0"), ("mosaic:nan", ">= 0"),
                        ("mosaic:inf,scream:1", ">= 0")]:
        with pytest.raises(UserError, match=words.replace("(", r"\(")):
            parse_spec(spec)


def png_with_header_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("case, words", [
    ("not an image", "not a picture"), ("cut short", "damaged or cut-short"), ("1x1", "too small"),
    ("bomb", "too large"), ("missing", "not found"), ("unreachable URL", "cannot download"),
])
def test_bad_pictures_get_one_clear_line(tmp_path, case, words):
    spec = str(tmp_path / "x.png")
    if case == "not an image":
        Path(spec).write_text("hello, I am a text file")
    elif case == "cut short":
        data = picture(tmp_path / "whole.jpg", 3, size=(400, 300)).read_bytes()
        Path(spec := str(tmp_path / "x.jpg")).write_bytes(data[: len(data) // 3])
    elif case == "1x1":
        cv2.imwrite(spec, np.zeros((1, 1, 3), np.uint8))
    elif case == "bomb":
        png_with_header_size(Path(spec), 30000, 30000)
    elif case == "unreachable URL":
        spec = "http://127.0.0.1:9/painting.png"  # the discard port: nothing listens
    with pytest.raises(UserError, match=words):
        parse_spec(spec)


def test_grey_and_transparent_pictures_are_styles_too(tmp_path):
    grey = parse_spec(str(picture(tmp_path / "grey.png", 4, mode="L")))[0].image
    clear = parse_spec(str(picture(tmp_path / "clear.png", 5, mode="RGBA")))[0].image
    assert grey.shape[-1] == 3 and np.array_equal(grey[..., 0], grey[..., 2])
    assert clear.shape[-1] == 3 and clear.dtype == np.uint8


def test_run_with_a_picture_as_the_style_writes_a_styled_video(tmp_path, conditional):
    from clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 48), audio=False)
    env = {**__import__("os").environ, "STYLECAST_CONDITIONAL": str(conditional),
           "STYLECAST_CACHE": str(tmp_path / "cache")}
    for style in (str(picture(tmp_path / "mine.png", 6)), f"mosaic:0.5,{tmp_path / 'mine.png'}:0.5"):
        result = subprocess.run([sys.executable, str(REPO / "stream.py"), "run", "--source", str(clip), "--output",
                                 str(tmp_path / "out.mp4"), "--style", style, "--no-captions", "--overwrite",
                                 "--backend", "onnx-cpu", "--render-scale", "1"],
                                capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
        assert result.returncode == 0, result.stderr
        assert "style 'mine" in result.stderr or "style 'mosaic-50-mine-50'" in result.stderr, result.stderr
        assert len(decode(tmp_path / "out.mp4").frames) == 6


def test_keep_colours_keeps_the_inputs_chroma_and_the_styles_brightness():
    from realtime.colour import keep_colours

    rng = np.random.default_rng(0)
    original = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    styled = np.ascontiguousarray(original[..., ::-1] // 2 + 60)  # other hues, other brightness
    kept = keep_colours(original, styled)
    ycc = lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(int)  # noqa: E731
    assert np.abs(ycc(kept)[..., 0] - ycc(styled)[..., 0]).mean() < 2
    assert np.abs(ycc(kept)[..., 1:] - ycc(original)[..., 1:]).mean() < 3
    assert np.abs(ycc(styled)[..., 1:] - ycc(original)[..., 1:]).mean() > 10  # it did change something


def test_a_damaged_conditional_network_is_one_line(tmp_path):
    model = ConditionalStyleNetwork(TINY_ARCHITECTURE)
    path = save_conditional(model, tmp_path / "net.safetensors", name="net")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="not a usable conditional"):
        load_conditional(path)
    with pytest.raises(UserError, match="is missing"):
        load_conditional(tmp_path / "none.safetensors")


def test_refine_starts_from_the_instant_style(tmp_path, conditional):
    env = {**__import__("os").environ, "STYLECAST_CONDITIONAL": str(conditional),
           "STYLECAST_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(REPO / "stream.py"), "train", "--style",
                             str(picture(tmp_path / "mine.png", 8)), "--name", "mine", "--refine", "--steps", "3",
                             "--size", "32", "--features", "random", "--content",
                             str(write_content_folder(tmp_path / "content")), "--out", str(tmp_path / "styles"),
                             "--work-dir", str(tmp_path / "run"), "--threads", "1"],
                            capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    _, info = load_style(tmp_path / "styles" / "mine.safetensors")
    assert info.training["init"].endswith(".safetensors") and info.training["steps_done"] == 3
    assert info.architecture == {**load_conditional(conditional).architecture, "detail": FOLDED_DETAIL}  # as folded
    from stream import REFINE_CONTENT_WEIGHT, REFINE_LR

    assert info.training["lr"] == REFINE_LR and info.training["weights"]["content"] == REFINE_CONTENT_WEIGHT
    assert info.training["calibrate_colour"] and len(info.training["colour_shift"]) == 3  # as an instant style is


def test_resolve_style_keeps_names_and_checkpoints_as_they_were(tiny_style):
    assert resolve_style("mosaic").name == "mosaic.safetensors"
    assert resolve_style(tiny_style) == tiny_style


def test_a_checkpoint_path_with_commas_or_colons_is_still_a_checkpoint(tmp_path, tiny_style):
    import shutil

    folder = tmp_path / "My styles, 2024"
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_style.with_suffix(suffix), folder / f"style:v2{suffix}")
    assert resolve_style(str(folder / "style:v2.safetensors")) == folder / "style:v2.safetensors"
    assert load_style(str(folder / "style:v2.json"))[1].name == "tiny"


def test_a_changed_conditional_network_makes_a_new_style(tmp_path, conditional, monkeypatch):
    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    mine = str(picture(tmp_path / "mine.png", 9))
    first = materialize(mine, conditional)
    assert materialize(mine, conditional) == first  # the same picture again: the cached entry
    model = load_conditional(conditional)
    with torch.no_grad():
        model.mlp[-1].bias.add_(0.05)
    changed = save_conditional(model, tmp_path / "changed" / "net.safetensors", name="net")
    second = materialize(mine, changed)
    assert second != first
    a, b = load_style(first)[0], load_style(second)[0]
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_a_resumed_train_base_writes_where_it_was_started_to(tmp_path, monkeypatch):
    from training import conditional_train
    from training.conditional_train import ConditionalConfig, train_conditional

    config = tiny_config(tmp_path, out=str(tmp_path / "elsewhere"))
    original = conditional_train.ConditionalTrainer.step

    def interrupt_at_4(self, batch):
        if self.step_index == 4:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(conditional_train.ConditionalTrainer, "step", interrupt_at_4)
    with pytest.raises(KeyboardInterrupt):
        train_conditional(config)
    monkeypatch.setattr(conditional_train.ConditionalTrainer, "step", original)
    resumed = ConditionalConfig(style=config.style, work_dir=config.work_dir, steps=0, progress=False, threads=1,
                                out=str(tmp_path / "not-here"))  # --resume without --out: the run's own out wins
    path = train_conditional(resumed, resume=True)
    assert path == tmp_path / "elsewhere" / "arbitrary.safetensors" and path.is_file()
    assert not (tmp_path / "not-here").exists()
    assert load_conditional(path).architecture == load_conditional(path).network.architecture


def test_a_damaged_train_base_state_is_one_line(tmp_path):
    from training.conditional_train import train_conditional

    config = tiny_config(tmp_path, steps=3)
    train_conditional(config)
    state_path = Path(config.work_dir) / "state.pt"
    state = torch.load(state_path, weights_only=True)
    state["step"] = "x"
    torch.save(state, state_path)
    with pytest.raises(UserError, match="resume state is damaged"):
        train_conditional(config, resume=True)


def test_the_cache_keeps_the_most_recently_used_entries(tmp_path, conditional, monkeypatch):
    """Pictures and blends make an entry each: past CACHE_LIMITS the least recently used go, whole."""
    from export import cache

    monkeypatch.setenv("STYLECAST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(cache.CACHE_LIMITS, "styles", 2)
    made = [materialize(str(picture(tmp_path / f"p{i}.png", i)), conditional) for i in range(3)]
    kept = sorted(p.name for p in made[0].parent.iterdir())
    assert not made[0].exists() and not made[0].with_suffix(".json").exists()  # weights and JSON go together
    assert kept == sorted([made[1].name, made[1].with_suffix(".json").name,
                           made[2].name, made[2].with_suffix(".json").name])
    os.utime(made[1], (1, 1)), os.utime(made[1].with_suffix(".json"), (1, 1))  # made long ago ...
    assert materialize(str(tmp_path / "p1.png"), conditional) == made[1]  # ... but used again now
    writing = made[1].parent / f".{made[2].name}.x.tmp"  # another process's half-written file
    writing.write_bytes(b"")
    os.utime(made[2], (2, 2)), os.utime(made[2].with_suffix(".json"), (2, 2))
    materialize(str(picture(tmp_path / "p3.png", 3)), conditional)
    assert made[1].exists() and not made[2].exists() and writing.exists()
    assert cache.prune("styles", keep=0) and [p.name for p in made[1].parent.iterdir()] == [writing.name]
