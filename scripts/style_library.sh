#!/usr/bin/env bash
# Style images for training a conditional (arbitrary-style) network, from Debian packages (no other
# downloads) plus procedural ones. styles/library.csv is the manifest: one row per image with its split
# (train | heldout), kind, package, path in the package, licence and title. Held-out images are paintings
# and hand-made artwork the network must never see in training; they judge it on styles it never saw.
#   paintings:  opencv-doc (The Starry Night), darknet (The Scream), wesnoth-1.16-data and the campaigns
#               trow, httt, ttb (train) and did, l, tsg (held out): Battle for Wesnoth's painted story art
#   artwork:    plasma-workspace-wallpapers, ukui-wallpapers, gnome-backgrounds, mate-backgrounds,
#               lomiri-wallpapers-16.04/-20.04, lxqt-themes, desktop-base (a few photo wallpapers, labelled)
#   textures:   krita-data patterns (greyscale)
#   procedural: scripts/make_style_images.py's makers with other seeds and hue-rotated palettes
# Usage: bash scripts/style_library.sh [DIR]   (default data/styles; writes DIR/train and DIR/heldout,
# removing files there that the manifest doesn't list, so it can be re-run).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-data/styles}
PY=.venv/bin/python
START=$SECONDS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t PACKAGES < <("$PY" scripts/style_library.py packages)
# apt-cache knows nothing before the first `apt-get update` on a fresh machine
for pkg in "${PACKAGES[@]}"; do
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then apt-get update -qq; break; fi
done
# as root, let apt's sandbox user write there (else apt warns that it downloads unsandboxed)
if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$WORK"; fi
(cd "$WORK" && apt-get download "${PACKAGES[@]}" >/dev/null)
BYTES=$(du -cb "$WORK"/*.deb | tail -1 | cut -f1)
# unpack only the listed files (what `dpkg-deb -x` does, less the thousands of other files: deleting a
# fully extracted opencv-doc and wesnoth takes minutes on a slow disk)
"$PY" scripts/style_library.py files >"$WORK/files.tsv"
for deb in "$WORK"/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  mapfile -t paths < <(awk -F'\t' -v p="$pkg" '$1 == p {print "./" $2}' "$WORK/files.tsv")
  mkdir -p "$WORK/x/$pkg"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$WORK/x/$pkg" "${paths[@]}"
done
"$PY" scripts/style_library.py build --src "$WORK/x" --out "$OUT"
echo "$(ls "$OUT/train" | wc -l) train + $(ls "$OUT/heldout" | wc -l) held-out style images in $OUT," \
     "from ${#PACKAGES[@]} packages ($((BYTES / 1000000)) MB of .deb) in $((SECONDS - START)) s"
