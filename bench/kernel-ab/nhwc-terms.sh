#!/bin/sh
# Usage: bench/kernel-ab/nhwc-terms.sh [SIZES...]   (default 16384 65536 262144 1048576)
# Builds and runs nhwc-terms.cpp: other ways of forming per-channel backward's
# float64 sums over NHWC rows of 64 channels, timed against the kernel's way
# (see the comment at the top of nhwc-terms.cpp and bench/RESULTS.md, issue 11).
# Needs AVX-512F/VL/DQ.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O3 -mavx512f -mavx512vl -mavx512dq -mavx2 -mfma -ffp-contract=off -fno-fast-math "$dir/nhwc-terms.cpp" -o "$tmp/nhwc-terms"
# shellcheck disable=SC2086
"$tmp/nhwc-terms" ${*:-16384 65536 262144 1048576}
