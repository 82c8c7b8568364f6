# Sourced by core-ab.sh and core-profile.sh (POSIX sh):
#   mkcore TREE OUT.so OBJDIR [EXTRA_FLAGS]
# builds TREE/native/core as a shared library for x86-64 with the project's
# flags (CMakeLists.txt: -ffp-contract=off, the per-ISA flags, the kernels'
# loop alignment) plus EXTRA_FLAGS, its objects in OBJDIR (removed after).
mkcore() {
  src=$1/native/core
  F="-O3 -fPIC -ffp-contract=off -fno-fast-math -DARELU_X86=1 ${4:-} -I$src"
  for f in cpu_dispatch thread_pool arelu_cpu; do g++ $F -c "$src/$f.cpp" -o "$3/$f.o"; done
  K="-falign-loops=64"  # CMakeLists.txt's ARELU_KERNEL_ALIGN
  g++ $F $K -c "$src/kernels_scalar.cpp" -o "$3/kernels_scalar.o"
  g++ $F $K -mavx2 -mfma -c "$src/kernels_avx2.cpp" -o "$3/kernels_avx2.o"
  g++ $F $K -mavx512f -mavx512vl -mavx2 -mfma -Wno-maybe-uninitialized -c "$src/kernels_avx512.cpp" -o "$3/kernels_avx512.o"
  g++ -shared -pthread "$3"/kernels_*.o "$3"/cpu_dispatch.o "$3"/thread_pool.o "$3"/arelu_cpu.o -o "$2"
  rm -f "$3"/*.o
}
