#!/usr/bin/env bash
# Installs what building and testing sp needs and is missing: Debian packages
# and the PyPI packages of the test tooling. Idempotent; silent when all is
# present. Set SP_SETUP_VERBOSE=1 to see what it checks.
set -euo pipefail

DEBIAN_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config python3 python3-pip
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libonnx-dev libprotobuf-dev protobuf-compiler
  libopenmpi-dev openmpi-bin
  libopenblas-dev libopenblas-openmp-dev libdnnl-dev
  libgtest-dev libxxhash-dev nlohmann-json3-dev
  clang-14 libclang-rt-14-dev
)
# onnx/onnxruntime/numpy build and check test models; torch, transformers and
# onnxscript export Hugging Face models for the exporter-compatibility tests.
PYTHON_MODULES=(onnx onnxruntime numpy torch transformers onnxscript matplotlib)
# Each module is installed from the PyPI package of the same name.

say() { if [[ "${SP_SETUP_VERBOSE:-0}" == 1 ]]; then echo "setup: $*"; fi; }

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

PYTHON=${PYTHON:-python3}
# find_spec looks modules up without importing them (importing torch is slow).
read -r -a pip_missing <<<"$("$PYTHON" - "${PYTHON_MODULES[@]}" <<'PY'
import importlib.util, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
PY
)"
if ((${#pip_missing[@]})); then
  echo "setup: installing PyPI packages: ${pip_missing[*]}"
  # Debian's own python3 refuses system-wide pip installs (PEP 668).
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    "${pip_missing[@]}" 2>/dev/null ||
    "$PYTHON" -m pip install -q --disable-pip-version-check --break-system-packages \
      "${pip_missing[@]}"
else
  say "PyPI packages present"
fi
