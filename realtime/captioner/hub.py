"""`stylecast models pull NAME`: fetch a small captioning model from the Hugging Face hub, once, on request.

This is the only place the project downloads a model, and only when the user runs this command: the
narrator itself never downloads (TransformersCaptioner loads with local_files_only). The size and licence
are printed before anything is fetched; files land in the normal hub cache (HF_HOME), with the hub's own
progress bars. HF_ENDPOINT points it at a mirror (the tests use a local server).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from common.errors import UserError


@dataclass(frozen=True)
class KnownModel:
    repo: str
    what: str


KNOWN = {
    "smolvlm-256m": KnownModel("HuggingFaceTB/SmolVLM-256M-Instruct", "SmolVLM 256M: describes scenes, ~1 s/line on a laptop CPU"),
    "smolvlm-500m": KnownModel("HuggingFaceTB/SmolVLM-500M-Instruct", "SmolVLM 500M: better wording, ~2x the cost"),
    "blip-base": KnownModel("Salesforce/blip-image-captioning-base", "BLIP base: short formal captions"),
}


def resolve(name: str) -> str:
    """A short name from KNOWN, or a hub repo id as-is (owner/name)."""
    if name in KNOWN:
        return KNOWN[name].repo
    if name.count("/") == 1:
        return name
    raise UserError(f"unknown model {name!r}: use one of {', '.join(KNOWN)} or a hub repo id (owner/name)")


def licence_of(info) -> str:
    """The licence the model card declares ('unknown' when it declares none)."""
    card = getattr(info, "card_data", None)
    licence = getattr(card, "license", None) if card is not None else None
    if not licence:
        licence = next((t.split(":", 1)[1] for t in (info.tags or []) if t.startswith("license:")), None)
    return str(licence or "unknown")


def pull(name: str, revision: str | None = None, say: Callable[[str], None] = print) -> Path:
    """Download model `name` into the hub cache and return its local folder (for --captioner-model)."""
    try:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as exc:
        raise UserError("`models pull` needs huggingface_hub: pip install huggingface_hub") from exc
    repo = resolve(name)
    try:
        info = HfApi().model_info(repo, revision=revision, files_metadata=True)
        size = sum(s.size or 0 for s in info.siblings or [])
        say(f"{repo}: {size / 1e6:.1f} MB in {len(info.siblings or [])} files, licence: {licence_of(info)}")
        folder = Path(snapshot_download(repo, revision=revision or info.sha))
    except HfHubHTTPError as exc:
        raise UserError(f"the hub refused {repo}: {str(exc).splitlines()[0]}") from exc
    except OSError as exc:  # no network, DNS, a proxy: one line, not a traceback
        raise UserError(f"could not download {repo} ({exc.__class__.__name__}: {exc}); check the network "
                        "or HF_ENDPOINT") from exc
    say(f"saved in {folder}\nuse it: stylecast run --captioner transformers --captioner-model {folder}")
    return folder
