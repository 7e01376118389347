"""Is the offline narration true? Per-claim precision and recall, English and Chinese, on real photos and clips.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python bench/narration.py --output bench/results/narration.md

Photos: bench/narration_set/ (photos from scikit-image, Debian darknet and opencv-doc, labels.json written by
hand), plus pictures made from them: two faces side by side, a face moved to the right, a darkened face, a
close-up and a far face in 16:9 frames, and the open-hand photo turned so the hand is raised.
Each photo is narrated as the first frame of a scene; the claims are read back from the *text* of the line
(so the Chinese wording is checked too, not only the detectors) and compared with the labels.

Clips: a slideshow of labelled photos (2 s each, 10 fps) with real street footage (vtest, 3 s and 12 s), a
slow pan over a still photo, the raised hand waving over a still background, and a held photo, run through
CaptionService in step, as a file render does. Scene-change claims must fall within 1 s after a cut; motion
claims must match the segment (a photo is still, the street footage and the wave move, the pan is the camera
moving); wave claims must fall in the wave; and each cut must get a fresh line within 1 s.
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
        "still": r"\b(nice and still|calm|steady|not much moving|hardly anything moves|quiet|frozen)\b",
        "moving": r"\b(movement|moving|motion|action|on the move|walking)\b",
        "camera": r"\b(camera's on the move|camera's moving around|view keeps shifting)\b",
        "facing_camera": r"\b(facing the camera|head-on|face to the camera)\b",
        "facing_away": r"\b(turned to the side|turned away|not facing the camera)\b",
        "hand": r"\b(hands?|thumbs up|pointing|wav(e|ing)|finger)\b",
        "wave": r"\b(wav(e|ing))\b",
        "thumbs_up": r"\bthumbs up\b",
        "pointing": r"\b(pointing|finger pointing)\b",
        "raised": r"\b(hand up|hand raised|up goes a hand)\b",
        "open": r"\b(open hand|fingers out|a hand right there)\b",
        "sky": r"\bblue sky\b",
        "scene": r"\b(new scene|(just |has )?changed|different view|something new|new picture|next up|cut to|now this|"
                 r"and cut)\b",
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
        "moving": r"(动作|动静|在动|动得|走来走去|在走|动来动去|移动)",
        "camera": r"(镜头在移动|镜头慢慢扫|视角在变)",
        "facing_camera": r"(正对着镜头|脸朝着?镜头|面向镜头)",
        "facing_away": r"(转到一边|侧着脸|没有正对镜头)",
        "hand": r"(手|赞|挥手|招手)",
        "wave": r"(挥手|招手)",
        "thumbs_up": r"(赞|大拇指)",
        "pointing": r"(指着|指了)",
        "raised": r"(举起|举得)",
        "open": r"(张开的手|五指张开|有只手)",
        "sky": r"(蓝天|天好蓝)",
        "scene": r"(换场景|画面变了|换了个|新画面|换了|下一张|切到|镜头一转)",
    },
}
WHERE_WORDS = {"left": "left", "right": "right", "middle": "centre", "centre": "centre", "center": "centre",
               "左边": "left", "右边": "right", "中间": "centre", "左侧": "left", "右侧": "right"}


def said(kind: str, lang: str, text: str) -> bool:
    found = re.search(CLAIMS[lang][kind], text, flags=re.IGNORECASE) is not None
    if kind == "moving":  # "not much moving" / "没什么动静" are stillness, "camera's on the move" is the camera
        return found and not said("still", lang, text) and not said("camera", lang, text)
    return found


def said_gesture(lang: str, text: str) -> str | None:
    """The gesture a line claims ('wave', 'thumbs_up', 'pointing', 'raised', 'open'), or None."""
    return next((g for g in ("wave", "thumbs_up", "pointing", "raised", "open") if said(g, lang, text)), None)


def said_facing(lang: str, text: str) -> str | None:
    return "away" if said("facing_away", lang, text) else "camera" if said("facing_camera", lang, text) else None


def said_count(lang: str, text: str) -> int | None:
    m = re.search(CLAIMS[lang]["count"], text, flags=re.IGNORECASE)
    if not m:
        return None
    word = m.group(1).lower()
    return int(word) if word.isdigit() else NUMBERS[lang].get(word)


def said_where(lang: str, text: str) -> set[str]:
    """The places a line puts someone ('on the left', '中间'); 'right there' is not a place."""
    places = set()
    for match in re.finditer(CLAIMS[lang]["where"], text, flags=re.IGNORECASE):
        word = re.search(r"left|right|middle|centre|center|左边|右边|中间|左侧|右侧", match.group(0), re.IGNORECASE)
        places.add(WHERE_WORDS[word.group(0).lower()])
    return places


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
    photos["face_in_the_dark"] = ((face * 0.18).astype(np.uint8),
                                  dict(face_label, light="dark", smile=None, facing=None))
    photos["wide_close_up"] = (wide_frame(face[10:160, 100:250], 0.5, 1.0), dict(face_label, where=["centre"]))
    photos["wide_far"] = (wide_frame(face, 0.8, 0.45),
                          dict(face_label, where=["right"], smile=None, facing=None, light=None))
    hand, hand_label = photos["cv_hand"]
    photos["raised_hand"] = (np.ascontiguousarray(np.rot90(hand)), dict(hand_label, gesture="raised"))
    return photos


def wide_frame(picture: np.ndarray, centre_x: float, height_share: float) -> np.ndarray:
    """`picture` scaled to `height_share` of a 640x360 grey frame, centred at `centre_x` (0..1) of its width."""
    frame = np.full((360, 640, 3), 200, np.uint8)
    h = round(360 * height_share)
    w = round(picture.shape[1] * h / picture.shape[0])
    small = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA)
    x = min(640 - w, max(0, round(640 * centre_x - w / 2)))
    y = (360 - h) // 2
    frame[y:y + h, x:x + w] = small
    return frame


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
        facing, said_face = label.get("facing"), said_facing(lang, text)
        if facing is not None:
            tallies["facing"].judge(said_face is not None, said_face == facing, facing != "", name)
        if label.get("hand") is not None:
            tallies["hand"].add(said("hand", lang, text), label["hand"], name)
        gesture, said_g = label.get("gesture"), said_gesture(lang, text)
        if gesture is not None:
            right = said_g == gesture or (said_g == "open" and gesture == "raised")
            tallies["gesture"].judge(said_g is not None, right, gesture != "", name)
        if label.get("sky") is not None:
            tallies["sky"].add(said("sky", lang, text), label["sky"], name)
        light = label["light"]
        if light is not None:
            tallies["dark/bright"].add(said("dark", lang, text), light == "dark", name)
            tallies["dark/bright"].add(said("bright", lang, text), light == "bright", name)


def hand_over(background: np.ndarray, hand: np.ndarray, t: float, swing: float = 45.0, hz: float = 2.2) -> np.ndarray:
    """`hand` (a photo of a hand, shrunk to half the frame's height) pasted on a copy of `background`, its
    left edge swinging `swing` px either side of centre at `hz` (0: held still): a wave at time `t` seconds."""
    h, w = background.shape[:2]
    small = cv2.resize(hand, (round(hand.shape[1] * h * 2 / 3 / hand.shape[0]), round(h * 2 / 3)),
                       interpolation=cv2.INTER_AREA)
    x = round((w - small.shape[1]) / 2 + swing * np.sin(2 * np.pi * hz * t))
    frame = background.copy()
    frame[h // 6:h // 6 + small.shape[0], x:x + small.shape[1]] = small
    return frame


def clip_frames(photos: dict) -> tuple[list[tuple[np.ndarray, str]], list[float]]:
    """(frame, truth) at CLIP_FPS: truth is 'still', 'moving', 'pan' (the camera moves over a still scene) or
    'wave' (a raised hand waving over a still background); and the cut times (s)."""
    names = ["sk_astronaut", "sk_chelsea", "sk_coffee", "sk_camera", "sk_rocket", "cv_messi5", "dk_dog", "sk_moon",
             "cv_basketball1", "cv_fruits", "cv_home"]
    frames, cuts = [], []
    rng = np.random.default_rng(0)

    def noisy(image: np.ndarray) -> np.ndarray:  # camera noise, as a held shot has
        return np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)

    def start_segment() -> None:
        if frames:
            cuts.append(len(frames) / CLIP_FPS)

    def add_photo(name: str, seconds: float) -> None:
        image = cv2.resize(photos[name][0], (320, 240), interpolation=cv2.INTER_AREA)
        start_segment()
        frames.extend((noisy(image), "still") for _ in range(round(seconds * CLIP_FPS)))

    def add_footage(filename: str) -> None:
        start_segment()
        with av.open(str(SET / filename)) as video:
            frames.extend((cv2.resize(f.to_ndarray(format="rgb24"), (320, 240)), "moving")
                          for f in video.decode(video=0))

    def add_pan(name: str, seconds: float) -> None:
        """A slow pan (20 px/s at 320x240) across the middle of a photo scaled to 360 px high."""
        image = photos[name][0]
        big = cv2.resize(image, (round(image.shape[1] * 360 / image.shape[0]), 360), interpolation=cv2.INTER_CUBIC)
        start_segment()
        for i in range(round(seconds * CLIP_FPS)):
            x = min(big.shape[1] - 320, round(i * 20 / CLIP_FPS))
            frames.append((noisy(big[60:300, x:x + 320]), "pan"))

    def add_wave(seconds: float) -> None:
        """The raised open hand on a still photo of a street, swinging sideways about twice a second."""
        background = cv2.resize(photos["cv_leuvenA"][0], (320, 240), interpolation=cv2.INTER_AREA)
        start_segment()
        frames.extend((noisy(hand_over(background, photos["raised_hand"][0], i / CLIP_FPS)), "wave")
                      for i in range(round(seconds * CLIP_FPS)))

    for name in names[:5]:
        add_photo(name, PHOTO_S)
    add_footage("vtest_3s.mp4")
    for name in names[5:]:
        add_photo(name, PHOTO_S)
    add_pan("cv_aero1", 6.0)
    add_wave(6.0)
    add_footage("vtest_street_12s.mp4")
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
        truth, at = frames[index][1], f"{caption.start:.1f}s"
        tallies["motion"].add(said("still", lang, caption.text), truth == "still", at)
        tallies["motion"].add(said("moving", lang, caption.text), truth in ("moving", "wave"), at)
        tallies["camera moving"].add(said("camera", lang, caption.text), truth == "pan", at)
        tallies["wave"].add(said("wave", lang, caption.text), truth == "wave", at)
    fresh = [c for c in cuts if any(0 <= cap.start - c < 1.0 for cap in captions)]
    outlived = [c for c in cuts for cap in captions if cap.start < c - 1e-6 and cap.end > c + 1e-6
                and not any(0 <= n.start - c < 1e-6 for n in captions)]
    timing[lang] = {"cuts": len(cuts), "fresh": len(fresh), "outlived": len(outlived),
                    "lines": [f"{c.start:5.1f}-{c.end:5.1f}s {c.text}" for c in captions]}


def evaluate() -> str:
    photos = load_photos()
    frames, cuts = clip_frames(photos)
    kinds = ["person/face", "smile", "cat/animal", "count", "left/centre/right", "facing", "hand", "gesture",
             "dark/bright", "sky", "motion", "camera moving", "wave", "scene change"]
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
