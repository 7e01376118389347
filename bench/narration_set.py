"""Rebuild bench/narration_set/ (the labelled narration evaluation set) from the packages that ship the photos.

The committed set is small downscaled copies (longest side 400 px) of photos from scikit-image's data
folder (in the venv), Debian's `darknet` package (data/) and Debian's `opencv-doc` (examples/data/),
plus 3 s and 12 s of `vtest.avi` (real street footage, opencv-doc) for motion, and OpenCV's documentation
photo of an open hand (opencv4/html/handSrc.jpg) for hands and gestures. Labels are in labels.json, written
by hand after looking at each picture; sources and licences are in bench/narration_set/SOURCES.md.

    apt-get update && apt-get download darknet opencv-doc
    dpkg-deb -x darknet_*.deb pkgs && dpkg-deb -x opencv-doc_*.deb pkgs
    python bench/narration_set.py pkgs
"""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

OUT = Path(__file__).resolve().parent / "narration_set"
LONGEST = 400
SKIMAGE = ["astronaut", "camera", "chelsea", "coffee", "rocket", "hubble_deep_field", "coins", "moon", "retina",
           "grass", "brick", "page", "immunohistochemistry"]
DARKNET = ["dog", "eagle", "giraffe", "horses", "kite", "person", "scream"]
OPENCV = ["messi5.jpg", "baboon.jpg", "HappyFish.jpg", "squirrel_cls.jpg", "butterfly.jpg", "fruits.jpg", "home.jpg",
          "building.jpg", "starry_night.jpg", "aero1.jpg", "orange.jpg", "apple.jpg", "stuff.jpg", "basketball1.png",
          "chicky_512.png", "board.jpg", "smarties.png", "leuvenA.jpg", "box_in_scene.png", "left.jpg",
          "licenseplate_motion.jpg", "ela_original.jpg", "aloeL.jpg", "rubberwhale1.png", "pca_test1.jpg"]
VTEST_FRAMES = [0, 300, 600]
HAND = "usr/share/doc/opencv-doc/opencv4/html/handSrc.jpg"


def small(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(1.0, LONGEST / max(h, w))
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def save(name: str, rgb: np.ndarray) -> None:
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    cv2.imwrite(str(OUT / f"{name}.jpg"), cv2.cvtColor(small(rgb[..., :3]), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])


def save_clip(video: Path, name: str, seconds: float = 3.0, start_frame: int = 0) -> None:
    """`seconds` of `video` from `start_frame`, 320 px wide, H.264 at its own frame rate."""
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start_frame)
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    with av.open(str(OUT / f"{name}.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=round(fps), options={"crf": "28"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(round(seconds * fps)):
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (320, 240), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", type=Path, help="folder the two .deb files were extracted into")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for name in SKIMAGE:
        save(f"sk_{name}", getattr(skimage.data, name)())
    for name in DARKNET:
        save(f"dk_{name}", cv2.imread(str(args.packages / "usr/share/darknet/data" / f"{name}.jpg"))[..., ::-1])
    data = args.packages / "usr/share/doc/opencv-doc/examples/data"
    for filename in OPENCV:
        save(f"cv_{Path(filename).stem}", cv2.imread(str(data / filename))[..., ::-1])
    capture = cv2.VideoCapture(str(data / "vtest.avi"))
    for index in VTEST_FRAMES:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        save(f"cv_vtest_{index}", capture.read()[1][..., ::-1])
    save_clip(data / "vtest.avi", "vtest_3s")
    save_clip(data / "vtest.avi", "vtest_street_12s", seconds=12.0, start_frame=400)
    save("cv_hand", cv2.imread(str(args.packages / HAND))[..., ::-1])


if __name__ == "__main__":
    main()
