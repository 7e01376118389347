"""Optional real captioning models behind one small interface, local only (no downloads at run time).

- TransformersCaptioner: a Hugging Face image-to-text model saved in a local folder (BLIP, GIT,
  VisionEncoderDecoder such as ViT-GPT2, or an image-text-to-text VLM such as SmolVLM/Florence-2).
- OllamaCaptioner: a vision model served by a local Ollama (`ollama serve`, e.g. llava, moondream).
ModelNarrator turns either one's formal caption into a spoken-style line.
"""
from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from common.errors import UserError
from realtime.captioner.service import Observation
from realtime.captioner.spoken import SpokenStyle

PROMPTS = {
    "en": "Describe this picture in one short, casual sentence.",
    "zh": "用一句简短、口语化的中文描述这张图片。",
}


class ImageCaptioner(Protocol):
    """Something that describes an image: HxWx3 uint8 RGB -> one sentence."""

    def caption(self, image: np.ndarray) -> str: ...


class TransformersCaptioner:
    """A local Hugging Face captioning model (loaded with local_files_only: never downloads)."""

    def __init__(self, folder: str | Path, max_new_tokens: int = 30, device: str = "cpu", prompt: str | None = None):
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise UserError(f"--captioner-model {folder} is not a saved transformers model folder (no config.json)")
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise UserError("--captioner transformers needs the transformers package: pip install transformers") from exc
        self.torch, self.device, self.max_new_tokens, self.prompt = torch, device, max_new_tokens, prompt
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        self.kind = config.model_type
        load = dict(local_files_only=True)
        if self.kind == "blip":
            self.processor = transformers.BlipProcessor.from_pretrained(folder, **load)
            self.model = transformers.BlipForConditionalGeneration.from_pretrained(folder, **load)
            self.tokenizer = self.processor.tokenizer
        elif self.kind == "vision-encoder-decoder":
            self.processor = transformers.AutoImageProcessor.from_pretrained(folder, **load)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **load)
            self.model = transformers.VisionEncoderDecoderModel.from_pretrained(folder, **load)
        else:  # GIT, SmolVLM, Florence-2, ...: whatever AutoProcessor + image-text-to-text can load
            self.processor = transformers.AutoProcessor.from_pretrained(folder, **load)
            self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
            model_class = getattr(transformers, "AutoModelForImageTextToText", None) or transformers.AutoModelForVision2Seq
            self.model = model_class.from_pretrained(folder, **load)
        self.model.to(device).eval()

    def caption(self, image: np.ndarray) -> str:
        picture = Image.fromarray(image)
        if self.kind == "vision-encoder-decoder":
            inputs = {"pixel_values": self.processor(images=picture, return_tensors="pt").pixel_values}
        elif self.prompt:
            inputs = self.processor(images=picture, text=self.prompt, return_tensors="pt")
        else:
            inputs = self.processor(images=picture, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with self.torch.inference_mode():
            ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
        return self.tokenizer.decode(ids[0], skip_special_tokens=True).strip()


class OllamaCaptioner:
    """A vision model on a local Ollama server, through its HTTP API (POST /api/generate, base64 image)."""

    def __init__(self, model: str = "llava", url: str = "http://127.0.0.1:11434", lang: str = "en",
                 timeout_s: float = 60.0):
        self.model, self.url, self.timeout_s = model, url.rstrip("/"), timeout_s
        self.prompt = PROMPTS.get(lang, PROMPTS["en"])
        try:
            with urllib.request.urlopen(f"{self.url}/api/tags", timeout=3) as reply:
                names = [m.get("name", "") for m in json.load(reply).get("models", [])]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UserError(f"no Ollama server answers at {self.url} (start it with `ollama serve`, "
                            f"or pass --ollama-url)") from exc
        if names and not any(n == model or n.split(":")[0] == model for n in names):
            raise UserError(f"Ollama at {self.url} has no model '{model}' (it has: {', '.join(names)}); "
                            f"run `ollama pull {model}` or pass --captioner-model NAME")

    def caption(self, image: np.ndarray) -> str:
        jpeg = io.BytesIO()
        Image.fromarray(image).save(jpeg, format="JPEG", quality=85)
        body = json.dumps({"model": self.model, "prompt": self.prompt, "stream": False,
                           "images": [base64.b64encode(jpeg.getvalue()).decode("ascii")]}).encode()
        request = urllib.request.Request(f"{self.url}/api/generate", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
            return str(json.load(reply).get("response", "")).strip()


class ModelNarrator:
    """Narrator = a captioning model + the spoken-style rewrite (+ the style name now and then)."""

    def __init__(self, captioner: ImageCaptioner, lang: str = "en", seed: int | None = None):
        self.captioner, self.lang = captioner, lang
        self.spoken = SpokenStyle(lang, seed)

    def describe(self, observation: Observation) -> str | None:
        return self.spoken(self.captioner.caption(observation.image)) or None
