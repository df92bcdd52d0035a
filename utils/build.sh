#!/usr/bin/env bash
# Configures (once) and builds sp into build/, tools in build/bin/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
# Paths under the checkout hash relative, so clones and worktrees share ccache hits.
export CCACHE_BASEDIR="$root"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit >/dev/null
fi
ninja -C "$build" >/dev/null || ninja -C "$build"
