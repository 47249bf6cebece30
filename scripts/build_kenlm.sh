#!/usr/bin/env bash
# Build KenLM's lmplz and build_binary (n-gram LM estimation and its binary format) into
# .venv/bin. PyPI ships KenLM's Python module but not these tools; its sdist carries the
# full C++ source, so we build that exact release with cmake (~1.5 minutes on 2 cores,
# once). scripts/setup.sh --with-kenlm calls this; it is a no-op when both tools run.
#   bash scripts/build_kenlm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

KENLM_VERSION=0.3.0  # the same release as the kenlm Python module setup.py pins
VENV=.venv
BIN=$VENV/bin
if "$BIN/lmplz" --help >/dev/null 2>&1 && [ -x "$BIN/build_binary" ]; then
  echo "[kenlm] lmplz and build_binary already in $BIN"
  exit 0
fi

# KenLM's builder needs Boost (program_options, system, thread; test for its CMake
# config) and the compression libraries it reads ARPA/text through.
apt_missing=()
for pkg in cmake g++ libboost-program-options-dev libboost-system-dev libboost-thread-dev \
           libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt_missing+=("$pkg")
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "[kenlm] apt-get install ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "[kenlm] fetching the kenlm==$KENLM_VERSION source distribution"
# --no-build-isolation: reading the sdist's metadata must not build cmake from source.
"$VENV/bin/python" -m pip download --disable-pip-version-check -q --no-deps --no-binary kenlm \
  --no-build-isolation "kenlm==$KENLM_VERSION" -d "$work" \
  2> >(grep -v "^WARNING: Location 'file://" >&2)
tar -xzf "$work/kenlm-$KENLM_VERSION.tar.gz" -C "$work"
src=$work/kenlm-$KENLM_VERSION
echo "[kenlm] building lmplz and build_binary (about 1.5 minutes)"
log=$work/build.log
if ! { cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCOMPILE_TESTS=OFF \
         -DBUILD_PYTHON_STANDALONE=OFF \
       && cmake --build "$work/build" --target lmplz build_binary -j "$(nproc)"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "[kenlm] build failed; the last lines of the cmake log are above" >&2
  exit 1
fi
install -m 755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$BIN/"
echo "[kenlm] installed $BIN/lmplz and $BIN/build_binary"
