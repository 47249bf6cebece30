#!/usr/bin/env bash
# Set up a fresh machine for ehmam: Debian tools, a .venv, pinned pip installs in the
# order fairseq needs. Idempotent: a second run with nothing changed takes seconds.
#   bash scripts/setup.sh [--with-kenlm]
# --with-kenlm also builds KenLM's lmplz and build_binary (n-gram LM estimation; ~1.5 min
# once), which LM decoding's demo and tests need and pretraining does not.
set -euo pipefail
cd "$(dirname "$0")/.."

with_kenlm=0
for arg in "$@"; do
  case "$arg" in
    --with-kenlm) with_kenlm=1 ;;
    *) echo "usage: bash scripts/setup.sh [--with-kenlm]" >&2; exit 2 ;;
  esac
done
kenlm_tools() {
  if [ "$with_kenlm" = 1 ]; then bash scripts/build_kenlm.sh; fi
}

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.ehmam-setup

# --- Debian packages: espeak-ng (speech), sox (resampling), fortunes (sentences) ------
apt_missing=()
command -v espeak-ng >/dev/null || apt_missing+=(espeak-ng)
command -v sox >/dev/null || apt_missing+=(sox)
# fortunes-min alone creates the folder; "wisdom" is one of the full package's databases.
[ -f /usr/share/games/fortunes/wisdom ] || apt_missing+=(fortunes)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

# --- Python environment ------------------------------------------------------------
# The stamp records what was installed; when setup.py and this script are unchanged
# and the venv imports, there is nothing to do.
want=$(cat setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$VENV/bin/python" -c "import torch, torchaudio, fairseq, ehmam, kenlm, flashlight.lib.text, s3prl, pandas, tensorboardX" 2>/dev/null; then
  echo "[setup] environment up to date ($VENV)"
  kenlm_tools
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# Some machines' pip config names local index folders that may be absent; pip warns once
# per package about each, which buries real messages.
pip() {
  "$VENV/bin/python" -m pip "$@" --disable-pip-version-check -q \
    2> >(grep -v "^WARNING: Location 'file://" >&2)
}
pip install --upgrade "pip<26" "setuptools<81" wheel
# torch and torchaudio must come from the same release; PyPI's 2.11.0 pair loads together.
echo "[setup] torch, torchaudio"
pip install torch==2.11.0 torchaudio==2.11.0
# fairseq builds its Cython/C++ extensions against the torch and numpy already present,
# so they go first and its build runs without isolation (about 3 minutes, once; pip caches the wheel).
echo "[setup] numpy, cython, fairseq (first build takes ~3 minutes)"
pip install "numpy==1.26.4" cython
pip install --no-build-isolation fairseq-fixed==0.12.3.1
echo "[setup] ehmam and its test tools"
pip install hydra-core==1.3.2 omegaconf==2.3.0
pip install -e ".[test]"
# HEAR's validator, without its declared tensorflow (~600 MB): it only imports tensorflow to
# recognise TF models, and tests/integrations/test_hear.py gives it a stand-in for that.
pip install --no-deps hearvalidator==2021.0.2
# SUPERB through s3prl's own runner (ehmam.superb): s3prl and the runtime needs its wheel does
# not declare. numpy stays at fairseq's 1.26 (pandas 3 would lift it). catalyst is left out: no
# release imports on Python 3.11 with this pip, and ehmam.integrations.s3prl.compat supplies the
# one sampler the KS expert takes from it. transformers also serves ehmam.export_hf: 5.24.0 is
# what its tests ran against (the exported folders also load in 4.57.1; see the README).
echo "[setup] s3prl (SUPERB)"
pip install "numpy==1.26.4" s3prl==0.4.18 transformers==5.24.0 tensorboardX==2.6.5 pandas==2.3.3
kenlm_tools
echo "$want" > "$STAMP"
echo "[setup] done: $("$VENV/bin/python" -c 'import torch, fairseq; print("torch", torch.__version__, "fairseq", fairseq.__version__)')"
