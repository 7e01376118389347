"""The one style loader: round trip, shipped styles, and clear errors for wrong or corrupt files."""
from __future__ import annotations

import json

import pytest
import torch

from common.errors import UserError
from training.checkpoint import DEFAULT_STYLE, list_styles, load_style, save_style
from training.model import StyleNetwork


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    torch.manual_seed(1)
    model = StyleNetwork(base_channels=8, dim=16, depth=1, heads=2)
    path = save_style(model, tmp_path / "a", name="a", description="d", training={"steps": 3}, preview="a.jpg")
    loaded, info = load_style(path)
    assert info.name == "a" and info.training == {"steps": 3} and info.preview_path == tmp_path / "a.jpg"
    x = torch.rand(1, 3, 24, 40)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model.eval()(x))


def test_shipped_default_style_loads_and_is_small():
    names = [s.name for s in list_styles()]
    assert DEFAULT_STYLE in names and len(names) >= 6  # the style library (styles/README.md)
    for style in list_styles():
        assert style.weights_path.stat().st_size < 1_000_000
        assert style.preview_path is not None and style.preview_path.is_file()
        load_style(style.weights_path)


def test_corrupt_and_mismatched_files_are_clear_user_errors(tmp_path, tiny_style):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00\x01garbage")
    tiny_json = tiny_style.with_suffix(".json")
    broken.with_suffix(".json").write_text(tiny_json.read_text())
    with pytest.raises(UserError, match="corrupt or not a safetensors"):
        load_style(broken)

    wrong = tmp_path / "wrong.safetensors"
    wrong.write_bytes(tiny_style.read_bytes())
    meta = json.loads(tiny_json.read_text())
    meta["architecture"]["dim"] = 32
    wrong.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="do not match the architecture"):
        load_style(wrong)

    meta["format"] = "something-else"
    wrong.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="not a style checkpoint"):
        load_style(wrong)
    with pytest.raises(UserError, match="unknown style"):
        load_style("no-such-style")


@pytest.mark.parametrize("size", [10**12, -4, "64", 2.5, True])
def test_absurd_architecture_sizes_are_refused_before_allocating(tmp_path, tiny_style, size):
    style = tmp_path / "absurd.safetensors"
    style.write_bytes(tiny_style.read_bytes())
    meta = json.loads(tiny_style.with_suffix(".json").read_text())
    meta["architecture"]["dim"] = size
    style.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="architecture 'dim'.*not an integer in 0..1024"):
        load_style(style)
