"""Model backends: a tiny random BLIP saved to disk and loaded back through TransformersCaptioner (no
download), a fake Ollama server on 127.0.0.1, and the spoken-style rewrite."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from common.errors import UserError
from realtime.captioner.models import ModelNarrator, OllamaCaptioner, TransformersCaptioner
from realtime.captioner.service import Observation
from realtime.captioner.spoken import SpokenStyle

IMAGE = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("tiny-blip")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "dog", "on", "the", "sofa", "man", "desk"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"))
    images = transformers.BlipImageProcessor(size={"height": 32, "width": 32})
    transformers.BlipProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    config = transformers.BlipConfig(
        vision_config=dict(small, image_size=32, patch_size=8),
        text_config=dict(small, vocab_size=len(words), max_position_embeddings=64,
                         bos_token_id=2, sep_token_id=3, pad_token_id=0, eos_token_id=3),
    )
    torch.manual_seed(0)
    transformers.BlipForConditionalGeneration(config).save_pretrained(folder)
    return folder


def test_transformers_captioner_loads_a_local_folder_and_describes(tiny_blip: Path) -> None:
    captioner = TransformersCaptioner(tiny_blip, max_new_tokens=5)
    text = captioner.caption(IMAGE)
    assert isinstance(text, str)
    vocabulary = set((tiny_blip / "vocab.txt").read_text().split())
    assert set(text.split()) <= vocabulary  # decoded from the tiny model's own vocabulary
    line = ModelNarrator(captioner, "en", seed=0).describe(Observation(IMAGE, 0.0, "tiny"))
    assert line is None or text in line.lower()


def test_transformers_captioner_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config.json"):
        TransformersCaptioner(tmp_path)


class FakeOllama(BaseHTTPRequestHandler):
    """Mimics Ollama: GET /api/tags and POST /api/generate (checks the request, answers a caption)."""

    requests: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._reply({"models": [{"name": "llava:latest"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOllama.requests.append(body)
        jpeg = base64.b64decode(body["images"][0])
        assert self.path == "/api/generate" and jpeg[:2] == b"\xff\xd8"
        self._reply({"model": body["model"], "response": "A man sitting at a desk with a laptop.", "done": True})

    def _reply(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def ollama_url():
    server = HTTPServer(("127.0.0.1", 0), FakeOllama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ollama_captioner_sends_the_image_and_rewrites_the_answer(ollama_url: str) -> None:
    FakeOllama.requests.clear()
    narrator = ModelNarrator(OllamaCaptioner("llava", ollama_url, "en"), "en", seed=3)
    line = narrator.describe(Observation(IMAGE, 1.0, "tiny"))
    assert FakeOllama.requests[0]["model"] == "llava" and FakeOllama.requests[0]["stream"] is False
    assert "a guy sitting at a desk with a laptop" in line
    assert line != "A man sitting at a desk with a laptop."


def test_ollama_errors_say_what_to_do(ollama_url: str) -> None:
    with pytest.raises(UserError, match="ollama pull moondream"):
        OllamaCaptioner("moondream", ollama_url)
    with pytest.raises(UserError, match="ollama serve"):
        OllamaCaptioner("llava", "http://127.0.0.1:9")


def test_spoken_style_is_colloquial_and_varies() -> None:
    spoken = SpokenStyle("en", seed=1)
    lines = [spoken("a man sitting at a desk with a laptop") for _ in range(6)]
    assert all("a guy sitting at a desk with a laptop" in line for line in lines)
    assert all(a != b for a, b in zip(lines, lines[1:]))
    cleaned = SpokenStyle("en", seed=0)("arafed there is a cat on the sofa")
    assert "a cat on the sofa" in cleaned and "arafed" not in cleaned and "there is" not in cleaned
    zh = SpokenStyle("zh", seed=0)("这张图片显示了一只猫在沙发上。")
    assert "一只猫在沙发上" in zh and "图片" not in zh
