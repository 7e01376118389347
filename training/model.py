"""The style network: a small conv-transformer-conv generator that runs on every video frame.

Shape of the data: `x` is Bx3xHxW float RGB in [0, 1]; the output has the same shape and range.
H and W may be anything: the network pads to a multiple of 8 internally and crops back.

Design constraints (why it looks like this):
- Real time at 1080p: the attention is *linear* in the number of tokens ("efficient attention",
  Shen et al. 2021: softmax over channels for queries, over tokens for keys), so cost grows
  with pixels, not pixels squared.
- Clean ONNX / TensorRT FP16 export: only conv, matmul, softmax, reshape, pad, resize.
  Normalisation is a per-pixel LayerNorm over channels (a reduction over <=64 values), never an
  instance norm over millions of pixels, so FP16 does not overflow. The key softmax over tokens is
  max-subtracted and sums to 1, so `keys^T @ values` is a weighted mean and stays bounded.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

PAD_MULTIPLE = 8
DETAIL_SIGMA = 1.5  # px: what `detail` passes through is finer than this


def gaussian_line(sigma: float) -> torch.Tensor:
    """K normalised 1-D Gaussian taps, K = 2 * ceil(3 sigma) + 1 (PAD_MULTIPLE keeps frames larger than K / 2).

    Blurs run as a row pass and a column pass: at 640x360 the 11x11 kernel as one conv cost 2.3 ms a frame."""
    radius = max(1, math.ceil(3 * sigma))
    ramp = torch.arange(-radius, radius + 1, dtype=torch.float32)
    line = torch.exp(-ramp ** 2 / (2 * sigma ** 2))
    return line / line.sum()


def detail_phase_kernels(luma: torch.Tensor, line: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernels for luma(x) - blur(luma(x)) at the four pixel phases, on x mirrored by K // 2 (K = len(line)).

    rows (4x3x1x(K+1), stride (1, 2)): per column phase b, the row-blurred luma and the plain luma;
    columns (4x4x(K+1)x1, stride (2, 1)): phase 2a + b = plain luma - column blur of the row-blurred one."""
    taps, radius = line.numel(), line.numel() // 2
    rows = torch.zeros(4, 3, 1, taps + 1)
    columns = torch.zeros(4, 4, taps + 1, 1)
    for b in range(2):
        rows[b, :, 0, b:b + taps] = luma[:, None] * line
        rows[2 + b, :, 0, b + radius] = luma
        for a in range(2):
            columns[2 * a + b, b, a:a + taps, 0] = -line
            columns[2 * a + b, 2 + b, a + radius, 0] = 1.0
    return rows, columns


def _bilinear_phases() -> torch.Tensor:
    """2x3x3 [phase, dy + 1, e + 1]: how much of the half-size row i + e lands on the full-size row 2i + phase + dy
    after upsample2 (bilinear, align_corners=False: 3/4 of the nearer row, 1/4 of the other)."""
    taps = torch.zeros(2, 3, 3)
    taps[0, 0, :2] = torch.tensor([0.75, 0.25])
    taps[0, 1, :2] = torch.tensor([0.25, 0.75])
    taps[0, 2, 1:] = torch.tensor([0.75, 0.25])
    taps[1, 0, :2] = torch.tensor([0.25, 0.75])
    taps[1, 1, 1:] = torch.tensor([0.75, 0.25])
    taps[1, 2, 1:] = torch.tensor([0.25, 0.75])
    return taps


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a BxCxHxW map (one small reduction per pixel)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class ConvLayer(nn.Sequential):
    """Reflection-padded conv (no border artefacts), optional channel LayerNorm, SiLU.

    The full- and half-resolution layers skip the norm: there it costs more than the conv.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True):
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel // 2),
            nn.Conv2d(cin, cout, kernel, stride=stride),
        ]
        if norm:
            layers.append(LayerNorm2d(cout))
        layers.append(nn.SiLU())
        super().__init__(*layers)


class LinearAttention(nn.Module):
    """Multi-head efficient attention over the HxW tokens of a BxCxHxW map; O(H*W*C^2)."""

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        assert dim % heads == 0, "dim must divide into heads"
        self.heads = heads
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1, bias=False)
        self.to_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.to_qkv(x).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        q = q.softmax(dim=-2)  # over channels of each token
        k = k.softmax(dim=-1)  # over tokens: a distribution, so k @ v^T is a weighted mean
        context = torch.matmul(k, v.transpose(-1, -2))  # B x heads x d x d
        out = torch.matmul(context.transpose(-1, -2), q)  # B x heads x d x N
        return self.to_out(out.reshape(b, c, h, w))


class TransformerBlock(nn.Module):
    """Pre-norm block: conditional position (depthwise conv), attention, feed-forward, residuals."""

    def __init__(self, dim: int, heads: int = 4, ffn_mult: int = 2):
        super().__init__()
        self.position = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = LayerNorm2d(dim)
        self.attention = LinearAttention(dim, heads)
        self.norm2 = LayerNorm2d(dim)
        self.feed_forward = nn.Sequential(
            nn.Conv2d(dim, dim * ffn_mult, 1),
            nn.SiLU(),
            nn.Conv2d(dim * ffn_mult, dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.position(x)
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class SeparableResidual(nn.Module):
    """Depthwise 3x3 + pointwise conv with a residual: local texture at 1/16 the cost of a full conv.

    Without the norm at 1/2 size, where a per-pixel reduction costs more than the convs themselves.
    """

    def __init__(self, dim: int, norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(dim, dim, 3, padding=1, groups=dim, padding_mode="replicate")]
        if norm:
            layers.append(LayerNorm2d(dim))
        layers += [nn.Conv2d(dim, dim, 1), nn.SiLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """x2 bilinear: nearest copies made a fixed 8 px lattice on flat areas; linear blends the cells."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class StyleNetwork(nn.Module):
    """Feed-forward stylizer: a U-Net whose bottom is a linear-attention transformer on /8 tokens.

    Encoder: space-to-depth + conv (/2), strided conv (/4), strided conv (/8 tokens). Decoder: back up
    with bilinear x2 steps, each adding the encoder's map of that size (skip) and refining it with
    depthwise-separable residual blocks, so strokes, tiles and hatching can be drawn at 1/4 and 1/2 size.
    The last layer works at full size on the upsampled features *and* the input pixels: edges stay sharp
    and nothing is produced by a pixel shuffle, so there is no 2 px dot grid. Hyper-parameters are
    constructor arguments so a checkpoint's JSON rebuilds the exact network (`StyleNetwork(**arch)`).
    """

    def __init__(self, base_channels: int = 16, dim: int = 64, depth: int = 2, heads: int = 4, ffn_mult: int = 2,
                 quarter_blocks: int = 2, half_blocks: int = 2, full_channels: int = 8, detail: int = 0):
        super().__init__()
        c = base_channels
        self.architecture = dict(base_channels=base_channels, dim=dim, depth=depth, heads=heads, ffn_mult=ffn_mult,
                                 quarter_blocks=quarter_blocks, half_blocks=half_blocks, full_channels=full_channels)
        # detail: percent of the input's finest luminance detail (a fixed high-pass, DETAIL_SIGMA px) added to the
        # output: the whiskers, hair and lettering a small network blurs away. Fixed, not learned; 0 (the shipped
        # per-style networks) leaves the graph exactly as it was. Pictures and blends use it (conditional.py).
        self.detail = detail
        if detail:
            self.architecture["detail"] = detail
            self.register_buffer("luma_weights", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1) / 2,
                                 persistent=False)  # of x in [-1, 1]: luma in [0, 1] units, minus a constant
            self.register_buffer("blur", gaussian_line(DETAIL_SIGMA), persistent=False)
            rows, columns = detail_phase_kernels(self.luma_weights.view(3), self.blur)
            self.register_buffer("detail_rows", rows, persistent=False)
            self.register_buffer("detail_columns", (detail / 100.0) * columns.repeat(3, 1, 1, 1),  # per RGB plane,
                                 persistent=False)  # scaled here: one pass less per frame
        self.encode_half = nn.Sequential(nn.PixelUnshuffle(2), ConvLayer(12, c, 3, norm=False))  # H/2
        self.encode_quarter = nn.Sequential(ConvLayer(c, 2 * c, 3, stride=2), SeparableResidual(2 * c))  # H/4
        self.down = ConvLayer(2 * c, dim, 3, stride=2)  # H/8 tokens
        self.blocks = nn.Sequential(*[TransformerBlock(dim, heads, ffn_mult) for _ in range(depth)])
        self.to_quarter = nn.Conv2d(dim, 2 * c, 1)
        self.quarter_decoder = nn.Sequential(*[SeparableResidual(2 * c) for _ in range(quarter_blocks)])
        self.to_half = nn.Conv2d(2 * c, c, 1)
        self.half_decoder = nn.Sequential(*[SeparableResidual(c, norm=False) for _ in range(half_blocks)])
        self.to_full = nn.Sequential(nn.Conv2d(c, full_channels, 1), nn.SiLU())
        self.output = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(full_channels + 3, 3, 3))
        self.register_buffer("phases", _bilinear_phases(), persistent=False)
        self._fixed_kernels: dict[str, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self._prepare(x)
        y = torch.sigmoid(self._phase_logits(x))
        if self.detail:
            y = (y + self.detail_phases(x)).clamp(0.0, 1.0)
        return F.pixel_shuffle(y, 2)[..., :h, :w]

    def colour_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Bx3xHxW: the output before its sigmoid (and before the detail): what a colour calibration shifts."""
        h, w = x.shape[-2:]
        return F.pixel_shuffle(self._phase_logits(self._prepare(x)), 2)[..., :h, :w]

    @staticmethod
    def _prepare(x: torch.Tensor) -> torch.Tensor:
        """[0, 1] -> [-1, 1], padded (edge pixels repeated) to a multiple of PAD_MULTIPLE."""
        h, w = x.shape[-2:]
        pad_h = (PAD_MULTIPLE - h % PAD_MULTIPLE) % PAD_MULTIPLE
        pad_w = (PAD_MULTIPLE - w % PAD_MULTIPLE) % PAD_MULTIPLE
        return F.pad(x * 2.0 - 1.0, (0, pad_w, 0, pad_h), mode="replicate")

    def _phase_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Bx12xH/2xW/2 output logits of the prepared input, channel 4*colour + pixel phase."""
        kernels = self._fixed_kernels or self.full_size_kernels()
        half = self.encode(x, kernels)
        quarter = self.encode_quarter(half)
        tokens = self.blocks(self.down(quarter))
        quarter = self.quarter_decoder(quarter + upsample2(self.to_quarter(tokens)))
        half = self.half_decoder(half + upsample2(self.to_half(quarter)))
        return self.decode_logits(half, x, kernels)

    # The two full-size steps compute what their modules describe (encode_half: space-to-depth, then a 3x3 conv;
    # output: bilinear x2, then a 3x3 conv) in a form that never moves full-size data around. In ONNX Runtime at
    # 640x360 the pixel-unshuffle transpose, the full-size upsample, its padding and the 3-channel output conv
    # cost 5.9 of 21 ms a frame; rewritten, 1.7 ms. Same parameters, so every checkpoint loads as it is.

    def full_size_kernels(self) -> dict[str, torch.Tensor]:
        """The rewritten convs' kernels, from the modules' parameters (differentiable: training uses them too).

        encode: encode_half as one stride-2 6x6 conv on the pixels (its 3x3 kernel over 2x2 blocks, unfolded).
        on_features/on_pixels/bias: the output conv for the four pixel phases at half size. Each full-size pixel of
        the upsampled map is a fixed mix of 2x2 half-size pixels, so the output conv over it is a 3x3 conv over the
        half-size map per phase (12 channels, then depth-to-space); the pixels' share is a stride-2 4x4 conv holding
        each phase's 3x3 kernel at its offset."""
        conv = self.encode_half[1][1]
        width = conv.weight.shape[0]  # PixelUnshuffle orders channels c*4 + 2*dy + dx -> [o, c, 2*ky + dy, 2*kx + dx]
        encode = conv.weight.view(width, 3, 2, 2, 3, 3).permute(0, 1, 4, 2, 5, 3).reshape(width, 3, 6, 6)
        conv = self.output[1]
        out_channels, feature_channels = conv.weight.shape[0], conv.weight.shape[1] - 3
        on_features = torch.einsum("ocyx,aye,bxf->oabcef", conv.weight[:, :feature_channels], self.phases,
                                   self.phases).reshape(out_channels * 4, feature_channels, 3, 3)
        corner = F.pad(conv.weight[:, feature_channels:], (0, 1, 0, 1))  # the 3x3 at (0, 0) of a 4x4 window
        on_pixels = torch.stack([corner, corner.roll(1, dims=3), corner.roll(1, dims=2),
                                 corner.roll((1, 1), dims=(2, 3))], dim=1)  # phase 2*a + b sits at (a, b)
        return {"encode": encode, "encode_bias": self.encode_half[1][1].bias, "on_features": on_features,
                "on_pixels": on_pixels.reshape(out_channels * 4, 3, 4, 4),
                "bias": conv.bias.repeat_interleave(4)}

    @contextmanager
    def kernels_fixed(self) -> Iterator[StyleNetwork]:
        """While exporting: the rewritten kernels as constants, so the graph holds plain convs (no Einsum, Tile)."""
        previous = self._fixed_kernels
        with torch.no_grad():
            self._fixed_kernels = {name: value.detach().clone() for name, value in self.full_size_kernels().items()}
        try:
            yield self  # the parameters must not change in here: the graph would keep the old kernels
        finally:
            self._fixed_kernels = previous

    def encode(self, x: torch.Tensor, kernels: dict[str, torch.Tensor]) -> torch.Tensor:
        """encode_half, exactly, borders included: its reflection by one 2x2 block is rows/columns 2-3 from the edge."""
        x = torch.cat([x[:, :, 2:4], x, x[:, :, -4:-2]], dim=2)
        x = torch.cat([x[:, :, :, 2:4], x, x[:, :, :, -4:-2]], dim=3)
        return F.silu(F.conv2d(x, kernels["encode"], kernels["encode_bias"], stride=2))

    def decode_logits(self, half: torch.Tensor, x: torch.Tensor, kernels: dict[str, torch.Tensor]) -> torch.Tensor:
        """output(cat[upsample2(to_full(half)), x]) at half size, for the four pixel phases (depth-to-space later).

        Exact inside; on the outermost pixel ring the upsampled map is extended by its edge value instead of
        mirrored: a one-pixel border that differs by up to 0.06 (15/255) on the shipped mosaic from the form it was
        trained in (quality harness unchanged to 0.01; every backend runs this form)."""
        z = F.conv2d(F.pad(self.to_full(half), (1, 1, 1, 1), mode="replicate"), kernels["on_features"],
                     kernels["bias"])
        return z + F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernels["on_pixels"], stride=2)

    def detail_phases(self, x: torch.Tensor) -> torch.Tensor:
        """Bx12xH/2xW/2: `detail` % of `fine_detail` for the four pixel phases (channel 4*o + 2*a + b, the same for
        o = R, G, B), as forward adds it.

        A row pass then a column pass, each stride 2 in its direction (detail_phase_kernels): at 640x360 in ONNX
        Runtime 0.8 ms, where the full-size 1-channel convs cost 1.9 ms."""
        radius = self.blur.numel() // 2
        rows = F.conv2d(F.pad(x, (radius,) * 4, mode="reflect"), self.detail_rows, stride=(1, 2))
        return F.conv2d(rows, self.detail_columns, stride=(2, 1))

    def fine_detail(self, x: torch.Tensor) -> torch.Tensor:
        """Bx1xHxW: the input's luminance minus its Gaussian blur (x in [-1, 1], result in [0, 1] units).

        H and W even, as forward's padding makes them (the four phases are computed 2x2 at a time)."""
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"fine_detail needs an even height and width, got {tuple(x.shape[-2:])}")
        return F.pixel_shuffle(self.detail_phases(x)[:, :4], 2) / (self.detail / 100.0)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class PatchDiscriminator(nn.Module):
    """Multi-scale PatchGAN (Isola et al. 2017; Wang et al. 2018): judges local patches, not whole images.

    `scales` copies of a small strided conv net see the image at 1, 1/2, 1/4 ... resolution, so both fine
    texture (grout lines, hatching) and larger strokes are judged. Spectral norm on every conv keeps the
    discriminator 1-Lipschitz-ish and the GAN stable without tuning. Training only: never exported.
    Input Bx3xHxW in [0, 1]; output one BxHpxWp logit map per scale.
    """

    def __init__(self, channels: int = 32, layers: int = 3, scales: int = 2):
        super().__init__()
        self.heads = nn.ModuleList(self._head(channels, layers) for _ in range(scales))

    @staticmethod
    def _head(channels: int, layers: int) -> nn.Sequential:
        sn = nn.utils.spectral_norm
        modules: list[nn.Module] = [sn(nn.Conv2d(3, channels, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(layers - 1):
            modules += [sn(nn.Conv2d(c, c * 2, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c *= 2
        modules.append(sn(nn.Conv2d(c, 1, 3, padding=1)))
        return nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x * 2.0 - 1.0
        logits = []
        for index, head in enumerate(self.heads):
            if index:
                x = F.avg_pool2d(x, 2)
            logits.append(head(x))
        return logits
