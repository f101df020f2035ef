#!/usr/bin/env bash
# Installs what clip.c needs to build, test and fuzz, from Debian 12's
# packages. Run as root (or through sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake pkg-config
  libopenblas-dev            # baseline matrix multiply
  libcjson-dev               # JSON: safetensors headers, configs, output
  libutf8proc-dev            # tokenizer: Unicode categories, NFC, case mapping
  zlib1g-dev                 # gzip'd BPE vocabulary
  libjpeg62-turbo-dev libpng-dev libwebp-dev   # image decoding
  libgif-dev                 # GIF decoding; giflib has no pkg-config file, so it is not in
                             # pkg-modules.txt: CMake finds it with FindGIF, fuzz/build.sh adds -lgif
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev  # video decoding (clip video)
  ffmpeg                     # makes the test videos
  libarchive-dev             # WebDataset tar shards (training data)
  libopenmpi-dev openmpi-bin # optional: data-parallel training and sharded embedding under mpirun (src/dist)
  dataset-fashion-mnist      # the demo's training and test data
  clang libclang-rt-14-dev   # libFuzzer targets (fuzz/)
  valgrind                   # leak check
  python3                    # fuzz seed generation only
  libmicrohttpd-dev          # `clip serve`: the HTTP server (src/server)
  libcurl4-openssl-dev       # `clip pull`: model downloads (src/fetch)
  curl                       # HTTP API tests (tests/http_api.sh)
  chromium fonts-dejavu-core # end-to-end test of the search page (tests/e2e_web.sh)
  wrk                        # load test of `clip serve` (bench/load_search.sh, not in ctest)
  libfaiss-dev g++           # FAISS baseline for bench/bench_search (bench/faiss_baseline.sh)
)
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
