#!/usr/bin/env bash
# Set up Beatwalk on a fresh Debian machine: system packages, then a virtual
# environment in .venv. `--dev` adds what the tests and benchmarks need.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

apt_packages=(ffmpeg)
# fretsonfire-songs-sectoid: four real rock recordings with exact beats (29 MB), for the beat tests;
# mma: auto-accompaniment styles (synth/mma_set.py, 4 MB), for its tests; fluidsynth and the small
# TimGM6mb soundfont (6 MB) render three of them for the bar-phase tests; asc-music: three real
# tracks without marked beats (10 MB), one of them for a tempo-hold test.
(( dev )) && apt_packages+=(chromium chromium-driver fonts-dejavu-core fretsonfire-songs-sectoid mma fluidsynth timgm6mb-soundfont asc-music)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if (( ${#missing[@]} )); then
  sudo=""; (( EUID != 0 )) && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first: 2.13.0 is a local CPU build here; anything else pulls GBs of CUDA wheels.
.venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0"
"${pip[@]}" -r requirements.txt
(( dev )) && "${pip[@]}" -r requirements-dev.txt
# The real CLIP tokenizer's byte-pair merges, for the prompt-length tests: open_clip ships them. Its
# wheel is fetched without its dependencies (torchvision has no CPU build here); only the file stays.
clip_vocab=.cache/clip/bpe_simple_vocab_16e6.txt.gz
if (( dev )) && [[ ! -f "$clip_vocab" ]]; then
  mkdir -p .cache/clip
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps "open_clip_torch==3.3.0" -d .cache/clip
  .venv/bin/python - "$clip_vocab" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(".cache/clip/open_clip_torch-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[1], "wb") as out:
    out.write(z.read("open_clip/bpe_simple_vocab_16e6.txt.gz"))
PY
  rm -f .cache/clip/*.whl
fi
echo "setup done: $(.venv/bin/python -c 'import torch, diffusers, gradio, librosa; print("torch", torch.__version__, "diffusers", diffusers.__version__, "gradio", gradio.__version__, "librosa", librosa.__version__)')"
