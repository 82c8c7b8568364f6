#!/bin/sh
# Usage: bench/kernel-ab/core-profile.sh N C INNER [REPS] [forward]
#   e.g. bench/kernel-ab/core-profile.sh 64 64 1 2000000
# Builds the working tree's native/core as a shared library (x86-64, the
# project's flags plus -g), times cpu_backward (or cpu_forward) of one
# layout on one thread in a loop (core-loop.cpp), then runs the loop under
# `perf record -e cpu-clock` (no hardware counters needed) and prints the
# top of `perf report`. Annotate further with
#   perf annotate -i "$ARELU_PROFILE_DIR/perf.data" --stdio -s SYMBOL
# (ARELU_PROFILE_DIR: where to keep the build and the profile; default a
# temporary folder, removed at the end).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$dir/../.." && pwd)
[ $# -ge 3 ] || { echo "core-profile.sh: give N C INNER [REPS] [forward]" >&2; exit 2; }
n=$1; c=$2; inner=$3; reps=${4:-100000}; op=${5:-}
if [ -n "${ARELU_PROFILE_DIR:-}" ]; then tmp=$ARELU_PROFILE_DIR; mkdir -p "$tmp"; else tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi
src=$root/native/core
. "$dir/mkcore.sh"
mkcore "$root" "$tmp/core.so" "$tmp" -g
g++ -O2 -g -I"$src" "$dir/core-loop.cpp" -o "$tmp/core-loop" -ldl
"$tmp/core-loop" "$tmp/core.so" "$n" "$c" "$inner" "$reps" $op
perf record -q -F 20000 -e cpu-clock -o "$tmp/perf.data" "$tmp/core-loop" "$tmp/core.so" "$n" "$c" "$inner" "$reps" $op > /dev/null
perf report -i "$tmp/perf.data" --stdio --no-children 2>/dev/null | grep '%' | grep -v '^#' | head -15
