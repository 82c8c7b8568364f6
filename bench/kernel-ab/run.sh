#!/bin/sh
# Usage: bench/kernel-ab/run.sh OLD_REV [ISA] [SIZES...]
#   ISA: avx2 (default) or avx512; SIZES default 16384 65536 262144 1048576.
# Builds kernels_<ISA>.cpp of OLD_REV and of the working tree with the
# project's flags (-O3 -ffp-contract=off and the ISA's -m flags) and runs
# ab.cpp on them. Needs a CPU with that ISA.
set -eu
rev=${1:?usage: run.sh OLD_REV [avx2|avx512] [sizes...]}
isa=${2:-avx2}
[ $# -ge 2 ] && shift 2 || shift $#
sizes=${*:-16384 65536 262144 1048576}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case $isa in
  avx2) flags="-mavx2 -mfma"; sym=kAvx2Kernels ;;
  avx512) flags="-mavx512f -mavx512vl -mavx2 -mfma"; sym=kAvx512Kernels ;;
  *) echo "run.sh: ISA must be avx2 or avx512" >&2; exit 2 ;;
esac
mkdir -p "$tmp/old"
git -C "$root" archive "$rev" native/core | tar -x -C "$tmp/old"
mangled="_ZN5arelu${#sym}${sym}E"
for side in old new; do
  src=$root/native/core
  [ $side = old ] && src=$tmp/old/native/core
  g++ -O3 -DARELU_X86=1 -ffp-contract=off -fno-fast-math $flags -I"$src" -c "$src/kernels_$isa.cpp" -o "$tmp/k_$side.o"
  # Each side's kernel table under its own C name (both come from one TU name).
  objcopy --redefine-sym "$mangled=ab_${side}_kernels" "$tmp/k_$side.o"
  printf '#include "cpu_kernels.h"\nextern "C" const arelu::CpuKernels ab_%s_kernels;\nextern "C" const arelu::CpuKernels* ab_%s() { return &ab_%s_kernels; }\n' \
    "$side" "$side" "$side" > "$tmp/get_$side.cpp"
done
g++ -O2 -I"$root/native/core" "$root/bench/kernel-ab/ab.cpp" "$tmp/get_old.cpp" "$tmp/get_new.cpp" "$tmp/k_old.o" "$tmp/k_new.o" -o "$tmp/ab"
# shellcheck disable=SC2086
"$tmp/ab" $sizes
