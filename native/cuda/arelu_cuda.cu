// The CUDA kernels and their host side: per-device stream and scratch, the
// layout plan, launches, copies and call completion. Per-element values
// come only from native/core/arelu_math.h (the CPU's own definitions).
//
// Layout plans (chosen from the layout alone, so the summation order of a
// call never depends on timing):
//   flat  channels == 1: grid-stride over the array; per-thread float64
//         sums, block reduction, one partial per block.
//   rows  per-channel with a long inner run (NCHW, inner >= 128): each (outer, channel)
//         row is cut into chunks of kChunk elements; a warp owns a chunk,
//         so its coefficients are uniform; one partial per chunk.
//   per   per-channel forward (no sums), when its float4s fit the layout:
//         a flat grid-stride walk, each thread tracking its channel.
//   cols  per-channel with a short inner run (NHWC): the array is a matrix
//         of `outer` rows by P = channels * inner columns; a thread owns a
//         column (or 4), walks down a band of rows, and the block reduces
//         each column over its threads; one partial per (band, column).
//         Bands are sized from the SM count (about 8 block items per SM).
// Partials are stored channel-major; the second pass sums each channel's
// partials in one fixed order, in the last block of the first pass or, for
// calls with many partials, in a kernel of its own (arelu_reduce_kernel),
// with the same bits either way. No float atomics: the sums are
// bit-identical run to run.
#include "arelu_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "../core/arelu_math.h"
#include "../core/coeff_cache.h"

// The host-side copy of downloaded data (the CPU stand-in, test/cuda-emu,
// can slow it down to show which thread waits for it).
#ifndef ARELU_HOST_COPY
#define ARELU_HOST_COPY std::memcpy
#endif

namespace arelu_cuda {
namespace {

using arelu::Coeffs;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;              // independent loads in flight per thread
constexpr int kBwdMinBlocks = 3;        // backward: resident blocks per SM to reach (caps registers at 85)
constexpr size_t kChunk = 4096;         // rows plan: elements per warp item
constexpr size_t kRowMin = 128;         // inner >= this: rows plan
constexpr size_t kItemsPerSm = 8;       // cols plan: block items per SM to aim for
constexpr size_t kBandMax = 1024;       // cols plan: rows per band, at most

enum Mode : int { kFlat = 0, kRows = 1, kCols = 2, kPer = 3 };

struct RArgs {
  const double2* partial;
  size_t per;  // partials per channel
  size_t channels;
  const Coeffs* coeffs;
  Coeffs c0;
  double* sums;
};

struct KArgs {
  const float* x;
  const float* g;
  float* out;
  size_t n, channels, inner;
  const Coeffs* coeffs;  // device array (rows, cols)
  const float* ca;       // per: a and b per channel, two arrays in device memory
  const float* cb;
  Coeffs c0;             // flat
  double2* partial;      // backward: channel-major partial sums
  // rows
  size_t chunks_per_row, items;
  // cols
  size_t period, outer, cols_v, tx, ty, band, nbands, ntiles;
  // backward with few channels: the second pass folded into the first
  unsigned* done_counter;  // null: arelu_reduce_kernel sums (many partials)
  RArgs red;
};

// One element: writes out, accumulates the float64 terms when backward
// (sa holds the negated alpha sum: see accumulate_terms_routed).
template <bool kBwd>
__device__ __forceinline__ float elem(float x, float g, float a, float b, double& sa, double& sb) {
  if (kBwd) {
    arelu::accumulate_terms_routed(x, g, sa, sb);  // sa: the negated alpha sum
    return arelu::backward_dx(x, g, a, b);
  }
  return arelu::forward_elem(x, a, b);
}

__device__ __forceinline__ void warp_reduce(double& a, double& b) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
}

// Fixed-order block reduction; the result is valid in thread 0. Ends with a
// barrier so the caller may call it again.
__device__ __forceinline__ void block_reduce(double& a, double& b) {
  __shared__ double2 sm[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  warp_reduce(a, b);
  if (lane == 0) sm[warp] = make_double2(a, b);
  __syncthreads();
  if (warp == 0) {
    a = lane < kWarps ? sm[lane].x : 0.0;
    b = lane < kWarps ? sm[lane].y : 0.0;
    warp_reduce(a, b);
  }
  __syncthreads();
}

template <bool kBwd>
__device__ __forceinline__ void vec4(const KArgs& k, size_t v, float4 xv, float4 gv, const float* a,
                                     const float* b, double& sa, double& sb) {
  float4 r;
  r.x = elem<kBwd>(xv.x, gv.x, a[0], b[0], sa, sb);
  r.y = elem<kBwd>(xv.y, gv.y, a[1], b[1], sa, sb);
  r.z = elem<kBwd>(xv.z, gv.z, a[2], b[2], sa, sb);
  r.w = elem<kBwd>(xv.w, gv.w, a[3], b[3], sa, sb);
  reinterpret_cast<float4*>(k.out)[v] = r;
}

// --- flat: channels == 1 -------------------------------------------------------
template <bool kBwd, int kVec>
__device__ void flat_body(const KArgs& k) {
  const size_t tid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t nth = size_t(gridDim.x) * blockDim.x;
  const float a = k.c0.a, b = k.c0.b;
  const float av[4] = {a, a, a, a}, bv[4] = {b, b, b, b};
  double sa = 0.0, sb = 0.0;
  size_t done = 0;
  if (kVec == 4) {
    const size_t nv = k.n / 4;
    const float4* x4 = reinterpret_cast<const float4*>(k.x);
    const float4* g4 = reinterpret_cast<const float4*>(k.g);
    for (size_t v0 = tid; v0 < nv; v0 += nth * kUnroll) {
      float4 xv[kUnroll], gv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const size_t v = v0 + u * nth;
        if (v < nv) {
          xv[u] = __ldg(x4 + v);
          gv[u] = kBwd ? __ldg(g4 + v) : xv[u];
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const size_t v = v0 + u * nth;
        if (v < nv) vec4<kBwd>(k, v, xv[u], gv[u], av, bv, sa, sb);
      }
    }
    done = nv * 4;
  }
  // The tail (vector plan) or everything (scalar plan), bounds-checked.
  for (size_t i = done + tid; i < k.n; i += nth) {
    const float xi = __ldg(k.x + i);
    k.out[i] = elem<kBwd>(xi, kBwd ? __ldg(k.g + i) : xi, a, b, sa, sb);
  }
  if (kBwd) {
    block_reduce(sa, sb);
    if (threadIdx.x == 0) k.partial[blockIdx.x] = make_double2(sa, sb);
  }
}

// --- rows: per-channel, long inner runs --------------------------------------------
template <bool kBwd, int kVec>
__device__ void rows_body(const KArgs& k) {
  const int lane = threadIdx.x & 31;
  const size_t nwarps = size_t(gridDim.x) * (blockDim.x / 32);
  for (size_t item = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; item < k.items;
       item += nwarps) {
    size_t row, chunk, c, o;
    if (k.items <= 0xffffffffu) {  // 32-bit division where it suffices (uniform branch)
      const unsigned it = static_cast<unsigned>(item), cpr = static_cast<unsigned>(k.chunks_per_row);
      const unsigned r32 = it / cpr, ch = static_cast<unsigned>(k.channels);
      row = r32;
      chunk = it - r32 * cpr;
      o = r32 / ch;
      c = r32 - static_cast<unsigned>(o) * ch;
    } else {
      row = item / k.chunks_per_row;
      chunk = item - row * k.chunks_per_row;
      o = row / k.channels;
      c = row - o * k.channels;
    }
    const float a = k.coeffs[c].a, b = k.coeffs[c].b;
    const float av[4] = {a, a, a, a}, bv[4] = {b, b, b, b};
    const size_t start = row * k.inner + chunk * kChunk;
    const size_t len = min(kChunk, k.inner - chunk * kChunk);
    double sa = 0.0, sb = 0.0;
    if (kVec == 4) {  // inner % 4 == 0, so start and len are multiples of 4
      const size_t base = start / 4, nv = len / 4;
      const float4* x4 = reinterpret_cast<const float4*>(k.x);
      const float4* g4 = reinterpret_cast<const float4*>(k.g);
      for (size_t v0 = lane; v0 < nv; v0 += 32 * kUnroll) {
        float4 xv[kUnroll], gv[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const size_t v = v0 + u * 32;
          if (v < nv) {
            xv[u] = __ldg(x4 + base + v);
            gv[u] = kBwd ? __ldg(g4 + base + v) : xv[u];
          }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const size_t v = v0 + u * 32;
          if (v < nv) vec4<kBwd>(k, base + v, xv[u], gv[u], av, bv, sa, sb);
        }
      }
    } else {
      // Odd inner runs (55x55, 13x13): kUnroll loads in flight before the stores.
      for (size_t i0 = lane; i0 < len; i0 += 32 * kUnroll) {
        float xv[kUnroll], gv[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const size_t i = i0 + u * 32;
          if (i < len) {
            xv[u] = __ldg(k.x + start + i);
            gv[u] = kBwd ? __ldg(k.g + start + i) : xv[u];
          }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const size_t i = i0 + u * 32;
          if (i < len) k.out[start + i] = elem<kBwd>(xv[u], gv[u], a, b, sa, sb);
        }
      }
    }
    if (kBwd) {
      warp_reduce(sa, sb);
      const size_t outer = k.n / (k.channels * k.inner);
      if (lane == 0) k.partial[(c * outer + o) * k.chunks_per_row + chunk] = make_double2(sa, sb);
    }
  }
}

// --- cols: per-channel, short inner runs -------------------------------------------
template <bool kBwd, int kVec>
__device__ void cols_body(const KArgs& k) {
  // Fewer loads in flight per thread with 16-byte columns (their 8 float64
  // sums take 16 registers): more resident blocks instead (kBwdMinBlocks).
  // (Forward with 4 in flight measured the same on the H200.)
  constexpr int kU = kVec == 4 ? 2 : kUnroll;
  __shared__ double2 red[kThreads * kVec];
  const size_t tx = threadIdx.x % k.tx, ty = threadIdx.x / k.tx;
  for (size_t item = blockIdx.x; item < k.nbands * k.ntiles; item += gridDim.x) {
    const size_t band = item / k.ntiles, tile = item - band * k.ntiles;
    const size_t vc = tile * k.tx + tx;
    const bool active = ty < k.ty && vc < k.cols_v;
    const size_t j = vc * kVec;  // first column of this thread
    float a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
    double sa[kVec], sb[kVec];
#pragma unroll
    for (int l = 0; l < kVec; ++l) {
      sa[l] = 0.0;
      sb[l] = 0.0;
      if (active) {
        const Coeffs& co = k.coeffs[(j + l) / k.inner];
        a[l] = co.a;
        b[l] = co.b;
      }
    }
    const size_t r0 = band * k.band, r1 = min(k.outer, r0 + k.band);
    if (active) {
      for (size_t rr = r0 + ty; rr < r1; rr += k.ty * kU) {
        if (kVec == 4) {
          const float4* x4 = reinterpret_cast<const float4*>(k.x);
          const float4* g4 = reinterpret_cast<const float4*>(k.g);
          float4 xv[kU], gv[kU];
#pragma unroll
          for (int u = 0; u < kU; ++u) {
            const size_t r = rr + u * k.ty;
            if (r < r1) {
              const size_t v = (r * k.period + j) / 4;
              xv[u] = __ldg(x4 + v);
              gv[u] = kBwd ? __ldg(g4 + v) : xv[u];
            }
          }
#pragma unroll
          for (int u = 0; u < kU; ++u) {
            const size_t r = rr + u * k.ty;
            if (r < r1) {
              const size_t v = (r * k.period + j) / 4;
              float4 o;
              o.x = elem<kBwd>(xv[u].x, gv[u].x, a[0], b[0], sa[0], sb[0]);
              o.y = elem<kBwd>(xv[u].y, gv[u].y, a[1], b[1], sa[kVec > 1 ? 1 : 0], sb[kVec > 1 ? 1 : 0]);
              o.z = elem<kBwd>(xv[u].z, gv[u].z, a[2], b[2], sa[kVec > 2 ? 2 : 0], sb[kVec > 2 ? 2 : 0]);
              o.w = elem<kBwd>(xv[u].w, gv[u].w, a[3], b[3], sa[kVec > 3 ? 3 : 0], sb[kVec > 3 ? 3 : 0]);
              reinterpret_cast<float4*>(k.out)[v] = o;
            }
          }
        } else {
          float xv[kU], gv[kU];
#pragma unroll
          for (int u = 0; u < kU; ++u) {
            const size_t r = rr + u * k.ty;
            if (r < r1) {
              xv[u] = __ldg(k.x + r * k.period + j);
              gv[u] = kBwd ? __ldg(k.g + r * k.period + j) : xv[u];
            }
          }
#pragma unroll
          for (int u = 0; u < kU; ++u) {
            const size_t r = rr + u * k.ty;
            if (r < r1) k.out[r * k.period + j] = elem<kBwd>(xv[u], gv[u], a[0], b[0], sa[0], sb[0]);
          }
        }
      }
    }
    if (kBwd) {
      if (active) {
#pragma unroll
        for (int l = 0; l < kVec; ++l) red[(ty * k.tx + tx) * kVec + l] = make_double2(sa[l], sb[l]);
      }
      __syncthreads();
      if (ty == 0 && vc < k.cols_v) {
#pragma unroll
        for (int l = 0; l < kVec; ++l) {
          double ta = 0.0, tb = 0.0;
          for (size_t t = 0; t < k.ty; ++t) {
            const double2 p = red[(t * k.tx + tx) * kVec + l];
            ta += p.x;
            tb += p.y;
          }
          const size_t col = j + l, c = col / k.inner;
          k.partial[c * (k.nbands * k.inner) + band * k.inner + (col - c * k.inner)] = make_double2(ta, tb);
        }
      }
      __syncthreads();
    }
  }
}

// --- per: per-channel forward as a flat walk ------------------------------------------
// Forward has no sums, so a per-channel forward can walk the array as flat
// does (every thread a float4 per grid stride, kUnroll loads in flight),
// whatever the layout. Each thread keeps its position in the period
// (channels * inner elements, a multiple of 4) as (channel c, offset r in
// the inner run) and moves it by the grid stride without a division; the
// four elements of a float4 are at offsets r..r+3, inside one period.
// Coefficients come as two float arrays (k.ca, k.cb: a and b per channel,
// 16-byte aligned) through the read-only cache: one float4 of each for
// NHWC (inner 1: the float4's channels are c..c+3, c a multiple of 4), one
// float of each where inner is a multiple of 4 (one channel per float4),
// else one per element.
__device__ __forceinline__ void per_coeffs(const KArgs& k, unsigned c, unsigned r, unsigned inner, float* a,
                                           float* b) {
  if (inner == 1) {
    const float4 a4 = __ldg(reinterpret_cast<const float4*>(k.ca) + c / 4);
    const float4 b4 = __ldg(reinterpret_cast<const float4*>(k.cb) + c / 4);
    a[0] = a4.x, a[1] = a4.y, a[2] = a4.z, a[3] = a4.w;
    b[0] = b4.x, b[1] = b4.y, b[2] = b4.z, b[3] = b4.w;
  } else if (inner % 4 == 0) {
    const float a1 = __ldg(k.ca + c), b1 = __ldg(k.cb + c);
#pragma unroll
    for (int l = 0; l < 4; ++l) a[l] = a1, b[l] = b1;
  } else {
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      a[l] = __ldg(k.ca + c);
      b[l] = __ldg(k.cb + c);
      if (++r == inner) {  // never past the last channel: the float4 ends inside the period
        r = 0;
        ++c;
      }
    }
  }
}

__device__ void per_body(const KArgs& k) {
  const size_t tid = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t nth = size_t(gridDim.x) * blockDim.x;
  const size_t nv = k.n / 4;  // n is a multiple of the period, so of 4
  // period < 2^31 (make_plan): c + sq + 1 and r + sr stay below 2^32.
  const unsigned inner = static_cast<unsigned>(k.inner), C = static_cast<unsigned>(k.channels);
  const size_t p0 = (4 * tid) % k.period, step = (4 * nth) % k.period;
  unsigned c = static_cast<unsigned>(p0 / inner), r = static_cast<unsigned>(p0 % inner);
  const unsigned sq = static_cast<unsigned>(step / inner), sr = static_cast<unsigned>(step % inner);
  const float4* x4 = reinterpret_cast<const float4*>(k.x);
  for (size_t v0 = tid; v0 < nv; v0 += nth * kUnroll) {
    float4 xv[kUnroll];
    unsigned cu[kUnroll], ru[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const size_t v = v0 + u * nth;
      if (v < nv) xv[u] = __ldg(x4 + v);
      cu[u] = c;
      ru[u] = r;
      // (c, r) += (sq, sr): c < C and sq < C, so one wrap of each suffices.
      r += sr;
      c += sq;
      if (r >= inner) {
        r -= inner;
        ++c;
      }
      if (c >= C) c -= C;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const size_t v = v0 + u * nth;
      if (v < nv) {
        float a[4], b[4];
        per_coeffs(k, cu[u], ru[u], inner, a, b);
        float4 o;
        o.x = arelu::forward_elem(xv[u].x, a[0], b[0]);
        o.y = arelu::forward_elem(xv[u].y, a[1], b[1]);
        o.z = arelu::forward_elem(xv[u].z, a[2], b[2]);
        o.w = arelu::forward_elem(xv[u].w, a[3], b[3]);
        reinterpret_cast<float4*>(k.out)[v] = o;
      }
    }
  }
}

template <bool kBwd, int kMode, int kVec>
__device__ __forceinline__ void body(const KArgs& k) {
  if (kMode == kFlat) flat_body<kBwd, kVec>(k);
  else if (kMode == kPer) per_body(k);
  else if (kMode == kRows) rows_body<kBwd, kVec>(k);
  else cols_body<kBwd, kVec>(k);
}

// ---- the second pass: each channel's partials, in one fixed order -----------------
//
// The order is that of reduce_channel, a 256-thread block per channel:
// thread t sums partials t, t + 256, ... in index order (leaf L_t, +0 when
// t >= per), each warp reduces its 32 leaves by warp_reduce (W_w), and
// warp 0 reduces W_0..W_7 (lanes 8..31 holding +0) the same way. The
// separate kernel runs it as written; the folded form (the last block of
// the first pass, below) computes the same additions on fewer threads.

__device__ __forceinline__ void finish_channel(const RArgs& r, size_t c, double sa, double sb) {
  const Coeffs co = r.channels == 1 ? r.c0 : r.coeffs[c];
  r.sums[c] = arelu::finish_dalpha(co, -sa);  // the first pass sums -tA
  r.sums[r.channels + c] = arelu::finish_dbeta(co, sb);
}

// One channel's partials summed by the whole block. Loads bypass L1: the
// partials were written by other blocks.
__device__ __forceinline__ void reduce_channel(const RArgs& r, size_t c) {
  double sa = 0.0, sb = 0.0;
  for (size_t e = threadIdx.x; e < r.per; e += blockDim.x) {
    const double2 p = __ldcg(r.partial + c * r.per + e);
    sa += p.x;
    sb += p.y;
  }
  block_reduce(sa, sb);
  if (threadIdx.x == 0) finish_channel(r, c, sa, sb);
}

// The same sums for one channel with at most 64 partials, from a group of
// G = 8 * kW lanes (kW = 1 or 2: the warps of the block form that hold
// leaves, per <= 32 * kW). Lane j of the group stands for lanes j, j + G,
// ... of each of those warps: 4 leaves in registers, each one partial (or
// +0 past `per`; +0 + p is p). Of warp_reduce's steps (offsets 16, 8, ...,
// 1), those with an offset of G or more pair two leaves of one lane and run
// in its registers; the rest are shuffles within the group. Warps 2..7 have
// no leaves: W_w = +0, and adding +0 (also the zeros of warp 0's second
// stage) leaves a sum unchanged, since no sum here is -0 (every one starts
// at +0). So warp 0's second stage is W_0 + W_1, and lane j == 0 of the
// group ends with reduce_channel's sums, bit for bit.
template <int kW>
__device__ __forceinline__ void group_reduce_channel(const RArgs& r, size_t c, bool valid, int j, double& ra,
                                                     double& rb) {
  constexpr int G = 8 * kW, kV = 32 / G;  // kW * kV = 4 leaves per lane
  const double2* p = r.partial + c * r.per;
  double va[kW][kV], vb[kW][kV];
#pragma unroll
  for (int w = 0; w < kW; ++w)
#pragma unroll
    for (int i = 0; i < kV; ++i) {
      const size_t e = size_t(w) * 32 + j + size_t(i) * G;
      const double2 q = valid && e < r.per ? __ldcg(p + e) : make_double2(0.0, 0.0);
      va[w][i] = q.x;
      vb[w][i] = q.y;
    }
#pragma unroll
  for (int w = 0; w < kW; ++w) {
#pragma unroll
    for (int o = 16; o >= G; o >>= 1)
#pragma unroll
      for (int i = 0; i < o / G; ++i) {
        va[w][i] += va[w][i + o / G];
        vb[w][i] += vb[w][i + o / G];
      }
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) {
      va[w][0] += __shfl_down_sync(0xffffffffu, va[w][0], o, G);
      vb[w][0] += __shfl_down_sync(0xffffffffu, vb[w][0], o, G);
    }
  }
  ra = kW == 2 ? va[0][0] + va[kW - 1][0] : va[0][0];
  rb = kW == 2 ? vb[0][0] + vb[kW - 1][0] : vb[0][0];
}

// Every channel's sums by one block, per <= 32 * kW: groups of G lanes,
// 32 / G channels per warp at a time (warp-uniform loops, so every shuffle
// has all 32 lanes).
template <int kW>
__device__ __forceinline__ void block_reduce_channels(const RArgs& r) {
  constexpr int G = 8 * kW;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (size_t base = size_t(warp) * (32 / G); base < r.channels; base += kThreads / G) {
    const size_t c = base + lane / G;
    const bool valid = c < r.channels;
    double sa, sb;
    group_reduce_channel<kW>(r, c, valid, lane % G, sa, sb);
    if (valid && lane % G == 0) finish_channel(r, c, sa, sb);
  }
}

}  // namespace

template <int kMode, int kVec>
__global__ void __launch_bounds__(kThreads) arelu_forward_kernel(const KArgs k) {
  body<false, kMode, kVec>(k);
}

template <int kMode, int kVec>
__global__ void __launch_bounds__(kThreads, kBwdMinBlocks) arelu_backward_kernel(const KArgs k) {
  body<true, kMode, kVec>(k);
  if (k.done_counter != nullptr) {
    // The last block to finish runs the second pass (threadfence
    // reduction): one kernel instead of two, the same summation order.
    __shared__ unsigned is_last;
    __threadfence();  // this block's partials are visible before it counts
    __syncthreads();
    if (threadIdx.x == 0) is_last = atomicAdd(k.done_counter, 1u) == gridDim.x - 1 ? 1u : 0u;
    __syncthreads();
    if (is_last) {
      __threadfence();
      // Up to 64 partials per channel: groups of lanes, many channels at
      // once. Otherwise the block form, a channel at a time (fold_second_pass
      // sends calls with more channels to the separate kernel): the group
      // forms for more partials would need more registers than the first
      // pass of the scalar plans uses, and cost it occupancy.
      if constexpr (kMode != kFlat) {
        if (k.red.per <= 32) block_reduce_channels<1>(k.red);
        else if (k.red.per <= 64) block_reduce_channels<2>(k.red);
        else
          for (size_t c = 0; c < k.red.channels; ++c) reduce_channel(k.red, c);
      } else {
        reduce_channel(k.red, 0);
      }
      if (threadIdx.x == 0) *k.done_counter = 0;  // ready for the next launch (stream-ordered)
    }
  }
}

// The second pass as a kernel of its own, for calls with many partials:
// one block per channel.
__global__ void __launch_bounds__(kThreads) arelu_reduce_kernel(const RArgs r) {
  for (size_t c = blockIdx.x; c < r.channels; c += gridDim.x) reduce_channel(r, c);
}

#if ARELU_CUDA_FAULT_HOOK && !ARELU_CUDA_EMU
// Test builds only (cmake -DARELU_CUDA_FAULT_HOOK=ON; bench/device-check.sh
// runs the GPU suite's fault tests with one): runs `ns` nanoseconds, then
// writes to an address no allocation has, a real illegal-address fault
// that kills the context (launch() below says when).
__global__ void arelu_fault_kernel(int* bad, unsigned long long ns) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); while (t - t0 < ns);
  *reinterpret_cast<volatile int*>(bad) = 1;
}
#endif

namespace {

// ---- host side -------------------------------------------------------------------

// Errors after which the context is unusable: every later call of the
// process fails with them (CUDA's "sticky" errors). The device is then
// marked dead: each later call returns the error at once, and no queued
// job is deleted (the completer still finishes it).
bool is_sticky(int e) {
  switch (e) {
    case 214:  // cudaErrorECCUncorrectable
    case 700:  // cudaErrorIllegalAddress
    case 702:  // cudaErrorLaunchTimeout
    case 709:  // cudaErrorContextIsDestroyed
    case 710:  // cudaErrorAssert
    case 714:  // cudaErrorHardwareStackError
    case 715:  // cudaErrorIllegalInstruction
    case 716:  // cudaErrorMisalignedAddress
    case 717:  // cudaErrorInvalidAddressSpace
    case 718:  // cudaErrorInvalidPc
    case 719:  // cudaErrorLaunchFailure
    case 720:  // cudaErrorCooperativeLaunchTooLarge
    case 999:  // cudaErrorUnknown
      return true;
    default:
      return false;
  }
}

// Clears the runtime's per-thread "last error" for non-sticky failures, so a
// failed allocation does not resurface at the next launch check.
int fail(cudaError_t e) {
  (void)cudaGetLastError();
  return static_cast<int>(e);
}

// Starts one of a device's helper threads (detached: they live as long as
// the process). A thread the system refuses is reported as an allocation
// failure (ERR_ARELU_CUDA, cudaErrorMemoryAllocation), not thrown.
template <class Fn, class State>
int start_thread(Fn fn, State* s, bool* started) {
  if (*started) return 0;
  try {
    std::thread(fn, s).detach();
  } catch (const std::system_error&) {
    return static_cast<int>(cudaErrorMemoryAllocation);
  }
  *started = true;
  return 0;
}

#define ARELU_TRY(expr)                        \
  do {                                         \
    const cudaError_t arelu_e_ = (expr);       \
    if (arelu_e_ != cudaSuccess) return fail(arelu_e_); \
  } while (0)

using KernelFn = void (*)(const KArgs);

// Pinned host memory for the per-call host<->device transfers of small data
// (per-channel coefficients in, parameter sums out), so that they never
// make the runtime stage pageable memory (which may synchronize). Space is
// taken in call order under DeviceState::mu and given back in stream order
// by the call's job (the completer, in call order), so a plain ring suffices. Positions
// are monotonic byte counters; offset = position % cap.
struct Ring {
  char* base = nullptr;
  size_t cap = 0;
  uint64_t head = 0;  // next free position (DeviceState::mu)
  std::mutex m;
  std::condition_variable cv;
  uint64_t tail = 0;  // everything before it is free again (m)
  void release(uint64_t end) {
    std::lock_guard<std::mutex> l(m);
    if (end > tail) tail = end;
    cv.notify_all();
  }
};
constexpr size_t kRingBytes = size_t(1) << 20;

struct Job;
struct DlTask;
struct StageChunk;
struct StageJob;
constexpr size_t kStageSlots = 4;
constexpr size_t kStageSlotBytes = size_t(8) << 20;

struct DeviceState {
  std::mutex mu;  // held while enqueueing; never across a wait for the device
  int device = 0;
  cudaStream_t stream = nullptr;
  int sm_count = 1;
  bool pools = false;         // stream-ordered allocation (cudaMallocAsync)
  bool host_mapped = false;   // kernels may write pinned host memory (unified addressing)
  std::atomic<int> dead{0};   // the sticky error that killed the device
  std::unordered_map<const void*, int> occupancy;
  double2* partial = nullptr;
  size_t partial_cap = 0;  // elements
  Coeffs* coeffs = nullptr;     // per-channel coefficients (rows, cols plans)
  size_t coeffs_cap = 0;
  float* coeffs_ab = nullptr;   // a, then b, per channel (per plan)
  size_t coeffs_ab_cap = 0;     // floats
  // Per-channel coefficients on the host, from the parameter bits of the
  // last per-channel call, and the bits each device array holds (empty:
  // unknown): a call with the same parameters as the one before it queues
  // no copy.
  arelu::CoeffCache co_host;
  std::vector<uint32_t> dev_key[2];  // of coeffs, of coeffs_ab
  double* d_sums = nullptr;
  size_t sums_cap = 0;
  unsigned* done_counter = nullptr;  // zero between backward launches
  Ring ring;
  // Completion: each call's job waits, in call order, on an event recorded
  // after its work, in a thread of its own (the completer), so the stream
  // never stops for the host between calls (a host callback in the stream
  // would hold back every later kernel until it has run).
  std::mutex cb_mu;
  std::condition_variable cb_cv;
  std::deque<std::pair<cudaEvent_t, Job*>> cb_queue;  // (cb_mu)
  std::vector<cudaEvent_t> cb_events;                  // free events to reuse (cb_mu)
  size_t cb_busy = 0;                                  // jobs queued or running (cb_mu)
  bool cb_thread = false;                              // (cb_mu)
  // downloadAsync: device-to-host copies run on their own stream, issued
  // by a helper thread (a copy to pageable memory blocks its caller).
  cudaStream_t copy_stream = nullptr;
  std::mutex dl_mu;
  std::condition_variable dl_cv;
  std::deque<DlTask*> dl_queue;
  size_t dl_busy = 0;  // queued or running
  bool dl_thread = false;
  // downloadAsync's fallback (no room for a temporary): a pinned ring of
  // kStageSlots slots. Chunk `ticket` (numbered per device in call order)
  // lands in slot ticket % kStageSlots; the stager thread copies it out.
  char* staging = nullptr;
  uint64_t st_ticket = 0;  // the next chunk's ticket (mu)
  bool st_thread = false;  // (mu)
  std::mutex st_mu;
  std::condition_variable st_cv;
  std::deque<StageChunk*> st_queue;      // landed, to be copied out (st_mu)
  uint64_t st_free[kStageSlots] = {};    // slot i takes ticket st_free[i] next (st_mu)
  std::vector<uint64_t> st_void;         // tickets that never landed, retired in slot order (st_mu)
  const StageJob* st_copying = nullptr;  // the job the stager copies for now (st_mu)
  size_t st_jobs = 0;                    // staged downloads not finished (st_mu)
};

// Records a sticky error on the device; returns e.
int note(DeviceState* s, int e) {
  if (e != 0 && is_sticky(e)) {
    int expected = 0;
    s->dead.compare_exchange_strong(expected, e);
  }
  return e;
}

// Restores the calling thread's current device when a call returns, so an
// application's own CUDA code keeps the device it chose.
struct DeviceGuard {
  int prev = -1;
  DeviceGuard() {
    if (cudaGetDevice(&prev) != cudaSuccess) {
      prev = -1;
      (void)cudaGetLastError();
    }
  }
  ~DeviceGuard() {
    int cur = -1;
    if (prev >= 0 && cudaGetDevice(&cur) == cudaSuccess && cur != prev) (void)cudaSetDevice(prev);
  }
};

// Never destroyed: tearing down streams from static destructors races the
// CUDA runtime's own shutdown.
std::mutex g_states_mu;
std::vector<DeviceState*>* g_states = nullptr;

// The device's state (created at first use) with `device` made current.
int state_for(int device, DeviceState** out) {
  const Probe& p = probe();
  if (p.error != 0) return p.error;
  if (device < 0 || device >= p.device_count) return cudaErrorInvalidDevice;
  std::lock_guard<std::mutex> lock(g_states_mu);
  if (g_states == nullptr) g_states = new std::vector<DeviceState*>(p.device_count, nullptr);
  DeviceState*& s = (*g_states)[device];
  if (s == nullptr) {
    ARELU_TRY(cudaSetDevice(device));
    std::unique_ptr<DeviceState> ns(new DeviceState());
    ns->device = device;
    ARELU_TRY(cudaDeviceGetAttribute(&ns->sm_count, cudaDevAttrMultiProcessorCount, device));
    int pools = 0;
    if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) {
      (void)cudaGetLastError();
      pools = 0;
    }
    ns->pools = pools != 0;
    int unified = 0;
    if (cudaDeviceGetAttribute(&unified, cudaDevAttrUnifiedAddressing, device) != cudaSuccess) {
      (void)cudaGetLastError();
      unified = 0;
    }
    ns->host_mapped = unified != 0;
    ARELU_TRY(cudaStreamCreateWithFlags(&ns->stream, cudaStreamNonBlocking));
    ARELU_TRY(cudaMalloc(reinterpret_cast<void**>(&ns->done_counter), sizeof(unsigned)));
    ARELU_TRY(cudaMemset(ns->done_counter, 0, sizeof(unsigned)));
    void* ring = nullptr;
    ARELU_TRY(cudaMallocHost(&ring, kRingBytes));
    ns->ring.base = static_cast<char*>(ring);
    ns->ring.cap = kRingBytes;
    s = ns.release();
  }
  *out = s;
  if (int e = s->dead.load()) return e;
  return cudaSetDevice(device) == cudaSuccess ? 0 : fail(cudaErrorInvalidDevice);
}

// Device scratch that only grows. With stream-ordered allocation the old
// buffer is freed in stream order (after the work that still reads it) and
// nothing waits; without it, the stream is synchronized first.
int device_alloc(DeviceState* s, void** p, size_t bytes) {
  if (s->pools) ARELU_TRY(cudaMallocAsync(p, bytes, s->stream));
  else ARELU_TRY(cudaMalloc(p, bytes));
  return 0;
}
void device_release(DeviceState* s, void* p) {
  if (p == nullptr) return;
  if (s->pools) (void)cudaFreeAsync(p, s->stream);
  else {
    (void)cudaStreamSynchronize(s->stream);
    (void)cudaFree(p);
  }
  (void)cudaGetLastError();
}

template <typename T>
int grow_device(DeviceState* s, T** p, size_t* cap, size_t need) {
  if (need <= *cap) return 0;
  const size_t want = std::max(need, *cap * 2);
  void* fresh = nullptr;
  if (int e = device_alloc(s, &fresh, want * sizeof(T))) return e;
  device_release(s, *p);
  *p = static_cast<T*>(fresh);
  *cap = want;
  return 0;
}

// Timed waits go through the system clock: libstdc++'s steady-clock waits
// call pthread_cond_clockwait (GLIBC_2.30), which would raise the prebuilt
// binary's glibc floor (test/80.prebuilds checks it). These are 50-100 ms
// polls, so a jump of the wall clock only lengthens or shortens one poll.
template <class Pred>
bool wait_ms(std::condition_variable& cv, std::unique_lock<std::mutex>& l, int ms, Pred pred) {
  return cv.wait_until(l, std::chrono::system_clock::now() + std::chrono::milliseconds(ms), pred);
}
inline void wait_ms(std::condition_variable& cv, std::unique_lock<std::mutex>& l, int ms) {
  cv.wait_until(l, std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

// Reserves `bytes` of the pinned ring (16-byte aligned) for one call; the
// call's job releases up to *end. Waits only when more than
// the ring's size is in flight; a request larger than the ring replaces it
// with a larger one once it is idle.
int ring_reserve(DeviceState* s, size_t bytes, char** ptr, uint64_t* end) {
  Ring& r = s->ring;
  bytes = (bytes + 15) & ~size_t(15);
  if (bytes > r.cap) {
    // Rare (hundreds of thousands of channels): wait for idle, then grow.
    for (;;) {
      std::unique_lock<std::mutex> l(r.m);
      if (r.tail == r.head) break;
      wait_ms(r.cv, l, 50);
      l.unlock();
      if (int e = s->dead.load()) return e;
      const cudaError_t q = cudaStreamQuery(s->stream);
      if (q != cudaSuccess && q != cudaErrorNotReady) return note(s, fail(q));
    }
    void* fresh = nullptr;
    size_t cap = r.cap;
    while (cap < bytes) cap *= 2;
    ARELU_TRY(cudaMallocHost(&fresh, cap));
    (void)cudaFreeHost(r.base);
    r.base = static_cast<char*>(fresh);
    r.cap = cap;
  }
  uint64_t pos = r.head;
  const size_t off = pos % r.cap;
  if (off + bytes > r.cap) pos += r.cap - off;  // wrap: skip the ring's end
  const uint64_t stop = pos + bytes;
  for (;;) {
    std::unique_lock<std::mutex> l(r.m);
    if (stop - r.tail <= r.cap) break;
    wait_ms(r.cv, l, 50);
    l.unlock();
    if (int e = s->dead.load()) return e;
    const cudaError_t q = cudaStreamQuery(s->stream);
    if (q != cudaSuccess && q != cudaErrorNotReady) return note(s, fail(q));
  }
  r.head = stop;
  *ptr = r.base + pos % r.cap;
  *end = stop;
  return 0;
}

int blocks_per_sm(DeviceState* s, KernelFn fn) {
  auto it = s->occupancy.find(reinterpret_cast<const void*>(fn));
  if (it != s->occupancy.end()) return it->second;
  int b = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, fn, kThreads, 0) != cudaSuccess || b < 1) {
    (void)cudaGetLastError();
    b = 1;
  }
  s->occupancy.emplace(reinterpret_cast<const void*>(fn), b);
  return b;
}

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Every kernel launch goes through here. In a fault-hook test build
// (ARELU_CUDA_FAULT_HOOK), ARELU_TEST_FAIL_LAUNCH=k makes the process's
// k-th launch a kernel that runs ARELU_TEST_FAULT_MS milliseconds and then
// faults (an illegal address): the knobs the CPU stand-in (test/cuda-emu)
// fakes a fault with, here on a GPU.
template <class Kernel>
cudaError_t launch(Kernel* fn, unsigned grid, void** args, cudaStream_t stream) {
#if ARELU_CUDA_FAULT_HOOK && !ARELU_CUDA_EMU
  static const long fail_at = std::getenv("ARELU_TEST_FAIL_LAUNCH") ? std::atol(std::getenv("ARELU_TEST_FAIL_LAUNCH")) : 0;
  static std::atomic<long> launches{0};
  if (fail_at > 0 && launches.fetch_add(1) + 1 == fail_at) {
    int* bad = reinterpret_cast<int*>(uintptr_t(16));
    unsigned long long ns = (std::getenv("ARELU_TEST_FAULT_MS") ? std::atoll(std::getenv("ARELU_TEST_FAULT_MS")) : 0) * 1000000ULL;
    void* fargs[] = {&bad, &ns};
    return cudaLaunchKernel(&arelu_fault_kernel, dim3(1), dim3(1), fargs, 0, stream);
  }
#endif
  return cudaLaunchKernel(fn, dim3(grid), dim3(kThreads), args, 0, stream);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Whether environment variable `name` is `value`: the measurement and test
// knobs below, each read once (into a static) where it is used.
bool env_is(const char* name, const char* value) {
  const char* e = std::getenv(name);
  return e != nullptr && std::strcmp(e, value) == 0;
}

// Polls done() (yielding the core between polls) until it holds or `us`
// microseconds have passed; done() runs at least once. True when it held.
template <class Pred>
bool poll_for(int us, Pred done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
}

// Per-channel forward: the flat walk (kPer) where its float4s fit the
// layout (aligned, period a multiple of 4), else the layout's plan (rows or
// cols, as backward). ARELU_CUDA_FWD_PLAN=layout forces the layout's plan
// (for tests and the benchmark; the same bits either way), read once.
bool forward_plan_flat() {
  static const bool layout = env_is("ARELU_CUDA_FWD_PLAN", "layout");
  return !layout;
}

struct Plan {
  Mode mode = kFlat;
  int vec = 1;
  size_t work = 0;          // grid-stride units: vectors (flat), warp items (rows), block items (cols)
  size_t partial_per = 0;   // partials per channel
};

// The plan depends on the layout and the device's SM count only, so a call's
// summation order is the same on every run on a device.
Plan make_plan(KArgs& k, int sm_count, bool fwd) {
  Plan p;
  const bool al = aligned16(k.x) && aligned16(k.out) && (k.g == nullptr || aligned16(k.g));
  if (k.channels == 1) {
    p.mode = kFlat;
    p.vec = al ? 4 : 1;
    p.work = p.vec == 4 ? ceil_div(k.n, 4) : k.n;
    return p;
  }
  const size_t period = k.channels * k.inner, outer = k.n / period;
  if (fwd && al && period % 4 == 0 && period < (size_t(1) << 31) && forward_plan_flat()) {
    p.mode = kPer;
    p.vec = 4;
    k.period = period;
    p.work = k.n / 4;
    return p;
  }
  if (k.inner >= kRowMin) {
    p.mode = kRows;
    p.vec = al && k.inner % 4 == 0 ? 4 : 1;
    k.chunks_per_row = ceil_div(k.inner, kChunk);
    k.items = outer * k.channels * k.chunks_per_row;
    p.work = k.items;
    p.partial_per = outer * k.chunks_per_row;
    return p;
  }
  p.mode = kCols;
  p.vec = al && period % 4 == 0 ? 4 : 1;
  k.period = period;
  k.outer = outer;
  k.cols_v = period / p.vec;
  k.tx = std::min<size_t>(kThreads, k.cols_v);
  k.ty = kThreads / k.tx;
  k.ntiles = ceil_div(k.cols_v, k.tx);
  // Bands of rows sized so that there are about kItemsPerSm block items per
  // SM (the GPU fills at layer shapes like [32,14,14,512]), each thread
  // walking at least one row and at most kBandMax rows per band.
  const size_t want_bands = std::max<size_t>(1, ceil_div(size_t(sm_count) * kItemsPerSm, k.ntiles));
  size_t band = ceil_div(outer, want_bands);
  band = std::min(std::max(band, k.ty), std::max(kBandMax, k.ty));
  k.band = ceil_div(band, k.ty) * k.ty;
  k.nbands = ceil_div(outer, k.band);
  p.work = k.nbands * k.ntiles;
  p.partial_per = k.nbands * k.inner;
  return p;
}

// Whether backward's second pass runs in the last block of the first
// (saving a launch and the gap before it: most of a small call's fixed
// cost) or as a kernel of its own, a block per channel across the GPU.
// One block reads the partials at one SM's share of L2 bandwidth (about
// 64 B per clock), spends 4 shuffles per group step, and in the block form
// about 1000 clocks per channel: beyond about 2 us of that, the separate
// kernel is faster, whatever the channel count. So calls with many
// partials run it separately: large NHWC calls (a partial per band and
// column), NCHW calls past about 16M elements or with a batch above 64
// (more than 64 partials per channel) and more than 4 channels. These
// budgets are estimates until measured on a GPU; ARELU_CUDA_SECOND_PASS=
// fold|kernel forces one form (for tests and the benchmark), with the same
// bits either way.
constexpr size_t kFoldPartials = 16384;    // 256 KB of partials: about 4000 clocks at 64 B per clock
constexpr size_t kFoldShuffles = 4096;     // warp shuffles of the group forms, about as many clocks
constexpr size_t kFoldBlockChannels = 4;   // channels of the block form (about 1000 clocks each)

int second_pass_mode() {  // 0: by size, 1: always folded, 2: always a kernel
  static const int mode = env_is("ARELU_CUDA_SECOND_PASS", "fold") ? 1 : env_is("ARELU_CUDA_SECOND_PASS", "kernel") ? 2 : 0;
  return mode;
}

// How the completer waits for a job's event. The events are made with
// cudaEventBlockingSync, so cudaEventSynchronize sleeps until the GPU
// signals. On the H200 that wake-up (like a host callback's) came late:
// 30-70 us after a synchronous 16M-64M backward (bench/RESULTS.md, "Ninth
// session"), and later the longer the wait (130-220 us after a 256M one,
// about 280 us after 1G: "Fifteenth session"). So for a job that someone
// waits on (a synchronous call or a promise) the completer polls the event
// (cudaEventQuery, yielding the core between polls) for up to kSpinMicros,
// then naps between queries, each nap 1/64 of the time waited so far
// (10 to 200 us, the thread's timer slack cut to 1 us), so a wake-up
// comes at most about 2% late (plus the timer's own lateness). A job
// with nothing to report (the ring space of a per-channel forward) is
// waited for asleep.
// A synchronous call's own thread then polls its job's flag the same way
// before it sleeps (wait_for), so it does not pay a second wake-up.
// ARELU_CUDA_EVENT_WAIT (for measurement): "block", no polling at all;
// "completer", only the completer polls (the calling thread sleeps);
// "sleep", both poll for kSpinMicros, then the completer sleeps in
// cudaEventSynchronize (the form before the naps).
constexpr int kSpinMicros = 200;
enum WaitMode { kWaitPoll, kWaitCompleter, kWaitBlock, kWaitSleep };
WaitMode event_wait_mode() {
  static const WaitMode m = env_is("ARELU_CUDA_EVENT_WAIT", "block")       ? kWaitBlock
                            : env_is("ARELU_CUDA_EVENT_WAIT", "completer") ? kWaitCompleter
                            : env_is("ARELU_CUDA_EVENT_WAIT", "sleep")     ? kWaitSleep
                                                                           : kWaitPoll;
  return m;
}
int spin_micros() { return event_wait_mode() == kWaitBlock ? 0 : kSpinMicros; }
int caller_spin_micros() {
  const WaitMode m = event_wait_mode();
  return m == kWaitPoll || m == kWaitSleep ? kSpinMicros : 0;
}

cudaError_t wait_event(cudaEvent_t ev, bool poll) {
  cudaError_t q = cudaSuccess;
  const auto ready = [&] { return (q = cudaEventQuery(ev)) != cudaErrorNotReady; };
  const auto start = std::chrono::steady_clock::now();
  if (poll_for(poll ? spin_micros() : 0, ready)) return q;
  if (!poll || event_wait_mode() == kWaitBlock || event_wait_mode() == kWaitSleep) return cudaEventSynchronize(ev);
  for (;;) {
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(std::chrono::microseconds(std::min<long long>(200, std::max<long long>(10, waited.count() / 64))));
    if (ready()) return q;
  }
}

// Where backward's second pass writes the finished sums: "direct" (default
// where the device addresses pinned host memory) into the call's slot of
// the pinned ring, or "copy": into device memory, then a device-to-host
// copy in the stream (one more operation per call).
// ARELU_CUDA_SUMS=direct|copy, read once.
bool sums_direct(const DeviceState* s) {
  static const bool copy = env_is("ARELU_CUDA_SUMS", "copy");
  return s->host_mapped && !copy;
}

// The forms are those of arelu_backward_kernel's last block.
bool fold_second_pass(size_t per, size_t channels) {
  if (const int m = second_pass_mode()) return m == 1;
  if (per * channels > kFoldPartials) return false;
  if (channels == 1) return true;  // flat: the block form
  // Groups of 8 lanes (3 shuffle steps of (a, b), 4 channels per warp) or
  // of 16 (two trees of 4 steps, 2 channels per warp).
  if (per <= 32) return ceil_div(channels, 4) * 3 * 4 <= kFoldShuffles;
  if (per <= 64) return ceil_div(channels, 2) * 2 * 4 * 4 <= kFoldShuffles;
  return channels <= kFoldBlockChannels;
}

template <bool kBwd>
KernelFn kernel_for(const Plan& p) {
#define ARELU_K(M, V) (kBwd ? &arelu_backward_kernel<M, V> : &arelu_forward_kernel<M, V>)
  if (!kBwd && p.mode == kPer) return &arelu_forward_kernel<kPer, 4>;
  switch (p.mode * 2 + (p.vec == 4 ? 1 : 0)) {
    case 0: return ARELU_K(kFlat, 1);
    case 1: return ARELU_K(kFlat, 4);
    case 2: return ARELU_K(kRows, 1);
    case 3: return ARELU_K(kRows, 4);
    case 4: return ARELU_K(kCols, 1);
    default: return ARELU_K(kCols, 4);
  }
#undef ARELU_K
}

unsigned grid_for(DeviceState* s, const Plan& p, KernelFn fn) {
  const size_t cap = size_t(s->sm_count) * blocks_per_sm(s, fn);
  size_t need;
  if (p.mode == kFlat || p.mode == kPer) need = ceil_div(p.work, size_t(kThreads) * kUnroll);
  else if (p.mode == kRows) need = ceil_div(p.work, kWarps);
  else need = p.work;
  return static_cast<unsigned>(std::max<size_t>(1, std::min(cap, need)));
}


// A call's job, run by the completer once the call's work is done: finish
// the host-side writes, give back the ring space, then report.
struct Job {
  DeviceState* s = nullptr;
  Done done = nullptr;
  void* user = nullptr;
  uint64_t ring_end = 0;  // 0: no ring space held
  // backward: copy the sums out of the ring
  const double* sums_src = nullptr;
  double* sums_dst = nullptr;
  size_t sums_count = 0;
};

void finish_job(Job* job, cudaError_t status) {
  if (status == cudaSuccess && job->sums_dst != nullptr)
    std::memcpy(job->sums_dst, job->sums_src, job->sums_count * sizeof(double));
  if (status != cudaSuccess) note(job->s, static_cast<int>(status));
  if (job->ring_end != 0) job->s->ring.release(job->ring_end);
  if (job->done != nullptr) job->done(static_cast<int>(status), job->user);
  delete job;
}

// On an enqueue failure before the job was queued (queue_job): waits for the
// work queued so far (so nothing still reads or writes the ring or host
// memory the caller is about to release), then gives the job's ring space
// back. On a dead device the wait cannot be trusted: the ring is then
// simply never used again.
int abandon(DeviceState* s, Job* job, int err) {
  note(s, err);
  if (s->dead.load() == 0) {
    (void)cudaStreamSynchronize(s->stream);
    (void)cudaGetLastError();
    if (job->ring_end != 0) s->ring.release(job->ring_end);
  }
  delete job;
  return err;
}

// The completer thread: finishes each job once the stream has passed the
// event recorded after the job's work, in call order. On a dead device the
// wait returns the sticky error at once, and every job still queued is
// finished with it (its promise rejects; nothing waits forever).
void completer(DeviceState* s) {
  (void)cudaSetDevice(s->device);
#ifdef __linux__
  // wait_event's naps: 1 us of timer slack instead of the default 50 us
  // (this thread only; where the call is refused, naps are just later).
  (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
  for (;;) {
    std::pair<cudaEvent_t, Job*> w;
    {
      std::unique_lock<std::mutex> l(s->cb_mu);
      s->cb_cv.wait(l, [&] { return !s->cb_queue.empty(); });
      w = s->cb_queue.front();
      s->cb_queue.pop_front();
    }
    const cudaError_t e = wait_event(w.first, w.second->done != nullptr);
    (void)cudaGetLastError();
    finish_job(w.second, e);
    std::lock_guard<std::mutex> l(s->cb_mu);
    s->cb_events.push_back(w.first);
    --s->cb_busy;
    s->cb_cv.notify_all();
  }
}

// Queues a job behind the work enqueued so far: an event (reused from
// earlier jobs) recorded on the stream, and the pair handed to the
// completer. Called with s->mu held.
int queue_job(DeviceState* s, Job* job) {
  cudaEvent_t ev = nullptr;
  int started = 0;
  {
    std::lock_guard<std::mutex> l(s->cb_mu);
    started = start_thread(completer, s, &s->cb_thread);
    if (started == 0 && !s->cb_events.empty()) {
      ev = s->cb_events.back();
      s->cb_events.pop_back();
    }
  }
  if (started != 0) return abandon(s, job, started);
  cudaError_t e = cudaSuccess;
  if (ev == nullptr) e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming | cudaEventBlockingSync);
  if (e == cudaSuccess) e = cudaEventRecord(ev, s->stream);
  if (e != cudaSuccess) {
    if (ev != nullptr) (void)cudaEventDestroy(ev);
    return abandon(s, job, fail(e));
  }
  std::lock_guard<std::mutex> l(s->cb_mu);
  s->cb_queue.emplace_back(ev, job);
  ++s->cb_busy;
  s->cb_cv.notify_all();
  return 0;
}

// grow_device for a coefficient array: growing replaces the array, whose
// contents are then unknown.
template <class T>
int grow_coeffs(DeviceState* s, T** p, size_t* cap, size_t need, std::vector<uint32_t>& key) {
  const T* before = *p;
  if (int e = grow_device(s, p, cap, need)) return e;
  if (*p != before) key.clear();
  return 0;
}

// Enqueues the first pass, and for backward the second pass and the copy
// of the sums into the ring (job->sums_src). Called with s->mu held; on
// success the caller queues the job (queue_job).
template <bool kBwd>
int enqueue(DeviceState* s, Job* job, const float* x, const float* g, float* out, const Layout& l,
            const float* alpha, const float* beta) {
  (void)cudaGetLastError();
  KArgs k{};
  k.x = x;
  k.g = g;
  k.out = out;
  k.n = l.n;
  k.channels = l.channels;
  k.inner = l.channels == 1 ? 1 : l.inner;
  k.c0 = arelu::make_coeffs(alpha[0], beta[0]);
  const bool per_channel = l.channels > 1;
  const Coeffs* co = nullptr;
  if (per_channel) {
    s->co_host.update(l.channels, alpha, beta);
    co = s->co_host.co.data();
  }
  // The per plan (per-channel forward) takes a and b as two float arrays of
  // cs floats each (16-byte aligned, coeffs_ab); the others take Coeffs
  // (coeffs). The device array is written (from the call's ring slot) only
  // when it does not hold this call's coefficients already.
  Plan p;
  if (l.n > 0) p = make_plan(k, s->sm_count, !kBwd);
  const bool soa = p.mode == kPer;
  const size_t cs = (l.channels + 3) & ~size_t(3);
  std::vector<uint32_t>& dev_key = s->dev_key[soa ? 1 : 0];  // of the device array this call reads
  size_t coeff_bytes = 0;  // to copy to the device
  if (per_channel && l.n > 0) {
    if (soa)
      ARELU_TRY(static_cast<cudaError_t>(grow_coeffs(s, &s->coeffs_ab, &s->coeffs_ab_cap, 2 * cs, dev_key)));
    else
      ARELU_TRY(static_cast<cudaError_t>(grow_coeffs(s, &s->coeffs, &s->coeffs_cap, l.channels, dev_key)));
    if (dev_key != s->co_host.key) coeff_bytes = soa ? 2 * cs * sizeof(float) : l.channels * sizeof(Coeffs);
  }
  const size_t coeff_space = (coeff_bytes + 15) & ~size_t(15);
  const size_t sums_bytes = kBwd ? 2 * l.channels * sizeof(double) : 0;
  char* host = nullptr;
  if (coeff_space + sums_bytes > 0) {
    if (int e = ring_reserve(s, coeff_space + sums_bytes, &host, &job->ring_end)) return e;
  }
  double* hsums = reinterpret_cast<double*>(host + coeff_space);
  if (kBwd && l.n == 0) {
    // Nothing to sum: the results are known on the host. Written straight
    // into the ring slot; the job copies them out in stream order.
    for (size_t c = 0; c < l.channels; ++c) {
      const Coeffs cc = per_channel ? co[c] : k.c0;
      hsums[c] = arelu::finish_dalpha(cc, 0.0);
      hsums[l.channels + c] = arelu::finish_dbeta(cc, 0.0);
    }
    job->sums_src = hsums;
    return 0;
  }
  if (l.n == 0) return 0;
  if (coeff_bytes > 0) {
    if (soa) {
      float* ha = reinterpret_cast<float*>(host);
      for (size_t c = 0; c < l.channels; ++c) {
        ha[c] = co[c].a;
        ha[cs + c] = co[c].b;
      }
    } else {
      std::memcpy(host, co, coeff_bytes);
    }
    void* dst = soa ? static_cast<void*>(s->coeffs_ab) : static_cast<void*>(s->coeffs);
    dev_key.clear();  // unknown until the copy is queued
    ARELU_TRY(cudaMemcpyAsync(dst, host, coeff_bytes, cudaMemcpyHostToDevice, s->stream));
    dev_key = s->co_host.key;
  }
  if (per_channel) {
    if (soa) {
      k.ca = s->coeffs_ab;
      k.cb = k.ca + cs;
    } else {
      k.coeffs = s->coeffs;
    }
  }
  const KernelFn fn = kernel_for<kBwd>(p);
  const unsigned grid = grid_for(s, p, fn);
  size_t per = p.partial_per;
  if (kBwd) {
    if (p.mode == kFlat) per = grid;
    ARELU_TRY(static_cast<cudaError_t>(grow_device(s, &s->partial, &s->partial_cap, per * l.channels)));
    const bool direct = sums_direct(s);
    if (!direct) ARELU_TRY(static_cast<cudaError_t>(grow_device(s, &s->d_sums, &s->sums_cap, 2 * l.channels)));
    k.partial = s->partial;
    k.red = RArgs{s->partial, per, l.channels, k.coeffs, k.c0, direct ? hsums : s->d_sums};
    if (fold_second_pass(per, l.channels)) k.done_counter = s->done_counter;
  }
  void* args[] = {&k};
  ARELU_TRY(launch(fn, grid, args, s->stream));
  ARELU_TRY(cudaGetLastError());
  if (kBwd && k.done_counter == nullptr) {
    const unsigned rgrid = static_cast<unsigned>(std::min<size_t>(l.channels, 65535));
    RArgs r = k.red;
    void* rargs[] = {&r};
    ARELU_TRY(launch(&arelu_reduce_kernel, rgrid, rargs, s->stream));
    ARELU_TRY(cudaGetLastError());
  }
  if (kBwd) {
    if (k.red.sums != hsums)
      ARELU_TRY(cudaMemcpyAsync(hsums, s->d_sums, sums_bytes, cudaMemcpyDeviceToHost, s->stream));
    job->sums_src = hsums;
  }
  return 0;
}

// Enqueues the work and its job; on failure nothing queued still touches
// the caller's memory and `done` is never called.
template <bool kBwd>
int submit(DeviceState* s, const float* x, const float* g, float* out, const Layout& l, const float* alpha,
           const float* beta, double* sums, Done done, void* user) {
  Job* job = new Job();
  job->s = s;
  job->done = done;
  job->user = user;
  std::lock_guard<std::mutex> lock(s->mu);
  if (int e = s->dead.load()) {
    delete job;
    return e;
  }
  if (int e = enqueue<kBwd>(s, job, x, g, out, l, alpha, beta)) return abandon(s, job, e);
  if (kBwd) {
    job->sums_dst = sums;
    job->sums_count = 2 * l.channels;
  }
  // Forward with nothing to report and no ring space held: no job.
  if (done == nullptr && job->ring_end == 0 && job->sums_dst == nullptr) {
    delete job;
    return 0;
  }
  return queue_job(s, job);
}

// The synchronous forms wait for their job without holding the
// device's mutex, so other threads (and the event loop's async calls) keep
// enqueueing meanwhile.
struct Waiter {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  int status = 0;
  std::atomic<bool> flag{false};  // done, for the caller's polling (status written before it)
  std::atomic<int> refs{2};  // the waiting thread and the job
  void unref() {
    if (refs.fetch_sub(1) == 1) delete this;
  }
};

void on_waiter(int status, void* user) {
  Waiter* w = static_cast<Waiter*>(user);
  {
    std::lock_guard<std::mutex> l(w->m);
    w->status = status;
    w->done = true;
    w->flag.store(true, std::memory_order_release);
    w->cv.notify_all();
  }
  w->unref();
}

// Waits for the waiter; gives up (leaving it to the job, which the
// completer still finishes) when the device dies meanwhile.
int wait_for(DeviceState* s, Waiter* w) {
  int status = 0;
  // First poll the flag for up to caller_spin_micros (yielding), as the
  // completer polls the event: a short call then returns without a sleep
  // and a wake-up.
  if (const int us = caller_spin_micros()) poll_for(us, [&] { return w->flag.load(std::memory_order_acquire); });
  for (;;) {
    std::unique_lock<std::mutex> l(w->m);
    if (wait_ms(w->cv, l, 100, [&] { return w->done; })) {
      status = w->status;
      break;
    }
    l.unlock();
    const cudaError_t q = cudaStreamQuery(s->stream);
    if (q != cudaSuccess && q != cudaErrorNotReady && is_sticky(q)) {
      status = note(s, fail(q));
      break;
    }
  }
  w->unref();
  return note(s, status);
}

// ---- downloadAsync ----------------------------------------------------------------
//
// At call time (JS thread, stream order kept): the source is copied on the
// device into a stream-ordered temporary, and an event marks that copy. A
// helper thread per device then copies the temporary to the caller's
// (pageable) array on the device's copy stream, frees it, and reports.
// Nothing on the JS thread waits, and the main stream never stalls on host
// memcpys. When the temporary cannot be had (device memory full, or no
// stream-ordered allocator), download_staged runs: the stream copies the
// source in chunks into a ring of pinned slots, and a stager thread copies
// each landed chunk out to the array while the stream goes on.
struct DlTask {
  void* dst = nullptr;
  void* tmp = nullptr;
  size_t bytes = 0;
  cudaEvent_t ready = nullptr;
  Done done = nullptr;
  void* user = nullptr;
};

void downloader(DeviceState* s) {
  for (;;) {
    DlTask* t = nullptr;
    {
      std::unique_lock<std::mutex> l(s->dl_mu);
      s->dl_cv.wait(l, [&] { return !s->dl_queue.empty(); });
      t = s->dl_queue.front();
      s->dl_queue.pop_front();
    }
    (void)cudaSetDevice(s->device);
    cudaError_t e = cudaStreamWaitEvent(s->copy_stream, t->ready, 0);
    if (e == cudaSuccess) e = cudaMemcpyAsync(t->dst, t->tmp, t->bytes, cudaMemcpyDeviceToHost, s->copy_stream);
    const cudaError_t f = cudaFreeAsync(t->tmp, s->copy_stream);
    const cudaError_t w = cudaStreamSynchronize(s->copy_stream);
    if (e == cudaSuccess) e = f != cudaSuccess ? f : w;
    (void)cudaEventDestroy(t->ready);
    (void)cudaGetLastError();
    t->done(note(s, static_cast<int>(e)), t->user);
    delete t;
    std::lock_guard<std::mutex> l(s->dl_mu);
    --s->dl_busy;
    s->dl_cv.notify_all();
  }
}

// The fallback, in stream order without a device temporary. Per chunk, on
// the stream: a device-to-pinned copy into the chunk's slot, then a
// callback (on_landed) that only queues the chunk for the stager. The
// stager copies it out to the array and frees the slot. A slot is written
// again only after the stager freed it: when the stager is behind by the
// whole ring (a download of more than 32 MB, or several at once), a
// callback (on_slot_wait) holds the stream until then. So the stream waits
// for host memcpys only beyond the ring's 32 MB, where it must: the source
// may be overwritten by the work queued after the download.
struct StageJob {
  DeviceState* s = nullptr;
  Done done = nullptr;
  void* user = nullptr;
  int status = 0;          // (st_mu)
  size_t total = 0;        // chunks whose callbacks are queued (st_mu)
  size_t finished = 0;     // chunks the stager is done with (st_mu)
  bool abandoned = false;  // enqueueing failed: copy nothing, report nothing (st_mu)
};

struct StageChunk {
  StageJob* job;
  char* dst;
  const char* slot;
  size_t len;
  uint64_t ticket;
};

struct SlotWait {
  DeviceState* s;
  uint64_t ticket;
};

// Frees ticket t's slot for ticket t + kStageSlots, in ticket order per
// slot (a void ticket waits for the one before it). Called with st_mu held.
void stage_retire(DeviceState* s, uint64_t t) {
  if (s->st_free[t % kStageSlots] != t) {
    s->st_void.push_back(t);
    return;
  }
  for (;;) {
    t += kStageSlots;
    s->st_free[t % kStageSlots] = t;
    const auto it = std::find(s->st_void.begin(), s->st_void.end(), t);
    if (it == s->st_void.end()) break;
    s->st_void.erase(it);
  }
  s->st_cv.notify_all();
}

void CUDART_CB on_slot_wait(cudaStream_t, cudaError_t, void* p) {
  SlotWait* w = static_cast<SlotWait*>(p);
  DeviceState* s = w->s;
  {
    std::unique_lock<std::mutex> l(s->st_mu);
    s->st_cv.wait(l, [&] { return s->st_free[w->ticket % kStageSlots] >= w->ticket; });
  }
  delete w;
}

void CUDART_CB on_landed(cudaStream_t, cudaError_t status, void* p) {
  StageChunk* c = static_cast<StageChunk*>(p);
  DeviceState* s = c->job->s;
  std::lock_guard<std::mutex> l(s->st_mu);
  if (status != cudaSuccess && c->job->status == 0) c->job->status = note(s, static_cast<int>(status));
  s->st_queue.push_back(c);
  s->st_cv.notify_all();
}

void stager(DeviceState* s) {
  std::unique_lock<std::mutex> l(s->st_mu);
  for (;;) {
    s->st_cv.wait(l, [&] { return !s->st_queue.empty(); });
    StageChunk* c = s->st_queue.front();
    s->st_queue.pop_front();
    StageJob* job = c->job;
    if (job->status == 0 && !job->abandoned) {
      s->st_copying = job;
      l.unlock();
      ARELU_HOST_COPY(c->dst, c->slot, c->len);
      l.lock();
      s->st_copying = nullptr;
    }
    stage_retire(s, c->ticket);
    delete c;
    s->st_cv.notify_all();
    if (++job->finished == job->total) {
      if (!job->abandoned) {
        l.unlock();
        job->done(job->status, job->user);
        l.lock();
      }
      delete job;
      --s->st_jobs;
      s->st_cv.notify_all();
    }
  }
}

// Called with s->mu held (tickets in call order).
// ARELU_CUDA_DOWNLOAD=staged: every downloadAsync takes the staged path, as
// on a device without room for the temporary (to test it on a GPU), read once.
bool download_staged_only() {
  static const bool staged = env_is("ARELU_CUDA_DOWNLOAD", "staged");
  return staged;
}

int download_staged(DeviceState* s, void* dst, const void* src, size_t bytes, Done done, void* user) {
  if (s->staging == nullptr) {
    ARELU_TRY(cudaMallocHost(reinterpret_cast<void**>(&s->staging), kStageSlots * kStageSlotBytes));
    std::lock_guard<std::mutex> l(s->st_mu);
    for (size_t i = 0; i < kStageSlots; ++i) s->st_free[i] = i;  // st_ticket is 0 until here
  }
  if (int e = start_thread(stager, s, &s->st_thread)) return e;
  const size_t n = ceil_div(bytes, kStageSlotBytes);
  StageJob* job = new StageJob();
  job->s = s;
  job->done = done;
  job->user = user;
  job->total = n;
  {
    std::lock_guard<std::mutex> l(s->st_mu);
    ++s->st_jobs;
  }
  // Once the last chunk's callback is queued the stager may finish and
  // delete the job at any time: nothing below reads it after that.
  for (size_t i = 0; i < n; ++i) {
    const size_t off = i * kStageSlotBytes, len = std::min(kStageSlotBytes, bytes - off);
    const uint64_t ticket = s->st_ticket++;
    char* slot = s->staging + (ticket % kStageSlots) * kStageSlotBytes;
    bool slot_free;
    {
      std::lock_guard<std::mutex> l(s->st_mu);
      slot_free = s->st_free[ticket % kStageSlots] >= ticket;
    }
    cudaError_t e = cudaSuccess;
    if (!slot_free) {
      SlotWait* w = new SlotWait{s, ticket};
      e = cudaStreamAddCallback(s->stream, on_slot_wait, w, 0);
      if (e != cudaSuccess) delete w;
    }
    if (e == cudaSuccess)
      e = cudaMemcpyAsync(slot, static_cast<const char*>(src) + off, len, cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess) {
      StageChunk* c = new StageChunk{job, static_cast<char*>(dst) + off, slot, len, ticket};
      e = cudaStreamAddCallback(s->stream, on_landed, c, 0);
      if (e != cudaSuccess) delete c;
    }
    if (e != cudaSuccess) {
      // The chunks queued so far are copied out by nobody: once a copy the
      // stager is doing into dst ends, nothing writes there again, and
      // `done` is never called.
      const int err = note(s, fail(e));
      std::unique_lock<std::mutex> l(s->st_mu);
      stage_retire(s, ticket);
      job->total = i;
      job->abandoned = true;
      s->st_cv.wait(l, [&] { return s->st_copying != job; });
      if (job->finished == job->total) {
        delete job;
        --s->st_jobs;
        s->st_cv.notify_all();
      }
      return err;
    }
  }
  return 0;
}

int start_downloader(DeviceState* s) {
  if (s->dl_thread) return 0;
  if (s->copy_stream == nullptr) ARELU_TRY(cudaStreamCreateWithFlags(&s->copy_stream, cudaStreamNonBlocking));
  return start_thread(downloader, s, &s->dl_thread);
}

}  // namespace

// ---- the public API -------------------------------------------------------------------

const Probe& probe() {
  static Probe p;
  static std::once_flag once;
  std::call_once(once, [] {
    DeviceGuard guard;
    cudaRuntimeGetVersion(&p.runtime_version);
    if (cudaDriverGetVersion(&p.driver_version) != cudaSuccess) p.driver_version = 0;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    p.error = static_cast<int>(e);
    p.device_count = e == cudaSuccess ? n : 0;
    if (e == cudaSuccess && n == 0) p.error = cudaErrorNoDevice;
    (void)cudaGetLastError();
  });
  return p;
}

const char* error_name(int code) { return cudaGetErrorName(static_cast<cudaError_t>(code)); }
const char* error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }
bool is_sticky_error(int code) { return is_sticky(code); }

// Properties only: no context, no stream, no scratch on the device.
int device_props(int device, DeviceProps* out) {
  const Probe& p = probe();
  if (p.error != 0) return p.error;
  if (device < 0 || device >= p.device_count) return cudaErrorInvalidDevice;
  cudaDeviceProp prop;
  ARELU_TRY(cudaGetDeviceProperties(&prop, device));
  out->name = prop.name;
  out->major = prop.major;
  out->minor = prop.minor;
  out->total_memory = prop.totalGlobalMem;
  out->sm_count = prop.multiProcessorCount;
  return 0;
}

int mem_info(int device, size_t* free_bytes, size_t* total_bytes) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  ARELU_TRY(cudaMemGetInfo(free_bytes, total_bytes));
  return 0;
}

int buffer_alloc(int device, size_t bytes, void** ptr) {
  DeviceGuard guard;
  *ptr = nullptr;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  if (bytes == 0) return 0;
  ARELU_TRY(cudaMalloc(ptr, bytes));
  return 0;
}

int buffer_free(int device, void* ptr) {
  if (ptr == nullptr) return 0;
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  // cudaFree waits for the device: enqueued work may still use the buffer.
  const cudaError_t f = cudaFree(ptr);
  if (f != cudaSuccess) return note(s, fail(f));
  return 0;
}

// Plain copies need no ring space, so they are enqueued without the
// device's mutex (the runtime's own calls are thread-safe) and never hold
// it while they wait.
int upload(int device, void* dst, const void* src, size_t bytes) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  if (bytes == 0) return 0;
  ARELU_TRY(static_cast<cudaError_t>(note(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream))));
  ARELU_TRY(static_cast<cudaError_t>(note(s, cudaStreamSynchronize(s->stream))));
  return 0;
}

// A copy to pageable memory returns once it is done (CUDA's rule).
int download(int device, void* dst, const void* src, size_t bytes) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  if (bytes != 0)
    ARELU_TRY(static_cast<cudaError_t>(note(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream))));
  ARELU_TRY(static_cast<cudaError_t>(note(s, cudaStreamSynchronize(s->stream))));
  return 0;
}

int copy(int device, void* dst, const void* src, size_t bytes) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  if (bytes == 0 || dst == src) return 0;
  ARELU_TRY(static_cast<cudaError_t>(note(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->stream))));
  return 0;
}

int synchronize(int device) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  ARELU_TRY(static_cast<cudaError_t>(note(s, cudaStreamSynchronize(s->stream))));
  return 0;
}

int forward(int device, const float* x, float* y, const Layout& layout, const float* alpha,
            const float* beta) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  return submit<false>(s, x, nullptr, y, layout, alpha, beta, nullptr, nullptr, nullptr);
}

int backward(int device, const float* x, const float* g, float* dx, const Layout& layout,
             const float* alpha, const float* beta, double* sums) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  Waiter* w = new Waiter();
  if (int e = submit<true>(s, x, g, dx, layout, alpha, beta, sums, on_waiter, w)) {
    delete w;
    return e;
  }
  return wait_for(s, w);
}

int forward_async(int device, const float* x, float* y, const Layout& layout, const float* alpha,
                  const float* beta, Done done, void* user) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  return submit<false>(s, x, nullptr, y, layout, alpha, beta, nullptr, done, user);
}

int backward_async(int device, const float* x, const float* g, float* dx, const Layout& layout,
                   const float* alpha, const float* beta, double* sums, Done done, void* user) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  return submit<true>(s, x, g, dx, layout, alpha, beta, sums, done, user);
}

int download_async(int device, void* dst, const void* src, size_t bytes, Done done, void* user) {
  DeviceGuard guard;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  std::lock_guard<std::mutex> lock(s->mu);
  if (bytes == 0) {
    Job* job = new Job();
    job->s = s;
    job->done = done;
    job->user = user;
    return queue_job(s, job);
  }
  if (s->pools && !download_staged_only()) {
    if (int e = start_downloader(s)) return note(s, e);
    void* tmp = nullptr;
    cudaError_t e = cudaMallocAsync(&tmp, bytes, s->stream);
    if (e == cudaSuccess) {
      cudaEvent_t ready = nullptr;
      e = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, s->stream);
      if (e == cudaSuccess) e = cudaEventCreateWithFlags(&ready, cudaEventDisableTiming);
      if (e == cudaSuccess) {
        e = cudaEventRecord(ready, s->stream);
        if (e != cudaSuccess) (void)cudaEventDestroy(ready);
      }
      if (e != cudaSuccess) {
        (void)cudaFreeAsync(tmp, s->stream);
        return note(s, fail(e));
      }
      DlTask* t = new DlTask();
      t->dst = dst;
      t->tmp = tmp;
      t->bytes = bytes;
      t->ready = ready;
      t->done = done;
      t->user = user;
      std::lock_guard<std::mutex> l(s->dl_mu);
      s->dl_queue.push_back(t);
      ++s->dl_busy;
      s->dl_cv.notify_all();
      return 0;
    }
    if (e != cudaErrorMemoryAllocation) return note(s, fail(e));
    (void)cudaGetLastError();  // no room for the temporary: the staged path
  }
  return download_staged(s, dst, src, bytes, done, user);
}

int event_record(int device, void** event) {
  DeviceGuard guard;
  *event = nullptr;
  DeviceState* s = nullptr;
  if (int e = state_for(device, &s)) return e;
  cudaEvent_t ev = nullptr;
  ARELU_TRY(cudaEventCreateWithFlags(&ev, 0));
  std::lock_guard<std::mutex> lock(s->mu);
  const cudaError_t e = cudaEventRecord(ev, s->stream);
  if (e != cudaSuccess) {
    (void)cudaEventDestroy(ev);
    return note(s, fail(e));
  }
  *event = ev;
  return 0;
}

int event_elapsed_ms(void* start, void* stop, float* ms) {
  ARELU_TRY(cudaEventSynchronize(static_cast<cudaEvent_t>(stop)));
  ARELU_TRY(cudaEventElapsedTime(ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(stop)));
  return 0;
}

void event_destroy(void* event) {
  if (event != nullptr) (void)cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

// Environment teardown: waits until no queued work or download still writes
// to host memory. A dead device is not waited for.
void quiesce() {
  std::vector<DeviceState*> all;
  {
    std::lock_guard<std::mutex> lock(g_states_mu);
    if (g_states == nullptr) return;
    for (DeviceState* s : *g_states)
      if (s != nullptr) all.push_back(s);
  }
  DeviceGuard guard;
  for (DeviceState* s : all) {
    if (s->dead.load() != 0) continue;
    (void)cudaSetDevice(s->device);
    (void)cudaStreamSynchronize(s->stream);
    std::unique_lock<std::mutex> cb(s->cb_mu);  // the calls' jobs (sums written out, ring released)
    s->cb_cv.wait(cb, [&] { return s->cb_busy == 0 || s->dead.load() != 0; });
    cb.unlock();
    std::unique_lock<std::mutex> l(s->dl_mu);
    s->dl_cv.wait(l, [&] { return s->dl_busy == 0 || s->dead.load() != 0; });
    l.unlock();
    std::unique_lock<std::mutex> st(s->st_mu);  // staged downloads: the stager's copies
    s->st_cv.wait(st, [&] { return s->st_jobs == 0 || s->dead.load() != 0; });
    st.unlock();
    (void)cudaStreamSynchronize(s->stream);  // callbacks queued by the downloads' own jobs
    (void)cudaGetLastError();
  }
}

}  // namespace arelu_cuda
