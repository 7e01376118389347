#!/usr/bin/env bash
# Real photos for training content, from Debian packages (no other downloads):
#   opencv-doc  examples/data  (OpenCV's sample photos: people, animals, fruit, buildings, streets)
#   darknet     data           (dog, eagle, giraffe, horses, kite, person)
# Usage: bash scripts/training_photos.sh [DIR]   (default data/photos); then `stylecast train --content DIR`.
# Also copies OpenCV's vtest.avi (pedestrians) to DIR/../clips for bench/quality.py.
# scikit-image's astronaut, coffee, chelsea and rocket are left out on purpose: the quality harness
# (bench/quality.py) judges the styles on them, so they must be photos the styles never saw.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/photos}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
(cd "$WORK" && apt-get download opencv-doc darknet >/dev/null && for deb in *.deb; do dpkg-deb -x "$deb" x; done)
OPENCV="$WORK/x/usr/share/doc/opencv-doc/examples/data"
for f in aero1.jpg apple.jpg baboon.jpg building.jpg butterfly.jpg fruits.jpg home.jpg leuvenA.jpg \
         messi5.jpg orange.jpg squirrel_cls.jpg HappyFish.jpg smarties.png basketball1.png board.jpg \
         lena.jpg graf1.png; do
  [[ -f "$OPENCV/$f" ]] && cp "$OPENCV/$f" "$OUT/opencv-$f"
done
for f in dog.jpg eagle.jpg giraffe.jpg horses.jpg kite.jpg person.jpg; do
  cp "$WORK/x/usr/share/darknet/data/$f" "$OUT/darknet-$f"
done
mkdir -p "$(dirname "$OUT")/clips"  # a real clip for the quality harness's warping error
cp "$OPENCV/vtest.avi" "$(dirname "$OUT")/clips/vtest.avi"
SKIMAGE=$(.venv/bin/python -c "import skimage, pathlib; print(pathlib.Path(skimage.__file__).parent / 'data')")
for f in motorcycle_left.png camera.png coins.png; do cp "$SKIMAGE/$f" "$OUT/skimage-$f"; done
echo "$(ls "$OUT" | wc -l) photos in $OUT"
