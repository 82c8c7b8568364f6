// One generic body for the SIMD kernels, instantiated once per ISA by
// kernels_avx2.cpp and kernels_avx512.cpp with a traits type `V`:
//   F, D      float / double vector types, W floats per F, W/2 doubles per D
//   kRegisters                               vector registers (16 or 32)
//   kPrefetchAhead                           backward's prefetch distance, floats
//   load/store/set1/zero/mul/sub/add/relu/neg float ops (relu keeps NaN)
//   sign_select(x, a, b)                      a where x's sign bit is set, else b
//   zeros_of(x)                               x where x == +-0, +0 elsewhere (NaN too)
//   dx(x, g, a, b)                            the backward_dx select
//   widen(const float*) -> D                  load W/2 floats, widen exactly
//   zerod/loadd/stored/addd/fmadd/fnmadd       double ops
//   relud(v) = max(0, v), negpartd(v) = min(0, v)   both keep NaN v
// Every element's value is defined by arelu_math.h: tails take the scalar
// reference functions, or the vector formulas (bit-identical to them) on a
// masked vector (its other lanes +0). The backward sums keep the canonical
// 16-lane order of arelu_math.h: lanes [k*W/2, k*W/2 + W/2) live in
// accumulator k, which is the same order scalar code uses (or, where dx's
// stores are aligned, a rotation of it that folds to the same sums:
// backward_piece).
//
// Why the sums widen from memory (issue 11, bench/RESULTS.md "Backward in
// cache"): widening a register half costs a shuffle plus a convert, and the
// old body widened g, relu(x) and relu(-x) (six converts and three
// extracts per 8 floats on AVX2); the widening converts were the bound in
// cache. Now x and g are widened once each, straight from memory (a load
// folded into the convert), and relu/negation run in float64. Widening is
// exact and commutes with negation and with relu (max(0, v) returns v for
// NaN v and -0 for -0 in either width), so every float64 term, and with it
// every sum, is bit-identical to the old body and to the scalar reference.
// The alpha term uses relu(-x) = -min(0, x) (also for +-0: min(0, +-0) is
// the second operand, so -min(0, +0) = -0 = relu(-0) and -min(0, -0) = +0 =
// relu(+0); NaN stays NaN), and acc + g * -m = acc - g * m with the same
// single rounding: a fused negative multiply-add saves the negation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "arelu_math.h"
#include "cpu_kernels.h"

namespace arelu {
namespace simd {

// Backward reads two streams and writes a third; the hardware prefetcher
// alone leaves it ~25% slower than the bandwidth allows (measured on the
// development machine: 7.0 -> 5.3 ms for 16M elements, see bench/RESULTS.md).
// V::kPrefetchAhead floats ahead on both inputs (2 KiB; 512 bytes for the
// AVX-512 8-float table, which only AMD Zen 4 runs, where that took
// 0.89-0.92x the time of 2 KiB from 1M to 16M elements and 4-8 KiB
// 1.13-1.29x); past-the-end addresses are harmless hints.
constexpr size_t kPrefetchAhead = 512;  // floats
template <class V>
inline void prefetch_inputs(const float* x, const float* g) {
  __builtin_prefetch(x + V::kPrefetchAhead);
  __builtin_prefetch(g + V::kPrefetchAhead);
}

template <class V>
inline typename V::F forward_vec(typename V::F x, typename V::F a,
                                 typename V::F b) {
  return V::sub(V::mul(V::relu(x), b), V::mul(V::relu(V::neg(x)), a));
}

// Forward in 3 arithmetic operations, for finite a and b (a in [0.01,
// 0.99] and b in [1, 2] from make_coeffs; NaN parameters take forward_vec):
//   p = x * (sign bit of x ? a : b),  y = p + zeros_of(x).
// Against the reference relu(x)*b - relu(-x)*a, case by case:
//   x > 0 (+Inf too): x*b - (+0) = x*b = p (x*b is never 0 since b >= 1);
//   x < 0: (+0) - |x|*a = -(|x|*a) = x*a = p when |x|*a rounds to nonzero;
//          when it underflows, the reference gives +0 - +0 = +0, p = -0, and
//          p + (+0) = +0;
//   x = +0: +0*b - (-0)*a = +0 = p + (+0);  x = -0: -0*b - (+0)*a = -0 = p
//          + (-0) (p = -0*a = -0);
//   x NaN: x*coef is x's NaN, quieted, as in the reference; + (+0) keeps it.
// Any other nonzero p is unchanged by adding +0. Bit-identical, NaN
// payload included (tested: core test, nan-payloads and edge cases).
template <class V>
inline typename V::F forward_fast(typename V::F x, typename V::F a,
                                  typename V::F b) {
  return V::add(V::mul(x, V::sign_select(x, a, b)), V::zeros_of(x));
}

// The elements from p to its first vector-aligned address (W floats: 64
// bytes with 16-float vectors); 0 when p is aligned.
template <class V>
inline size_t to_aligned(const float* p) {
  const size_t mis = (reinterpret_cast<uintptr_t>(p) / sizeof(float)) % V::W;
  return mis != 0 ? V::W - mis : 0;
}

// Forward of a vector with per-lane coefficients: the 3-operation form
// when the caller knows them finite (kFinite), else the reference form.
template <class V, bool kFinite>
inline typename V::F forward_coef(typename V::F x, typename V::F a, typename V::F b) {
  return kFinite ? forward_fast<V>(x, a, b) : forward_vec<V>(x, a, b);
}

// Forward's body. kAlignStores: y's stores start at a vector-aligned
// address (W floats: 64 bytes with 16-float vectors), after one masked
// vector for the elements before it, and the rest after the main loop goes
// through vector operations too. Node's typed arrays are only 16-byte
// aligned (the one measured started 48 bytes past a 64-byte line), so
// every 16-float store otherwise spans two lines: aligned this way,
// forward took 0.85-0.89x the time at 64K-1M elements on the Zen 4 VM
// (AVX2: 0.88-0.90x), the time it takes on aligned arrays; misaligned
// loads cost nothing measurable
// (bench/RESULTS.md, "Twelfth session"). Short rows (forward_rows, NCHW
// maps) keep the plain body: with the peel, rows of 64-256 floats took
// 1.09-1.15x the time.
template <class V, bool kAlignStores>
inline void forward_body(const float* x, float* y, size_t n, float a, float b) {
  const typename V::F va = V::set1(a), vb = V::set1(b);
  size_t i = 0;
  if constexpr (kAlignStores) {
    if (const size_t p = to_aligned<V>(y); p != 0) {
      const int m = static_cast<int>(p);
      V::store_first(y, forward_vec<V>(V::load_first(x, m), va, vb), m);
      i = p;
    }
  }
  if (std::isfinite(a) && std::isfinite(b)) {
    for (; i + 2 * V::W <= n; i += 2 * V::W) {
      const typename V::F x0 = V::load(x + i), x1 = V::load(x + i + V::W);
      V::store(y + i, forward_fast<V>(x0, va, vb));
      V::store(y + i + V::W, forward_fast<V>(x1, va, vb));
    }
  }
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    const typename V::F x0 = V::load(x + i), x1 = V::load(x + i + V::W);
    V::store(y + i, forward_vec<V>(x0, va, vb));
    V::store(y + i + V::W, forward_vec<V>(x1, va, vb));
  }
  if constexpr (kAlignStores) {
    for (; i + V::W <= n; i += V::W) V::store(y + i, forward_vec<V>(V::load(x + i), va, vb));
    if (i < n) {
      const int m = static_cast<int>(n - i);
      V::store_first(y + i, forward_vec<V>(V::load_first(x + i, m), va, vb), m);
    }
  } else {
    for (; i < n; ++i) y[i] = forward_elem(x[i], a, b);
  }
}

// Where forward and backward align their stores: on x86 (8- and 16-float
// vectors, where it was measured; NEON's 4-float stores keep the plain
// bodies, unmeasured on arm64 hardware), forward from kAlignStoresFrom
// elements.
template <class V>
constexpr bool kAlignsStores = V::W >= 8;
constexpr size_t kAlignStoresFrom = 1024;

template <class V>
void forward_uniform(const float* x, float* y, size_t n, float a, float b) {
  if (kAlignsStores<V> && n >= kAlignStoresFrom)
    forward_body<V, true>(x, y, n, a, b);
  else
    forward_body<V, false>(x, y, n, a, b);
}

// Forward per-channel (period mode): `rows` slices of n slots, slice r at
// x + r * stride, slot j with coefficients pa[j], pb[j], one slice after
// the other. The driver hands a task's rows over in one call instead of one
// call each: 0.92-0.96x the time at 16K-256K elements (NHWC, 64 channels,
// one thread; both cores in one process, bench/kernel-ab/core-ab.sh with
// AB_OP=forward). Row blocks that load each coefficient vector once for 4
// rows, as backward does, were 0.81-0.86x at 16K but 1.05-1.12x at 64K-1M
// (bench/RESULTS.md, "Sixth session"). Two vectors per iteration, as
// forward_uniform does.
template <class V, bool kFinite>
inline void forward_varying_pair(const float* x, float* y, const float* pa, const float* pb) {
  const typename V::F x0 = V::load(x), x1 = V::load(x + V::W);
  const typename V::F a0 = V::load(pa), a1 = V::load(pa + V::W);
  const typename V::F b0 = V::load(pb), b1 = V::load(pb + V::W);
  V::store(y, forward_coef<V, kFinite>(x0, a0, b0));
  V::store(y + V::W, forward_coef<V, kFinite>(x1, a1, b1));
}

template <class V, bool kFinite>
inline void forward_varying_row(const float* x, float* y, size_t n, const float* pa, const float* pb) {
  size_t i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) forward_varying_pair<V, kFinite>(x + i, y + i, pa + i, pb + i);
  for (; i + V::W <= n; i += V::W) {
    const typename V::F xv = V::load(x + i), va = V::load(pa + i), vb = V::load(pb + i);
    V::store(y + i, forward_coef<V, kFinite>(xv, va, vb));
  }
  for (; i < n; ++i) y[i] = forward_elem(x[i], pa[i], pb[i]);
}

// Contiguous rows whose length is a whole number of vector pairs (the
// common case: the driver's full rows): one loop over all of them, the
// slot index wrapping at the row's end, instead of a loop per row (a row
// of 256 slots is 16 iterations): 0.86-0.95x the time of the loop per row
// at 16K-256K elements (NHWC, 64 channels, one thread, with the tables on
// whole lines; bench/RESULTS.md, "Eighth session").
template <class V, bool kFinite>
inline void forward_varying_flat(const float* x, float* y, size_t total, size_t n, const float* pa,
                                 const float* pb) {
  for (size_t i = 0, j = 0; i < total; i += 2 * V::W) {
    forward_varying_pair<V, kFinite>(x + i, y + i, pa + j, pb + j);
    j += 2 * V::W;
    if (j == n) j = 0;
  }
}

// Contiguous rows of S slot vectors with 32 registers (AVX-512): the 2S
// coefficient vectors stay in registers for all the rows, which then
// stream as with scalar parameters (one load and one store per vector
// instead of three loads). NHWC with 64 channels on the AMD Zen 4 VM, one
// thread, against the flat loop over 256-slot rows: 0.83-0.88x the time at
// 16K-64K, 0.90-0.93x at 256K, 0.92x at 1M; 3 channels (96 slots) 0.86x
// (bench/kernel-ab/core-ab.sh with AB_OP=forward; bench/RESULTS.md
// "Eleventh session"). Same bits: the same operation per element.
//
// kAlignStores: y's stores start at its first vector-aligned address, as
// forward_body's do. The p elements before it take one masked vector, and
// the rest runs from element p, where vector s of every row covers slots
// p + s W ... (mod S W): its coefficients are loaded once from a doubled
// copy of the row's (same operation per element: the same bits).
template <class V, int S, bool kFinite, bool kAlignStores>
inline void forward_in_registers(const float* x, float* y, size_t total, const float* pa, const float* pb) {
  constexpr size_t n = static_cast<size_t>(S) * V::W;  // slots per row
  const size_t p = kAlignStores ? to_aligned<V>(y) : 0;
  typename V::F a[S], b[S];
  if (p == 0) {
    for (int s = 0; s < S; ++s) {
      a[s] = V::load(pa + s * V::W);
      b[s] = V::load(pb + s * V::W);
    }
  } else {
    const int m = static_cast<int>(p);
    const typename V::F head = V::load_first(x, m);
    V::store_first(y, forward_coef<V, kFinite>(head, V::load_first(pa, m), V::load_first(pb, m)), m);
    alignas(64) float ra[2 * n], rb[2 * n];
    for (int s = 0; s < S; ++s) {
      const typename V::F av = V::load(pa + s * V::W), bv = V::load(pb + s * V::W);
      V::store(ra + s * V::W, av), V::store(ra + n + s * V::W, av);
      V::store(rb + s * V::W, bv), V::store(rb + n + s * V::W, bv);
    }
    for (int s = 0; s < S; ++s) {
      a[s] = V::load(ra + p + s * V::W);
      b[s] = V::load(rb + p + s * V::W);
    }
  }
  size_t i = p;
  for (; i + n <= total; i += n)
    for (int s = 0; s < S; ++s) {
      const size_t e = i + s * V::W;
      V::store(y + e, forward_coef<V, kFinite>(V::load(x + e), a[s], b[s]));
    }
  for (int s = 0; s < S && i < total; ++s, i += V::W) {  // the last row's n - p (kAlignStores)
    if (i + V::W <= total) {
      V::store(y + i, forward_coef<V, kFinite>(V::load(x + i), a[s], b[s]));
    } else {
      const int m = static_cast<int>(total - i);
      V::store_first(y + i, forward_coef<V, kFinite>(V::load_first(x + i, m), a[s], b[s]), m);
    }
  }
}

// From here forward_in_registers aligns its stores (the driver's tasks are
// about 32K elements: 32640 with 3 NHWC channels): 0.85-0.89x the time at
// 32K-1M elements (NHWC, 64 channels; 3 channels 0.89x at 96K), but its
// head, tail and rotated coefficients cost 1.03-1.04x at 16K and 1.09-1.12x
// at 4K (bench/RESULTS.md, "Twelfth session").
constexpr size_t kAlignPeriodFrom = 24576;

template <class V, bool kFinite>
inline void forward_flat(const float* x, float* y, size_t total, size_t n, const float* pa, const float* pb) {
  if constexpr (V::kRegisters >= 32 && V::W == 16) {
    auto rows = [&](auto align) {
      constexpr bool kAlign = decltype(align)::value;
      switch (n / V::W) {
        case 2: return forward_in_registers<V, 2, kFinite, kAlign>(x, y, total, pa, pb), true;  // (n is a
        case 4: return forward_in_registers<V, 4, kFinite, kAlign>(x, y, total, pa, pb), true;  // whole number
        case 6: return forward_in_registers<V, 6, kFinite, kAlign>(x, y, total, pa, pb), true;  // of vector
        case 8: return forward_in_registers<V, 8, kFinite, kAlign>(x, y, total, pa, pb), true;  // pairs here)
        default: return false;
      }
    };
    if (total >= kAlignPeriodFrom ? rows(std::true_type()) : rows(std::false_type())) return;
  }
  forward_varying_flat<V, kFinite>(x, y, total, n, pa, pb);
}

template <class V>
void forward_varying(const float* x, float* y, size_t n, size_t rows, size_t stride, const float* pa,
                     const float* pb, bool finite) {
  if (stride == n && n % (2 * V::W) == 0) {
    finite ? forward_flat<V, true>(x, y, rows * n, n, pa, pb) : forward_flat<V, false>(x, y, rows * n, n, pa, pb);
    return;
  }
  for (size_t r = 0; r < rows; ++r, x += stride, y += stride)
    finite ? forward_varying_row<V, true>(x, y, n, pa, pb) : forward_varying_row<V, false>(x, y, n, pa, pb);
}

// The two float64 terms of W/2 elements at x/g, added to acc_a/acc_b:
// the float64 product of two float32 values is exact, so a fused
// multiply-add rounds exactly like the scalar `acc += g * r`.
template <class V>
inline void add_terms_d(typename V::D xd, typename V::D gd, typename V::D& acc_a, typename V::D& acc_b) {
  acc_a = V::fnmadd(gd, V::negpartd(xd), acc_a);
  acc_b = V::fmadd(gd, V::relud(xd), acc_b);
}

template <class V>
inline void add_terms(const float* x, const float* g, typename V::D& acc_a,
                      typename V::D& acc_b) {
  add_terms_d<V>(V::widen(x), V::widen(g), acc_a, acc_b);
}

// One vector of a 16-lane group at xs/gs: its terms to lanes a0/b0 (lower
// half) and a1/b1 (upper half), its dx to ds (after its loads: dx may be
// x or g).
template <class V>
__attribute__((always_inline)) inline void vector_terms(const float* xs, const float* gs, float* ds,
                                                        typename V::F va, typename V::F vb, typename V::D& a0,
                                                        typename V::D& a1, typename V::D& b0, typename V::D& b1) {
  constexpr int H = V::W / 2;
  const typename V::F xv = V::load(xs), gv = V::load(gs);
  add_terms<V>(xs, gs, a0, b0);
  add_terms<V>(xs + H, gs + H, a1, b1);
  V::store(ds, V::dx(xv, gv, va, vb));
}

// The canonical fold of 16 lanes held in registers (2 * 16 / W vectors
// per sum, lanes in order) into sums[0] and sums[1].
template <class V>
__attribute__((always_inline)) inline void fold_acc(typename V::D* acc_a, typename V::D* acc_b, double* sums) {
  constexpr int H = V::W / 2;
  // The first fold levels (lane l += lane l + w for w >= H) are whole-vector
  // adds of the same lane pairs fold_lanes adds, then the last vector's H
  // lanes fold as fold_lanes does: the same bits, without a store-to-load
  // round trip per lane.
  for (int w = kLanes / 2; w >= H; w /= 2)
    for (int k = 0; k < w / H; ++k) {
      acc_a[k] = V::addd(acc_a[k], acc_a[k + w / H]);
      acc_b[k] = V::addd(acc_b[k], acc_b[k + w / H]);
    }
  double la[H], lb[H];
  V::stored(la, acc_a[0]);
  V::stored(lb, acc_b[0]);
  for (int w = H / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) {
      la[l] += la[l + w];
      lb[l] += lb[l + w];
    }
  sums[0] = la[0];
  sums[1] = lb[0];
}

// add_terms for the 2 * (W/2) elements of vectors already in registers
// (xv, gv): their lower and upper halves to (a0, b0) and (a1, b1).
template <class V>
inline void add_terms_reg(typename V::F xv, typename V::F gv, typename V::D& a0, typename V::D& a1,
                          typename V::D& b0, typename V::D& b1) {
  add_terms_d<V>(V::widen_lo(xv), V::widen_lo(gv), a0, b0);
  add_terms_d<V>(V::widen_hi(xv), V::widen_hi(gv), a1, b1);
}

// One whole 16-lane group at x/g, dx to dx: every read of a vector's x and
// g comes before its store (dx may be x or g: in place).
template <class V>
__attribute__((always_inline)) inline void whole_group(const float* x, const float* g, float* dx, typename V::F va,
                                                       typename V::F vb, typename V::D* acc_a, typename V::D* acc_b) {
  for (int h = 0; h < kLanes / V::W; ++h) {
    const int o = h * V::W;
    vector_terms<V>(x + o, g + o, dx + o, va, vb, acc_a[2 * h], acc_a[2 * h + 1], acc_b[2 * h], acc_b[2 * h + 1]);
  }
}

// The terms and dx of a vector loaded with some lanes masked (+0): the
// terms widened from the register, dx handed to `store`.
template <class V, class Store>
__attribute__((always_inline)) inline void masked_terms(typename V::F xv, typename V::F gv, typename V::F va,
                                                        typename V::F vb, typename V::D* a, typename V::D* b,
                                                        Store store) {
  add_terms_reg<V>(xv, gv, a[0], a[1], b[0], b[1]);
  store(V::dx(xv, gv, va, vb));
}

// A 16-lane group that is only partly the caller's: lanes [p, 16) of the
// group based at x - p (head_group), or lanes [0, n - i) of the group at
// x + i (tail_group), 0 < p, n - i < 16. Whole vectors go through
// vector_terms; a vector cut by the edge is loaded with its lanes outside
// the range masked (they read +0, whose terms add nothing: backward_piece;
// and masked lanes are neither read nor written, so the elements beside
// the range, another row's or past the array, are untouched) and its terms
// widened from the register. Both backward_piece (its aligned head and its
// tail) and tile_run (a run that starts inside a group) take these, with
// the accumulators in registers throughout: no round trip through a padded
// copy in memory (bench/RESULTS.md, "Fourteenth session"). (tail_group
// takes i and n, not x + i and n - i: in that form the tile kernel with
// rows of 16, which never has a tail, took 1.07-1.10x the time; the code
// layout's doing, not the work's.)
template <class V>
__attribute__((always_inline)) inline void head_group(const float* x, const float* g, float* dx, int p,
                                                      typename V::F va, typename V::F vb, typename V::D* acc_a,
                                                      typename V::D* acc_b) {
  for (int h = 0; h < kLanes / V::W; ++h) {
    const int lo = h * V::W;
    if (lo + V::W <= p) continue;  // none of the range's lanes
    const ptrdiff_t o = lo - p;    // the vector's base, x - p + lo
    if (lo >= p) {
      vector_terms<V>(x + o, g + o, dx + o, va, vb, acc_a[2 * h], acc_a[2 * h + 1], acc_b[2 * h], acc_b[2 * h + 1]);
    } else {
      const int from = p - lo;  // lanes [from, W) of the vector
      masked_terms<V>(V::load_from(x + o, from), V::load_from(g + o, from), va, vb, acc_a + 2 * h, acc_b + 2 * h,
                      [&](typename V::F d) { V::store_from(dx + o, from, d); });
    }
  }
}

template <class V>
__attribute__((always_inline)) inline void tail_group(const float* x, const float* g, float* dx, size_t i, size_t n,
                                                      typename V::F va, typename V::F vb, typename V::D* acc_a,
                                                      typename V::D* acc_b) {
  const int m = static_cast<int>(n - i);
  for (int h = 0; h < kLanes / V::W; ++h) {
    const int lo = h * V::W, k = std::min(m - lo, V::W);  // this vector's lanes
    if (k <= 0) break;
    const size_t o = i + lo;
    if (k == V::W) {
      vector_terms<V>(x + o, g + o, dx + o, va, vb, acc_a[2 * h], acc_a[2 * h + 1], acc_b[2 * h],
                      acc_b[2 * h + 1]);
    } else {
      masked_terms<V>(V::load_first(x + o, k), V::load_first(g + o, k), va, vb, acc_a + 2 * h, acc_b + 2 * h,
                      [&](typename V::F d) { V::store_first(dx + o, d, k); });
    }
  }
}

// dx and the two canonical sums of one piece. A tail of fewer than kLanes
// elements is a group with its other lanes masked (tail_group): a masked
// lane adds the term of x = +0, g = +0, which is +0, and an accumulator
// that starts at +0 never becomes -0 (adding a product to +0 or to a
// nonzero value cannot give -0), so masked lanes add nothing and the sums
// are those of the scalar order of arelu_math.h. Short pieces (rows of a
// small feature map, NCHW) then fold in registers too.
//
// backward_rows inlines this once per row, so its fixed cost counts for
// short rows (an 8x8 map is 64 elements, 4 groups). kTail = false (n a
// nonzero multiple of kLanes) drops the tail code and the test before the
// first group, after which the compiler keeps the accumulators in
// registers from the first group to the fold (bench/RESULTS.md, "Eighth
// session"). The same bits either way.
//
// kAlignStores: dx's stores start at a vector-aligned address, as forward's
// do (forward_body). The p elements before it (lanes 0 .. p-1) go first, as
// the last p positions of a group with its first 16 - p masked
// (head_group); every group after them then
// starts at element p + 16k, so register position j holds lane
// (p + j) % 16 throughout (the tail too): each lane adds the same terms in
// the same order. The fold needs no rotating back: it adds positions l and
// l + w for w = 8, 4, 2, 1, pairs at distance w modulo 2w, which a cyclic
// rotation of the 16 positions maps onto the same pairs (each level's
// values come out rotated the same way), and float addition is commutative
// (but for which NaN payload a sum of two NaNs keeps, which the compiler
// may choose anyway and finish_dalpha/finish_dbeta make canonical): the
// same sums (tested against the scalar kernel at every p). With the 8-float
// AVX-512 table on the Zen 4 VM, dx stores aligned this way took
// 0.92-0.94x the time at 64K-1M elements (the 16-float table, bound by its
// converts there, 0.98-1.00x in a scratch loop; bench/RESULTS.md, "Twelfth
// session").
template <class V, bool kTail = true, bool kAlignStores = false>
__attribute__((always_inline)) inline void backward_piece(const float* x, const float* g, float* dx, size_t n,
                                                          typename V::F va, typename V::F vb, double* sums) {
  constexpr int kVecs = kLanes / V::W;  // float vectors per 16-lane group
  static_assert(kLanes % V::W == 0, "vector width must divide the lanes");
  typename V::D acc_a[2 * kVecs], acc_b[2 * kVecs];
  for (int k = 0; k < 2 * kVecs; ++k) acc_a[k] = acc_b[k] = V::zerod();
  auto group = [&](const float* xs, const float* gs, float* ds) { whole_group<V>(xs, gs, ds, va, vb, acc_a, acc_b); };
  size_t i = 0;
  if constexpr (kAlignStores) {
    const size_t p = to_aligned<V>(dx);
    if (p != 0 && n >= kLanes) {  // lanes [16 - p, 16) of a group: x[0 .. p)
      head_group<V>(x, g, dx, static_cast<int>(kLanes - p), va, vb, acc_a, acc_b);
      i = p;
    }
  }
  if constexpr (kTail || kAlignStores) {
    for (; i + kLanes <= n; i += kLanes) {
      prefetch_inputs<V>(x + i, g + i);
      group(x + i, g + i, dx + i);
    }
  } else {  // n is a nonzero multiple of kLanes: no test before the first group
    do {
      prefetch_inputs<V>(x + i, g + i);
      group(x + i, g + i, dx + i);
      i += kLanes;
    } while (i < n);
  }
  if ((kTail || kAlignStores) && i < n)  // lanes [0, n - i)
    tail_group<V>(x, g, dx, i, n, va, vb, acc_a, acc_b);
  fold_acc<V>(acc_a, acc_b, sums);
}

// Backward aligns its dx stores (kAlignStores) in pieces and rows of
// kBackwardAlignFrom elements and more, where kAlignsStores. The
// head and the tail group it adds cost what it saves in rows of 4096-8192
// elements (0.98-1.02x) and more in shorter ones (1.10x with rows of 1024:
// 32x32 maps, NCHW); rows of 16K elements took 0.95x the time, scalar
// parameters 0.92-0.97x at 32K-1M (bench/RESULTS.md, "Twelfth session").
constexpr size_t kBackwardAlignFrom = 8192;

template <class V>
void backward_uniform(const float* x, const float* g, float* dx, size_t n, float a, float b, double* sums) {
  if (kAlignsStores<V> && n >= kBackwardAlignFrom)
    backward_piece<V, true, kAlignsStores<V>>(x, g, dx, n, V::set1(a), V::set1(b), sums);
  else
    backward_piece<V>(x, g, dx, n, V::set1(a), V::set1(b), sums);
}

template <class V>
void backward_rows(const float* x, const float* g, float* dx, size_t n, size_t rows, const Coeffs* co, size_t c0,
                   size_t channels, double* partial) {
  // Rows of whole 16-lane groups (8x8, 12x12, 16x16, 28x28 maps...) take the
  // body without tail code: 0.77x the time with 64-element rows, 0.86-0.89x
  // with 256 (bench/RESULTS.md, "Eighth session"). Long rows align dx's
  // stores (kBackwardAlignFrom).
  auto all_rows = [&](auto tail, auto align) {
    for_each_row(rows, c0, channels, [&](size_t r, size_t c) {
      backward_piece<V, decltype(tail)::value, decltype(align)::value>(
          x + r * n, g + r * n, dx + r * n, n, V::set1(co[c].a), V::set1(co[c].b), partial + 2 * r);
    });
  };
  if (kAlignsStores<V> && n >= kBackwardAlignFrom)
    all_rows(std::true_type(), std::bool_constant<kAlignsStores<V>>());
  else if (n > 0 && n % kLanes == 0)
    all_rows(std::false_type(), std::false_type());
  else
    all_rows(std::true_type(), std::false_type());
}

// Tile mode (cpu_kernels.h): one channel's run of n >= 16 elements whose
// first element is in lane p, added to the channel's 16 lanes at st (alpha)
// and st + 16 (beta). The run is three parts: a head group from x - p with
// lanes [p, 16) (masked loads: the elements before x are another
// channel's, never read or written), whole groups as backward_piece takes
// them, and a tail group with lanes [0, m). Masked lanes read +0, whose
// terms add nothing (backward_piece). The lanes stay in registers for the
// run: loaded from st (+0 in a tile's first row, kFresh) and stored back
// once, or in a tile's last row (kLast) folded into sums[0] and sums[1].
template <class V, bool kFresh, bool kLast>
__attribute__((always_inline)) inline void tile_run(const float* x, const float* g, float* dx, size_t n, int p,
                                                    float a, float b, double* st, double* sums) {
  constexpr int kVecs = kLanes / V::W;
  constexpr int H = V::W / 2;
  const typename V::F va = V::set1(a), vb = V::set1(b);
  typename V::D acc_a[2 * kVecs], acc_b[2 * kVecs];
  for (int k = 0; k < 2 * kVecs; ++k) {
    acc_a[k] = kFresh ? V::zerod() : V::loadd(st + k * H);
    acc_b[k] = kFresh ? V::zerod() : V::loadd(st + kLanes + k * H);
  }
  size_t i = 0;
  if (p != 0) {  // the head group, based at x - p
    head_group<V>(x, g, dx, p, va, vb, acc_a, acc_b);
    i = kLanes - p;
  }
  for (; i + kLanes <= n; i += kLanes) {
    prefetch_inputs<V>(x + i, g + i);
    whole_group<V>(x + i, g + i, dx + i, va, vb, acc_a, acc_b);
  }
  if (i < n)  // the tail group: lanes [0, n - i)
    tail_group<V>(x, g, dx, i, n, va, vb, acc_a, acc_b);
  if constexpr (kLast) {
    fold_acc<V>(acc_a, acc_b, sums);
  } else {
    for (int k = 0; k < 2 * kVecs; ++k) {
      V::stored(st + k * H, acc_a[k]);
      V::stored(st + kLanes + k * H, acc_b[k]);
    }
  }
}

// The tile's first row starts the lanes at +0 (the state need not be
// zeroed), its last folds them in registers into sums.
template <class V>
void backward_tile(const float* x, const float* g, float* dx, size_t inner, size_t nch, size_t rows, size_t stride,
                   const Coeffs* co, double* state, double* sums) {
  auto row = [&](size_t r, auto fresh, auto last) {
    const size_t o = r * stride;
    const int p = static_cast<int>(r * inner % kLanes);
    for (size_t k = 0; k < nch; ++k) {
      const size_t e = o + k * inner;
      tile_run<V, decltype(fresh)::value, decltype(last)::value>(x + e, g + e, dx + e, inner, p, co[k].a, co[k].b,
                                                                 state + 2 * kLanes * k, sums + 2 * k);
    }
  };
  if (rows == 1) return row(0, std::true_type(), std::true_type());
  row(0, std::true_type(), std::false_type());
  for (size_t r = 1; r + 1 < rows; ++r) row(r, std::false_type(), std::false_type());
  row(rows - 1, std::false_type(), std::true_type());
}

template <class V>
void forward_rows(const float* x, float* y, size_t n, size_t rows, const Coeffs* co, size_t c0,
                  size_t channels) {
  auto all_rows = [&](auto align) {
    for_each_row(rows, c0, channels, [&](size_t r, size_t c) {
      forward_body<V, decltype(align)::value>(x + r * n, y + r * n, n, co[c].a, co[c].b);
    });
  };
  if (kAlignsStores<V> && n >= kAlignStoresFrom)
    all_rows(std::bool_constant<kAlignsStores<V>>());
  else
    all_rows(std::false_type());
}

// Period mode (per-channel, small inner). Up to kRowBlock rows at a time,
// slot vector by slot vector: each slot's float64 accumulators are loaded
// once, take that slot's terms from every row of the block in row order (as
// the scalar kernel adds them), and are stored once, instead of a load and
// a store per row. The block's rows are sequential streams for the
// prefetcher; a whole group of rows at once would be a power-of-two stride
// walk that thrashes the cache sets (measured 4x slower at 1M).
constexpr size_t kRowBlock = 4;

// Rows a whole number of 4 KiB apart (super-rows of 1024k floats: C = 64
// channels of a 4x4 map, or 32 channels of 32x3, NCHW) put the block's
// lines of x, g and dx in the same L1 sets: 4 rows x 3 arrays = 12 lines
// for 8 ways, and every access missed (bench/kernel-ab/varying.sh 1024:
// 3.4-4.1x the uniform kernel). Two rows at a time keep 6 lines per set
// (2.0-2.2x). The block size changes which accumulations share a register
// load, never their order: each slot still takes its rows in order.
inline size_t row_block(size_t stride) {
  return (stride * sizeof(float)) % 4096 == 0 ? 2 : kRowBlock;
}

// The first nr (<= kBlock) rows at x of one row block, slot vector by slot
// vector. The row count is bounded by a compile-time constant so that the
// row loops unroll (with a bound known only at run time they did not, and
// NHWC calls took 7-9% longer).
template <class V, size_t kBlock, bool kNextBlock, bool kFresh>
inline void varying_block(const float* x, const float* g, float* dx, size_t n, size_t nr, size_t stride,
                          const float* pa, const float* pb, double* acc_a, double* acc_b) {
  constexpr int H = V::W / 2;
  const size_t m = nr < kBlock ? nr : kBlock;  // bounded by a constant: the row loops unroll
  // kNextBlock: rows at least V::kPrefetchAhead floats ahead, a whole block.
  const size_t ahead = kNextBlock ? std::max(kBlock, (V::kPrefetchAhead + stride - 1) / stride) : 0;
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    if ((i & 15) == 0) {
      if (!kNextBlock) {
        for (size_t r = 0; r < m; ++r) prefetch_inputs<V>(x + r * stride + i, g + r * stride + i);
      } else {
        // Arrays streamed from memory, rows under 2 KiB: 2 KiB ahead in a
        // row would land in this block's own later rows. Fetch the next
        // block's rows instead, dx too (for writing): 1M-2M elements took
        // 2.2-2.9x the uniform kernel without, 1.5-2.1x with
        // (bench/RESULTS.md, fifth session); past-the-end addresses are
        // harmless hints. Not in cache, where it cost 10-13%; nor with
        // 2 KiB rows, whose next block's lines share L1 sets with this
        // one's (512 slots: 2.2-2.7x the uniform kernel that way, 1.7-2.1x
        // with the in-row prefetch).
        for (size_t r = 0; r < m; ++r) {
          const size_t e = (r + ahead) * stride + i;
          __builtin_prefetch(x + e);
          __builtin_prefetch(g + e);
          __builtin_prefetch(dx + e, 1);
        }
      }
    }
    typename V::D a0 = kFresh ? V::zerod() : V::loadd(acc_a + i), a1 = kFresh ? V::zerod() : V::loadd(acc_a + i + H);
    typename V::D b0 = kFresh ? V::zerod() : V::loadd(acc_b + i), b1 = kFresh ? V::zerod() : V::loadd(acc_b + i + H);
    const typename V::F va = V::load(pa + i), vb = V::load(pb + i);
    for (size_t r = 0; r < m; ++r) {
      const size_t e = r * stride + i;
      vector_terms<V>(x + e, g + e, dx + e, va, vb, a0, a1, b0, b1);
    }
    V::stored(acc_a + i, a0);
    V::stored(acc_a + i + H, a1);
    V::stored(acc_b + i, b0);
    V::stored(acc_b + i + H, b1);
  }
  if (kFresh)
    for (size_t t = i; t < n; ++t) acc_a[t] = acc_b[t] = 0.0;
  for (size_t r = 0; r < nr; ++r)
    for (size_t t = i; t < n; ++t) {
      const size_t e = r * stride + t;
      acc_a[t] += term_alpha(x[e], g[e]);
      acc_b[t] += term_beta(x[e], g[e]);
      dx[e] = backward_dx(x[e], g[e], pa[t], pb[t]);
    }
}

// Super-rows of S = 4 to 6 slot vectors with 32 registers of 16 floats
// (AVX-512): every slot's float64 accumulators (4S vectors)
// stay in registers for all the rows, which then stream as in the
// scalar-parameter kernel. Row r of the S vectors is at r * stride: the
// whole super-row (stride = S * W: 64, 80 or 96 slots with 16-float
// vectors, i.e. periods (channels x inner) that divide one of them, as NHWC
// with 2-64 channels (a power of two), 3, 5, 6, 12, 24, 48 or 96), or one
// strip of 4 vectors of a wider super-row, the strips one after the other
// (backward_varying), or a run of a super-row taken that way (a part of a
// call split by channels, cpu_backward). Each slot still takes its rows in order: the same
// bits as the row blocks. With 4 slot vectors the coefficients stay in
// registers too; with more they are read again per row (from L1), to leave
// registers for the accumulators. On the Xeon of the GPU machine, one
// thread, against the row blocks: 64 channels 0.69-0.76x the time at
// 16K-64K, 0.88 at 256K, 0.93 at 1M; 3, 5, 48 and 96 channels 0.69-0.72x
// at 80K-96K; two threads 0.53-0.66x; about the scalar-parameter kernel's
// time (bench/RESULTS.md, "Tenth session"). With 16 registers (AVX2) 4
// slot vectors would need all of them for the accumulators; rows one after
// the other with the accumulators in L1 instead were 1.2-1.3x slower on
// the AMD VM.
template <class V, int S>
inline void varying_in_registers(const float* x, const float* g, float* dx, size_t rows, size_t stride,
                                 const float* pa, const float* pb, double* acc_a, double* acc_b, bool fresh) {
  constexpr int H = V::W / 2;
  constexpr bool kCoefRegs = S <= 4;
  typename V::D a[2 * S], b[2 * S];
  typename V::F va[kCoefRegs ? S : 1], vb[kCoefRegs ? S : 1];
  for (int s = 0; s < S; ++s) {
    a[2 * s] = fresh ? V::zerod() : V::loadd(acc_a + s * V::W);
    a[2 * s + 1] = fresh ? V::zerod() : V::loadd(acc_a + s * V::W + H);
    b[2 * s] = fresh ? V::zerod() : V::loadd(acc_b + s * V::W);
    b[2 * s + 1] = fresh ? V::zerod() : V::loadd(acc_b + s * V::W + H);
    if constexpr (kCoefRegs) {
      va[s] = V::load(pa + s * V::W);
      vb[s] = V::load(pb + s * V::W);
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t e0 = r * stride;
    for (int s = 0; s < S; ++s) {
      const size_t e = e0 + s * V::W;
      prefetch_inputs<V>(x + e, g + e);
      const typename V::F ca = kCoefRegs ? va[s] : V::load(pa + s * V::W);
      const typename V::F cb = kCoefRegs ? vb[s] : V::load(pb + s * V::W);
      vector_terms<V>(x + e, g + e, dx + e, ca, cb, a[2 * s], a[2 * s + 1], b[2 * s], b[2 * s + 1]);
    }
  }
  for (int s = 0; s < S; ++s) {
    V::stored(acc_a + s * V::W, a[2 * s]);
    V::stored(acc_a + s * V::W + H, a[2 * s + 1]);
    V::stored(acc_b + s * V::W, b[2 * s]);
    V::stored(acc_b + s * V::W + H, b[2 * s + 1]);
  }
}

// Super-rows up to kMaxStripSlots wide that are a whole number of 4-vector
// strips (128, 192, 256 ... slots) take the strips one after the other,
// each over all the rows (256 bytes of each row). Against the row blocks on
// the AMD Zen 4 VM, one thread: 0.81-0.95x the time with 128-512 NHWC
// channels at 64K-1M elements, 0.96-0.98x NCHW 4x4 maps of 64 channels
// (1024 slots); 1.01 at 1024 channels, so wider ones keep the row blocks;
// two threads, 256 channels at 1M, 0.70x (bench/kernel-ab/core-ab.sh,
// bench/RESULTS.md "Eleventh session"). Unmeasured on Intel. A run of a
// wider super-row (rows `stride` apart) takes them the same way: the
// parts of [4, 7, 7, 512] split by channels over 2 threads took 46-49 us
// in row blocks, 2-3x the one-thread time, and take 17.6 us as strips
// (bench/RESULTS.md, "Thirteenth session").
constexpr size_t kMaxStripSlots = 1024;

// Whether varying_in_registers takes these rows, and takes them.
template <class V>
inline bool varying_by_strips(const float* x, const float* g, float* dx, size_t n, size_t rows, size_t stride,
                              const float* pa, const float* pb, double* acc_a, double* acc_b, bool fresh) {
  // 32 registers hold 4S accumulators plus the rest. Strips of 8-float
  // vectors (128 bytes of a row) took 1.04-1.46x the row blocks' time on
  // AMD Zen 4 (bench/RESULTS.md, "Eleventh session"); NEON's 4-float ones
  // would be narrower still (and are unmeasured on arm64 hardware).
  if constexpr (V::kRegisters >= 32 && V::W == 16) {
    if (n % V::W != 0) return false;
    const size_t vecs = n / V::W;
    if (vecs == 4) return varying_in_registers<V, 4>(x, g, dx, rows, stride, pa, pb, acc_a, acc_b, fresh), true;
    if (vecs == 5) return varying_in_registers<V, 5>(x, g, dx, rows, stride, pa, pb, acc_a, acc_b, fresh), true;
    if (vecs == 6) return varying_in_registers<V, 6>(x, g, dx, rows, stride, pa, pb, acc_a, acc_b, fresh), true;
    if (vecs % 4 != 0 || n > kMaxStripSlots) return false;
    for (size_t j = 0; j < n; j += 4 * V::W)
      varying_in_registers<V, 4>(x + j, g + j, dx + j, rows, stride, pa + j, pb + j, acc_a + j, acc_b + j, fresh);
    return true;
  }
  return false;
}

template <class V>
void backward_varying(const float* x, const float* g, float* dx, size_t n, size_t runs, size_t run_step,
                      size_t rows, size_t stride, const float* pa, const float* pb, double* acc_a,
                      double* acc_b, bool from_memory, bool fresh) {
  if (runs == 1 && varying_by_strips<V>(x, g, dx, n, rows, stride, pa, pb, acc_a, acc_b, fresh)) return;
  const size_t block = row_block(stride);
  const bool next_block = from_memory && stride * sizeof(float) < 2048;
  for (size_t r0 = 0; r0 < rows; r0 += block) {
    const size_t nr = rows - r0 < block ? rows - r0 : block;
    const bool first = fresh && r0 == 0;  // the first block starts the accumulators at +0
    for (size_t m = 0, j = 0; m < runs; ++m, j += run_step) {  // j: the run's first slot
      const size_t o = r0 * stride + j;
      auto run = [&](auto fresh_block) {
        constexpr bool kFresh = decltype(fresh_block)::value;
        if (next_block)
          varying_block<V, kRowBlock, true, kFresh>(x + o, g + o, dx + o, n, nr, stride, pa + j, pb + j, acc_a + j,
                                                    acc_b + j);
        else if (block == kRowBlock)
          varying_block<V, kRowBlock, false, kFresh>(x + o, g + o, dx + o, n, nr, stride, pa + j, pb + j,
                                                     acc_a + j, acc_b + j);
        else
          varying_block<V, 2, false, kFresh>(x + o, g + o, dx + o, n, nr, stride, pa + j, pb + j, acc_a + j,
                                             acc_b + j);
      };
      first ? run(std::true_type()) : run(std::false_type());
    }
  }
}

template <class V>
CpuKernels make_kernels(const char* name) {
  return CpuKernels{name,          forward_uniform<V>, forward_varying<V>, forward_rows<V>,
                    backward_uniform<V>, backward_rows<V>, backward_tile<V>, backward_varying<V>};
}

}  // namespace simd
}  // namespace arelu
