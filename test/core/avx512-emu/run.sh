#!/bin/sh
# The AVX-512 kernels on a CPU without AVX-512: kernels_avx512.cpp compiled
# against simde's portable emulation of the intrinsics (Debian package
# libsimde-dev), then compared bit for bit with the scalar kernels on random
# and edge data (emu_test.cpp). A check of the kernels' logic (lane order,
# selects, NaN/-0 rules as simde models them), not of the hardware: run the
# core test on an AVX-512 machine too.
# Usage: test/core/avx512-emu/run.sh BUILD_DIR   (a build with libarelu_core.a)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR (with libarelu_core.a)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# -I"$here" first: its immintrin.h replaces the compiler's.
g++ -O1 -std=c++17 -DSIMDE_NO_NATIVE -DARELU_X86=1 -ffp-contract=off -fno-fast-math -Wno-psabi \
  -I"$here" -I"$root/native/core" -c "$root/native/core/kernels_avx512.cpp" -o "$tmp/k.o"
objcopy --redefine-sym _ZN5arelu14kAvx512KernelsE=emu_avx512_kernels \
  --redefine-sym _ZN5arelu17kAvx512YmmKernelsE=emu_avx512_ymm_kernels "$tmp/k.o"
g++ -O1 -std=c++17 -DARELU_X86=1 -ffp-contract=off -I"$root/native/core" "$here/emu_test.cpp" "$tmp/k.o" \
  "$build/libarelu_core.a" -lpthread -o "$tmp/emu_test"
"$tmp/emu_test"
