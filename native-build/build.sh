#!/usr/bin/env bash
# Builds the native kernels. Maven's kernels module calls this in generate-resources; it can also be
# run by hand. Arguments: [OUT dir for artefacts] [BUILD dir for objects] (defaults under kernels/target).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=()
[ $# -ge 1 ] && args+=("OUT=$1")
[ $# -ge 2 ] && args+=("BUILD=$2")
if ! command -v nvcc >/dev/null 2>&1; then
  echo "native-build: nvcc is not on the PATH; building the CPU library only (the CUDA backend will report that it has no kernels)."
fi
if ! command -v g++ >/dev/null 2>&1; then
  echo "native-build: g++ is not on the PATH; not building the emulated CUDA driver (its tests will be skipped)."
fi
for tool in gcc make sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "native-build: '$tool' is required but not installed." >&2; exit 1; }
done
exec make --no-print-directory -C "$here" -j"$(nproc)" "${args[@]}"
