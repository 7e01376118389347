#!/usr/bin/env bash
# One-step set-up on a fresh Linux machine: system packages, a virtualenv in .venv, the project.
#
#   bash scripts/setup.sh          # run-time only
#   bash scripts/setup.sh --dev    # + test tools (Chromium for the browser tests, pytest, the peer)
#
# torch is installed FIRST and pinned (STYLECAST_TORCH, default torch==2.13.0) so that pip never
# resolves an unpinned torch, which on PyPI means several GB of CUDA packages. GPU users: install
# the CUDA build of torch into .venv before (or after) this script, then `pip install -e .[tensorrt]`.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${STYLECAST_TORCH:-torch==2.13.0}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages (Debian/Ubuntu) ---------------------------------------------------------
APT_PACKAGES=(espeak-ng fonts-wqy-microhei libgl1 libglib2.0-0)
# opencv-doc: real recorded clips (Megamind.avi: MPEG-4 Part 2 + AC3; vtest.avi) for the footage tests and the quality harness
[[ $DEV == 1 ]] && APT_PACKAGES+=(chromium xvfb opencv-doc)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null; then
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
    say "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "warning: not a Debian/Ubuntu system; please install: ${missing[*]}"
  fi
fi

# --- python ----------------------------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $($PYTHON --version)"
  $PYTHON -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  say "installing $TORCH_SPEC"
  "${PIP[@]}" "$TORCH_SPEC"
fi
extras=""
[[ $DEV == 1 ]] && extras="[dev]"
say "installing stylecast$extras (editable)"
"${PIP[@]}" -e ".$extras"
# MediaPipe's face, face-mesh, palm, hand-landmark and selfie segmentation models (Apache-2.0, 6.5 MB) ship inside the
# mediapipe 0.10.14 wheel: take the wheel alone (--no-deps: none of its conflicting dependencies) and copy the .tflite
# files into the venv. (The narrator uses the first five; --apply background|person the selfie ones.)
MP_MODELS=.venv/share/stylecast/mediapipe
MP_FILES=(face_detection/face_detection_full_range_sparse.tflite face_detection/face_detection_short_range.tflite
          face_landmark/face_landmark.tflite palm_detection/palm_detection_lite.tflite hand_landmark/hand_landmark_lite.tflite
          selfie_segmentation/selfie_segmentation_landscape.tflite selfie_segmentation/selfie_segmentation.tflite)
mp_missing=0
for f in "${MP_FILES[@]}"; do [[ -f $MP_MODELS/$(basename "$f") ]] || mp_missing=1; done
if ((mp_missing)); then
  say "extracting MediaPipe's face, hand and selfie segmentation models from the mediapipe 0.10.14 wheel"
  mp_tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
    --python-version 3.11 --platform manylinux2014_x86_64 mediapipe==0.10.14 -d "$mp_tmp"
  .venv/bin/python -c 'import sys, zipfile, pathlib; out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
wheel = zipfile.ZipFile(sys.argv[1])
for name in sys.argv[3:]:
    (out / pathlib.Path(name).name).write_bytes(wheel.read("mediapipe/modules/" + name))' \
    "$mp_tmp"/mediapipe-*.whl "$MP_MODELS" "${MP_FILES[@]}"
  rm -rf "$mp_tmp"
fi
say "done: $(.venv/bin/stylecast --version 2>/dev/null || echo stylecast) is in .venv/bin"
