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
F="-O3 -g -fPIC -ffp-contract=off -fno-fast-math -DARELU_X86=1 -I$src"
for f in cpu_dispatch thread_pool arelu_cpu; do g++ $F -c "$src/$f.cpp" -o "$tmp/$f.o"; done
K="-falign-loops=64"  # CMakeLists.txt's ARELU_KERNEL_ALIGN
g++ $F $K -c "$src/kernels_scalar.cpp" -o "$tmp/kernels_scalar.o"
g++ $F $K -mavx2 -mfma -c "$src/kernels_avx2.cpp" -o "$tmp/kernels_avx2.o"
g++ $F $K -mavx512f -mavx2 -mfma -Wno-maybe-uninitialized -c "$src/kernels_avx512.cpp" -o "$tmp/kernels_avx512.o"
g++ -shared -pthread "$tmp"/kernels_*.o "$tmp"/cpu_dispatch.o "$tmp"/thread_pool.o "$tmp"/arelu_cpu.o -o "$tmp/core.so"
g++ -O2 -g -I"$src" "$dir/core-loop.cpp" -o "$tmp/core-loop" -ldl
"$tmp/core-loop" "$tmp/core.so" "$n" "$c" "$inner" "$reps" $op
perf record -q -F 20000 -e cpu-clock -o "$tmp/perf.data" "$tmp/core-loop" "$tmp/core.so" "$n" "$c" "$inner" "$reps" $op > /dev/null
perf report -i "$tmp/perf.data" --stdio --no-children 2>/dev/null | grep '%' | grep -v '^#' | head -15
