#!/bin/sh
# Usage: bench/kernel-ab/varying.sh [SLOTS [SIZES...]]   (default 256; 16384 65536 262144 786432)
# Builds varying.cpp with the working tree's AVX2 kernels (the project's
# flags) and runs it: period-mode backward against the uniform kernel.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
core=$dir/../../native/core
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O3 -DARELU_X86=1 -ffp-contract=off -fno-fast-math -mavx2 -mfma -I"$core" "$dir/varying.cpp" "$core/kernels_avx2.cpp" -o "$tmp/varying"
slots=${1:-256}
[ $# -ge 1 ] && shift
# shellcheck disable=SC2086
"$tmp/varying" "$slots" ${*:-16384 65536 262144 786432}
