#!/usr/bin/env bash
# Real photos of people, for judging the person/background mask (bench/people_masks.py holds the
# hand-drawn outlines of each), from Debian packages (no other downloads):
#   kphotoalbum            demo       (the author's own photos: friends, bars, beach; GPL-2+)
#   opencv-doc             examples/data, opencv4/html  (sample and tutorial photos; Apache-2.0 AND BSD-3-Clause)
#   darknet                data       (person with dog and horse; GPL-3+ or MIT or WTFPL)
#   python-matplotlib-data sample_data (Grace Hopper, US Navy portrait; matplotlib licence)
# plus scikit-image's astronaut (public domain, NASA) and camera (CC0) from the venv.
# Usage: bash scripts/people_photos.sh [DIR]   (default data/people)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/people}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
PACKAGES=(kphotoalbum opencv-doc darknet python-matplotlib-data)
(cd "$WORK" && apt-get download "${PACKAGES[@]}" >/dev/null \
  && for p in "${PACKAGES[@]}"; do mkdir -p "x/$p" && dpkg-deb -x "$p"_*.deb "x/$p"; done)
take() {  # PKG PATH-INSIDE-PACKAGE: copy to OUT/PKG-basename
  cp "$WORK/x/$1$2" "$OUT/$1-$(basename "$2")"
}
for f in jesper_2 new_wave_2 bar55_2 qt-logo grand_canyon_2 anne_helene; do
  take kphotoalbum "/usr/share/kphotoalbum/demo/$f.jpg"
done
take opencv-doc /usr/share/doc/opencv-doc/examples/data/messi5.jpg
take opencv-doc /usr/share/doc/opencv-doc/examples/data/basketball1.png
take opencv-doc /usr/share/doc/opencv-doc/opencv4/html/227943776_1.jpg
take opencv-doc /usr/share/doc/opencv-doc/opencv4/html/230501201_1.jpg
take darknet /usr/share/darknet/data/person.jpg
take python-matplotlib-data /usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg
SKIMAGE=$(.venv/bin/python -c "import skimage, pathlib; print(pathlib.Path(skimage.__file__).parent / 'data')")
for f in astronaut.png camera.png; do cp "$SKIMAGE/$f" "$OUT/skimage-$f"; done
echo "$(ls "$OUT" | wc -l) photos in $OUT"
