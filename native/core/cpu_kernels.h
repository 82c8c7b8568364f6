// The per-ISA CPU kernel table. Each instruction set implements these four
// leaf kernels in its own translation unit, compiled with its own flags; the
// driver (arelu_cpu.cpp) owns the decomposition into pieces and threads.
//
// Aliasing: y/dx may be exactly x (or g); partial overlap is rejected
// upstream. No __restrict on those pointers for that reason.
#pragma once

#include <cstddef>

namespace arelu {

struct Coeffs;  // arelu_math.h

struct CpuKernels {
  const char* name;

  // y[i] = forward_elem(x[i], a, b) for i < n
  void (*forward_uniform)(const float* x, float* y, size_t n, float a, float b);

  // y[r * stride + j] = forward_elem(x[r * stride + j], pa[j], pb[j]) for
  // r < rows, j < n: `rows` slices of n slots. `finite`: the caller knows
  // every pa[j], pb[j] is finite (a faster exact form exists).
  void (*forward_varying)(const float* x, float* y, size_t n, size_t rows, size_t stride,
                          const float* pa, const float* pb, bool finite);

  // forward_uniform on `rows` consecutive rows of n elements (row r at
  // x + r * n) with the coefficients of channel (c0 + r) % channels: the
  // rows of an NCHW array, one call for many short rows.
  void (*forward_rows)(const float* x, float* y, size_t n, size_t rows, const Coeffs* co, size_t c0,
                       size_t channels);

  // dx for one piece and its two canonical (16-lane, folded) float64 sums:
  // sums[0] = sum of term_alpha, sums[1] = sum of term_beta.
  void (*backward_uniform)(const float* x, const float* g, float* dx, size_t n,
                           float a, float b, double* sums);

  // backward_uniform on `rows` consecutive pieces of n elements (piece r at
  // x + r * n, coefficients of channel (c0 + r) % channels), its sums to
  // partial[2r], partial[2r + 1].
  void (*backward_rows)(const float* x, const float* g, float* dx, size_t n, size_t rows,
                        const Coeffs* co, size_t c0, size_t channels, double* partial);

  // Tile mode (per-channel, NCHW maps; arelu_cpu.cpp): `rows` rows, row r
  // at x + r * stride, each holding `nch` channels' runs of `inner`
  // elements side by side (inner >= 16). Element t of channel k's run in
  // row r is position r * inner + t of that channel's piece, in lane
  // (r * inner + t) % 16: each lane adds its terms in position order,
  // from +0; channel k's 16 alpha and 16 beta lanes, folded as fold_lanes
  // folds, go to sums[2 k] and sums[2 k + 1]. state: the kernel's scratch,
  // 32 doubles per channel (rows >= 1). co[k] are channel k's
  // coefficients; dx written.
  void (*backward_tile)(const float* x, const float* g, float* dx, size_t inner, size_t nch, size_t rows,
                        size_t stride, const Coeffs* co, double* state, double* sums);

  // dx for `rows` rows at offsets r * stride, each row's slots in `runs`
  // runs of n slots, run m starting at slot m * run_step (one run of a
  // row's first n slots when runs is 1), accumulating acc_a[j] +=
  // term_alpha and acc_b[j] += term_beta slot by slot, each slot's terms in
  // row order. (The order is per slot: the SIMD kernels take a few rows at
  // a time slot by slot, keeping each slot's accumulator in a register
  // across those rows.) from_memory: the call's arrays are too large to be
  // in cache (a prefetch hint only). fresh: the runs' accumulators start
  // at +0 whatever acc_a/acc_b hold (the caller need not zero them; rows
  // must then be at least 1).
  void (*backward_varying)(const float* x, const float* g, float* dx, size_t n, size_t runs,
                           size_t run_step, size_t rows, size_t stride, const float* pa, const float* pb,
                           double* acc_a, double* acc_b, bool from_memory, bool fresh);
};

// The *_rows kernels' walk: piece(r, c) for rows r = 0 .. rows - 1, row r
// with channel c = (c0 + r) % channels.
template <class Piece>
inline void for_each_row(size_t rows, size_t c0, size_t channels, Piece piece) {
  for (size_t r = 0, c = c0; r < rows; ++r) {
    piece(r, c);
    if (++c == channels) c = 0;
  }
}

extern const CpuKernels kScalarKernels;
#if defined(ARELU_X86)
extern const CpuKernels kAvx2Kernels;
extern const CpuKernels kAvx512Kernels;
extern const CpuKernels kAvx512YmmKernels;  // the AVX-512 kernels on 8-float vectors
#endif
#if defined(ARELU_NEON)
extern const CpuKernels kNeonKernels;
#endif

}  // namespace arelu
