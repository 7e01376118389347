"""Is the offline narration true? Per-claim precision and recall, English and Chinese, on real photos and clips.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python bench/narration.py --output bench/results/narration.md

Photos: bench/narration_set/ (photos from scikit-image, Debian darknet and opencv-doc, labels.json written by
hand), plus three pictures made from them (two faces side by side, a face moved to the right, a darkened face).
Each photo is narrated as the first frame of a scene; the claims are read back from the *text* of the line
(so the Chinese wording is checked too, not only the detectors) and compared with the labels.

Clips: a slideshow of labelled photos (2 s each, 10 fps) with 3 s of real street footage (vtest) and a held
photo in it, run through CaptionService in step, as a file render does. Scene-change claims must fall within
1 s after a cut; motion claims must match the segment (a photo is still, the street footage moves); and each
cut must get a fresh line within 1 s.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.captioner.narrator import OfflineNarrator  # noqa: E402
from realtime.captioner.service import CaptionService, Observation  # noqa: E402
from realtime.frames import Frame  # noqa: E402

SET = Path(__file__).resolve().parent / "narration_set"
LANGS = ("en", "zh")
CLIP_FPS, PHOTO_S = 10, 2.0
NUMBERS = {"en": {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                              "nine", "ten"])},
           "zh": {w: i for i, w in enumerate("零一两三四五六七八九十")} | {"二": 2}}
# What a line claims, read from its text. A claim is a pattern; `None` means the language cannot say it.
CLAIMS = {
    "en": {
        "person": r"\b(faces?|someone|somebody|person|people|folks|guy|anyone|smil\w*|selfie|close-up of)\b",
        "smile": r"\bsmil\w*",
        "animal": r"\b(cats?|kitty|kitties|dogs?|animals?|critters?|bird|pup|puppy)\b",
        "cat": r"\b(cats?|kitty|kitties)\b",
        "count": r"\b(two|three|four|five|six|seven|eight|nine|ten|\d+) (faces|people|folks|of them|friends)\b",
        "where": r"\b(on|to) the (left|right)\b|\b(in the middle|centre|center)\b",
        "dark": r"\b(dark|dim|low light)\b",
        "bright": r"\b(bright|lots of light|sunny)\b",
        "still": r"\b(still|calm|steady|not much moving|hardly anything moves|quiet|frozen)\b",
        "moving": r"\b(movement|moving|motion|action|on the move|walking)\b",
        "scene": r"\b(new scene|(just |has )?changed|different view|something new|new picture|next up|cut to)\b",
    },
    "zh": {
        "person": r"(人|脸|笑)",
        "smile": r"笑",
        "animal": r"(猫|狗|动物|小家伙|鸟)",
        "cat": r"猫",
        "count": r"([两三四五六七八九十二\d])(个人|张脸|位)",
        "where": r"(左边|右边|中间|左侧|右侧)",
        "dark": r"暗",
        "bright": r"(亮|光线特别足)",
        "still": r"(安静|静悄悄|不动|平静|不怎么动|稳稳|没什么动静|定格)",
        "moving": r"(动作|动静好大|在动|动得|走来走去|在走|动来动去)",
        "scene": r"(换场景|画面变了|换了个|新画面|换了|下一张|切到)",
    },
}
WHERE_WORDS = {"left": "left", "right": "right", "middle": "centre", "centre": "centre", "center": "centre",
               "左边": "left", "右边": "right", "中间": "centre", "左侧": "left", "右侧": "right"}


def said(kind: str, lang: str, text: str) -> bool:
    found = re.search(CLAIMS[lang][kind], text, flags=re.IGNORECASE) is not None
    if kind == "moving":  # "not much moving" / "没什么动静" are stillness
        return found and not said("still", lang, text)
    return found


def said_count(lang: str, text: str) -> int | None:
    m = re.search(CLAIMS[lang]["count"], text, flags=re.IGNORECASE)
    if not m:
        return None
    word = m.group(1).lower()
    return int(word) if word.isdigit() else NUMBERS[lang].get(word)


def said_where(lang: str, text: str) -> set[str]:
    pattern = r"\b(left|right|middle|centre|center)\b" if lang == "en" else r"(左边|右边|中间|左侧|右侧)"
    if not said("where", lang, text):
        return set()
    return {WHERE_WORDS[w.lower()] for w in re.findall(pattern, text, flags=re.IGNORECASE)}


@dataclass
class Tally:
    """Precision/recall counts of one claim type."""

    claimed: int = 0
    correct: int = 0
    truths: int = 0
    found: int = 0
    wrong: list[str] = field(default_factory=list)

    def add(self, claimed: bool, true: bool | None, where: str) -> None:
        """A yes/no claim: said or not, and whether it holds (None: not judged)."""
        if true is not None:
            self.judge(claimed, true, true, where)

    def judge(self, claimed: bool, correct: bool, exists: bool, where: str) -> None:
        """A claim with a value (a count, a place): said or not, right if said, and whether there is one to say."""
        self.truths += exists
        if claimed:
            self.claimed += 1
            self.correct += correct
            self.found += correct and exists
            if not correct:
                self.wrong.append(where)

    def row(self, name: str) -> str:
        p = f"{self.correct / self.claimed:.2f}" if self.claimed else "–"
        r = f"{self.found / self.truths:.2f}" if self.truths else "–"
        return f"| {name} | {p} | {r} | {self.correct}/{self.claimed} | {self.found}/{self.truths} |"


def load_photos() -> dict[str, tuple[np.ndarray, dict]]:
    labels = json.loads((SET / "labels.json").read_text(encoding="utf-8"))
    photos = {name: (cv2.cvtColor(cv2.imread(str(SET / f"{name}.jpg")), cv2.COLOR_BGR2RGB), label)
              for name, label in labels.items() if not name.startswith("_")}
    face, face_label = photos["sk_astronaut"]
    photos["pair_of_faces"] = (np.concatenate([face, face[:, ::-1]], axis=1),
                               dict(face_label, people=2, where=["left", "right"]))
    h, w = face.shape[:2]
    pad = np.full((h, w // 2, 3), 235, np.uint8)
    photos["face_on_the_right"] = (np.concatenate([pad, face[:, ::-1]], axis=1), dict(face_label, where=["right"]))
    photos["face_in_the_dark"] = ((face * 0.18).astype(np.uint8), dict(face_label, light="dark", smile=None))
    return photos


def photo_claims(photos: dict, lang: str, tallies: dict[str, Tally], costs: list[float], lines: list[str]) -> None:
    narrator = OfflineNarrator(lang, seed=1)
    for name, (image, label) in photos.items():
        start = time.perf_counter()
        text = narrator.describe(Observation(image, 0.0, "mosaic", first=True, scene_changed=True)) or ""
        costs.append(time.perf_counter() - start)
        lines.append(f"| {name} | {text} |")
        person = said("person", lang, text)
        tallies["person/face"].add(person, label["person"], name)
        tallies["smile"].add(said("smile", lang, text), label["smile"], name)
        if label["animal"] is not None:
            animal, cat = said("animal", lang, text), said("cat", lang, text)
            tallies["cat/animal"].judge(animal, label["animal"] and (label["cat"] or not cat), label["animal"], name)
        count, truth_count = said_count(lang, text), label["people"]
        if truth_count is not None:
            tallies["count"].judge(count is not None, count == truth_count, truth_count >= 2, name)
        places = said_where(lang, text)
        tallies["left/centre/right"].judge(bool(places), label["where"] is not None and places <= set(label["where"] or []),
                                           label["where"] is not None, name)
        light = label["light"]
        if light is not None:
            tallies["dark/bright"].add(said("dark", lang, text), light == "dark", name)
            tallies["dark/bright"].add(said("bright", lang, text), light == "bright", name)


def clip_frames(photos: dict) -> tuple[list[tuple[np.ndarray, str]], list[float]]:
    """(frame, truth) at CLIP_FPS: truth is 'still' or 'moving'; and the cut times (s)."""
    names = ["sk_astronaut", "sk_chelsea", "sk_coffee", "sk_camera", "sk_rocket", "cv_messi5", "dk_dog", "sk_moon",
             "cv_basketball1", "cv_fruits"]
    frames, cuts = [], []
    rng = np.random.default_rng(0)

    def add_photo(name: str, seconds: float) -> None:
        image = cv2.resize(photos[name][0], (320, 240), interpolation=cv2.INTER_AREA)
        if frames:
            cuts.append(len(frames) / CLIP_FPS)
        for _ in range(round(seconds * CLIP_FPS)):  # camera noise, as a held shot has
            frames.append((np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8), "still"))

    for name in names[:5]:
        add_photo(name, PHOTO_S)
    cuts.append(len(frames) / CLIP_FPS)
    with av.open(str(SET / "vtest_3s.mp4")) as video:
        for frame in video.decode(video=0):
            frames.append((cv2.resize(frame.to_ndarray(format="rgb24"), (320, 240)), "moving"))
    for name in names[5:]:
        add_photo(name, PHOTO_S)
    add_photo("sk_astronaut", 3 * PHOTO_S)
    return frames, cuts


def clip_claims(frames: list, cuts: list[float], lang: str, tallies: dict[str, Tally], timing: dict) -> None:
    service = CaptionService(OfflineNarrator(lang, seed=2), every_s=4.0, in_step=True)
    for i, (image, _) in enumerate(frames):
        service.offer(Frame(image, i / CLIP_FPS, time.monotonic(), i), "mosaic")
    service.active((len(frames) - 1) / CLIP_FPS)
    service.close()
    captions = service.captions
    for caption in captions:
        index = min(len(frames) - 1, round(caption.start * CLIP_FPS))
        after_cut = any(0 <= caption.start - c < 1.0 for c in cuts)
        tallies["scene change"].add(said("scene", lang, caption.text), after_cut, f"{caption.start:.1f}s")
        truth = frames[index][1]
        tallies["motion"].add(said("still", lang, caption.text), truth == "still", f"{caption.start:.1f}s")
        tallies["motion"].add(said("moving", lang, caption.text), truth == "moving", f"{caption.start:.1f}s")
    fresh = [c for c in cuts if any(0 <= cap.start - c < 1.0 for cap in captions)]
    outlived = [c for c in cuts for cap in captions if cap.start < c - 1e-6 and cap.end > c + 1e-6
                and not any(0 <= n.start - c < 1e-6 for n in captions)]
    timing[lang] = {"cuts": len(cuts), "fresh": len(fresh), "outlived": len(outlived),
                    "lines": [f"{c.start:5.1f}-{c.end:5.1f}s {c.text}" for c in captions]}


def evaluate() -> str:
    photos = load_photos()
    frames, cuts = clip_frames(photos)
    kinds = ["person/face", "smile", "cat/animal", "count", "left/centre/right", "dark/bright", "motion",
             "scene change"]
    out, samples, timing, costs = [], [], {}, []
    for lang in LANGS:
        tallies = {k: Tally() for k in kinds}
        lines: list[str] = []
        photo_claims(photos, lang, tallies, costs, lines)
        clip_claims(frames, cuts, lang, tallies, timing)
        out += [f"\n### {lang}\n", "| claim | precision | recall | correct/said | found/true |", "|---|---|---|---|---|"]
        out += [tallies[k].row(k) for k in kinds]
        wrong = {k: t.wrong for k, t in tallies.items() if t.wrong}
        if wrong:
            out.append("\nWrong claims: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in wrong.items()))
        samples += [f"\n#### {lang} lines on the photos\n", "| photo | line |", "|---|---|"] + lines
    out.append(f"\nDetector cost per line (photos, both languages): median {statistics.median(costs) * 1000:.0f} ms, "
               f"max {max(costs) * 1000:.0f} ms (one CPU core, `nice`).")
    for lang in LANGS:
        t = timing[lang]
        out.append(f"\nClip ({lang}): {t['fresh']}/{t['cuts']} cuts got a fresh line within 1 s; "
                   f"{t['outlived']} lines stayed on screen over a cut.\n")
        out += ["```", *t["lines"], "```"]
    return "\n".join(out + samples) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="write the Markdown here (default: print it)")
    args = parser.parse_args()
    text = evaluate()
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
