#!/bin/sh
# Usage: bench/kernel-ab/bound.sh [SIZES...]   (default 16384 65536 262144)
# Builds and runs bound.cpp: what bounds backward in cache on an AVX2 CPU
# (see the comment at the top of bound.cpp and bench/RESULTS.md, issue 11).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O3 -mavx2 -mfma -ffp-contract=off -fno-fast-math "$dir/bound.cpp" -o "$tmp/bound"
# shellcheck disable=SC2086
"$tmp/bound" ${*:-16384 65536 262144}
