// The AVX-512 kernels, compiled against simde's portable emulation, against
// the scalar kernels, bit for bit (NaN = NaN), on random and edge data.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <algorithm>
#include <vector>
#include "cpu_kernels.h"
#include "arelu_math.h"
using namespace arelu;
extern "C" const CpuKernels emu_avx512_kernels;      // kernels_avx512.cpp's two tables, renamed by run.sh
extern "C" const CpuKernels emu_avx512_ymm_kernels;
static bool same(float a, float b) { uint32_t x, y; memcpy(&x, &a, 4); memcpy(&y, &b, 4); return x == y || (a != a && b != b); }
static bool samed(double a, double b) { uint64_t x, y; memcpy(&x, &a, 8); memcpy(&y, &b, 8); return x == y || (a != a && b != b); }
// An output `off` floats past a 64-byte line in b (b filled with 7.0f, 48
// floats longer than the output), and the count of b's elements outside
// [p, p + n) that are no longer 7.0f (each one a check).
static float* past_line(std::vector<float>& b, size_t off) {
  return b.data() + (64 - reinterpret_cast<uintptr_t>(b.data()) % 64) % 64 / 4 + 16 + off;
}
static int written_outside(const std::vector<float>& b, const float* p, size_t n, int& checks) {
  int w = 0;
  for (const float* q = b.data(); q < b.data() + b.size(); ++q) {
    if (q == p) q += n;
    if (q < b.data() + b.size()) { ++checks; w += *q != 7.0f; }
  }
  return w;
}
static int check_table(const CpuKernels& E, const char* label) {
  const CpuKernels& S = kScalarKernels;
  // All 24 significand bits random, magnitudes 4 down past 2^-12: the sums
  // round, so their bits depend on the order of the additions (uniform
  // floats in [-4, 4] are multiples of 2^-21, whose sums here are exact).
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> mant(-(1 << 24) + 1, (1 << 24) - 1);
  std::uniform_int_distribution<int> exp2(-36, -22);
  auto u = [&](std::mt19937& r) { return std::ldexp(static_cast<float>(mant(r)), exp2(r)); };
  const float edges[] = {0.f, -0.f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 3e38f, -3e38f, -1e-40f};
  int bad = 0, checks = 0;
  for (int trial = 0; trial < 400; ++trial) {
    size_t n = (trial * 37) % 1500 + (trial % 3 == 0 ? 16384 - 700 : 0);
    std::vector<float> x(n), g(n), pa(n), pb(n);
    for (size_t i = 0; i < n; ++i) {
      // Every fourth trial finite: one NaN or infinity makes a sum NaN,
      // and NaN sums compare equal whatever the order of their additions.
      x[i] = (trial % 4 != 1 && rng() % 20 == 0) ? edges[rng() % 10] : u(rng);
      g[i] = (trial % 4 != 1 && rng() % 30 == 0) ? edges[rng() % 10] : u(rng);
      pa[i] = 0.01f + (rng() % 98) / 100.f; pb[i] = 1.f + (rng() % 100) / 100.f;
    }
    float a = trial % 7 == 0 ? NAN : 0.01f + (trial % 98) / 100.f, b = 1.0f + (trial % 100) / 100.f;
    std::vector<float> y1(n), y2(n), d1(n), d2(n);
    double s1[2], s2[2];
    S.forward_uniform(x.data(), y1.data(), n, a, b);
    {  // y at (trial % 16) floats past a 64-byte line (the store peel), guarded on both sides
      std::vector<float> yb(n + 48, 7.0f);
      float* y = past_line(yb, trial % 16);
      E.forward_uniform(x.data(), y, n, a, b);
      for (size_t i = 0; i < n; ++i) { ++checks; if (!same(y1[i], y[i]) && bad++ < 5) printf("fwd_u n=%zu i=%zu x=%g %08x vs %08x\n", n, i, x[i], *(uint32_t*)&y1[i], *(uint32_t*)&y[i]); }
      if (const int w = written_outside(yb, y, n, checks)) { if (bad < 5) printf("fwd_u n=%zu wrote outside y\n", n); bad += w; }
    }
    S.forward_varying(x.data(), y1.data(), n, 1, n, pa.data(), pb.data(), false);
    for (bool finite : {false, true}) {  // pa, pb are finite: both forms apply
      E.forward_varying(x.data(), y2.data(), n, 1, n, pa.data(), pb.data(), finite);
      for (size_t i = 0; i < n; ++i) { ++checks; if (!same(y1[i], y2[i]) && bad++ < 5) printf("fwd_v(%d) i=%zu\n", finite, i); }
    }
    S.backward_uniform(x.data(), g.data(), d1.data(), n, a, b, s1);
    {  // dx at (trial * 5 % 16) floats past a 64-byte line (the store peel and lane rotation), guarded
      std::vector<float> db(n + 48, 7.0f);
      float* d = past_line(db, trial * 5 % 16);
      E.backward_uniform(x.data(), g.data(), d, n, a, b, s2);
      for (size_t i = 0; i < n; ++i) { ++checks; if (!same(d1[i], d[i]) && bad++ < 5) printf("bwd_u dx i=%zu\n", i); }
      if (const int w = written_outside(db, d, n, checks)) { if (bad < 5) printf("bwd_u n=%zu wrote outside dx\n", n); bad += w; }
    }
    checks += 2; if ((!samed(s1[0], s2[0]) || !samed(s1[1], s2[1])) && bad++ < 5) printf("bwd_u sums n=%zu %.17g %.17g vs %.17g %.17g\n", n, s1[0], s1[1], s2[0], s2[1]);
    // varying: rows of `slots` slots
    // (64-96 slots: one super-row in registers; 128-384: strips of them)
    size_t slots = 16 * (1 + trial % 6) * (trial % 5 == 1 ? 4 : 1) + (trial % 4 == 0 ? 3 : 0), rows = slots ? n / slots : 0;
    if (rows > 0) {
      // fresh (every third trial): the accumulators start at +0 whatever they hold
      const bool fresh = trial % 3 == 2;
      std::vector<double> a1(slots, fresh ? 7.0 : 0.0), b1(a1), a2(a1), b2(a1);
      S.backward_varying(x.data(), g.data(), d1.data(), slots, 1, 0, rows, slots, pa.data(), pb.data(), a1.data(), b1.data(), trial % 2 == 0, fresh);
      E.backward_varying(x.data(), g.data(), d2.data(), slots, 1, 0, rows, slots, pa.data(), pb.data(), a2.data(), b2.data(), trial % 2 == 0, fresh);
      for (size_t i = 0; i < rows * slots; ++i) { ++checks; if (!same(d1[i], d2[i]) && bad++ < 5) printf("bwd_v dx i=%zu\n", i); }
      for (size_t j = 0; j < slots; ++j) { ++checks; if ((!samed(a1[j], a2[j]) || !samed(b1[j], b2[j])) && bad++ < 5) printf("bwd_v sums j=%zu\n", j); }
      // runs: 3 runs of a third of the slots (less one), every other third apart
      const size_t len = slots / 6 ? slots / 6 : 1, step = 2 * len;
      if (2 * step + len <= slots) {
        std::fill(d1.begin(), d1.end(), 7.0f);
        std::fill(d2.begin(), d2.end(), 7.0f);
        std::fill(a1.begin(), a1.end(), 0.0); std::fill(b1.begin(), b1.end(), 0.0);
        std::fill(a2.begin(), a2.end(), 0.0); std::fill(b2.begin(), b2.end(), 0.0);
        S.backward_varying(x.data(), g.data(), d1.data(), len, 3, step, rows, slots, pa.data(), pb.data(), a1.data(), b1.data(), false, false);
        E.backward_varying(x.data(), g.data(), d2.data(), len, 3, step, rows, slots, pa.data(), pb.data(), a2.data(), b2.data(), trial % 2 == 0, false);
        for (size_t i = 0; i < n; ++i) { ++checks; if (!same(d1[i], d2[i]) && bad++ < 5) printf("bwd_v runs dx i=%zu\n", i); }
        for (size_t j = 0; j < slots; ++j) { ++checks; if ((!samed(a1[j], a2[j]) || !samed(b1[j], b2[j])) && bad++ < 5) printf("bwd_v runs sums j=%zu\n", j); }
        // again, fresh, over accumulators that hold garbage (the slots outside the runs keep it)
        std::fill(a1.begin(), a1.end(), 7.0); std::fill(b1.begin(), b1.end(), 7.0);
        std::fill(a2.begin(), a2.end(), 7.0); std::fill(b2.begin(), b2.end(), 7.0);
        S.backward_varying(x.data(), g.data(), d1.data(), len, 3, step, rows, slots, pa.data(), pb.data(), a1.data(), b1.data(), false, true);
        E.backward_varying(x.data(), g.data(), d2.data(), len, 3, step, rows, slots, pa.data(), pb.data(), a2.data(), b2.data(), trial % 2 == 0, true);
        for (size_t i = 0; i < n; ++i) { ++checks; if (!same(d1[i], d2[i]) && bad++ < 5) printf("bwd_v runs dx i=%zu\n", i); }
        for (size_t j = 0; j < slots; ++j) { ++checks; if ((!samed(a1[j], a2[j]) || !samed(b1[j], b2[j])) && bad++ < 5) printf("bwd_v runs sums j=%zu\n", j); }
      }
      // one run of the super-row's last whole 64-slot strips (a part of a
      // call split by channels): in registers, rows `slots` apart
      const size_t len1 = slots / 128 * 64, off = slots - len1;
      if (len1 > 0) {
        std::fill(d1.begin(), d1.end(), 7.0f);
        std::fill(d2.begin(), d2.end(), 7.0f);
        const double init = fresh ? 7.0 : 0.0;
        std::fill(a1.begin(), a1.end(), init); std::fill(b1.begin(), b1.end(), init);
        std::fill(a2.begin(), a2.end(), init); std::fill(b2.begin(), b2.end(), init);
        S.backward_varying(x.data() + off, g.data() + off, d1.data() + off, len1, 1, 0, rows, slots, pa.data() + off, pb.data() + off, a1.data() + off, b1.data() + off, false, fresh);
        E.backward_varying(x.data() + off, g.data() + off, d2.data() + off, len1, 1, 0, rows, slots, pa.data() + off, pb.data() + off, a2.data() + off, b2.data() + off, false, fresh);
        for (size_t i = 0; i < n; ++i) { ++checks; if (!same(d1[i], d2[i]) && bad++ < 5) printf("bwd_v run of strips dx i=%zu\n", i); }
        for (size_t j = 0; j < slots; ++j) { ++checks; if ((!samed(a1[j], a2[j]) || !samed(b1[j], b2[j])) && bad++ < 5) printf("bwd_v run of strips sums j=%zu\n", j); }
      }
      // forward in row blocks; the slices leave a gap of one slot when
      // there is room (stride > n), which must stay unwritten
      const size_t stride = rows * (slots + 1) <= n ? slots + 1 : slots, frows = n / stride;
      std::fill(y1.begin(), y1.end(), 7.0f);
      std::fill(y2.begin(), y2.end(), 7.0f);
      S.forward_varying(x.data(), y1.data(), slots, frows, stride, pa.data(), pb.data(), false);
      for (bool finite : {false, true}) {
        E.forward_varying(x.data(), y2.data(), slots, frows, stride, pa.data(), pb.data(), finite);
        for (size_t i = 0; i < n; ++i) { ++checks; if (!same(y1[i], y2[i]) && bad++ < 5) printf("fwd_v rows=%zu stride=%zu i=%zu\n", frows, stride, i); }
      }
    }
    // tiles: `tr` rows of `nch` channels' runs of `inner` (16-85) elements,
    // rows `stride` apart (a gap of 0-14 floats that must stay unwritten),
    // so runs start at every lane; the state starts as garbage
    {
      const size_t inner = 16 + trial % 70, nch = 1 + trial % 5, stride = nch * inner + (trial % 3) * 7;
      const size_t tr = n / stride;
      if (tr > 0) {
        std::vector<Coeffs> co(nch);
        for (size_t k = 0; k < nch; ++k) co[k] = make_coeffs(k == 1 && trial % 11 == 0 ? NAN : 0.3f * k, 0.5f - k);
        std::vector<double> st1(32 * nch, 7.0), st2(32 * nch, 7.0);
        std::fill(d1.begin(), d1.end(), 7.0f);
        std::vector<float> db(n + 48, 7.0f);
        float* d = past_line(db, trial * 3 % 16);
        std::vector<double> s1(2 * nch, 7.0), s2(2 * nch, 7.0);
        S.backward_tile(x.data(), g.data(), d1.data(), inner, nch, tr, stride, co.data(), st1.data(), s1.data());
        E.backward_tile(x.data(), g.data(), d, inner, nch, tr, stride, co.data(), st2.data(), s2.data());
        for (size_t i = 0; i < n; ++i) { ++checks; if (!same(d1[i], d[i]) && bad++ < 5) printf("bwd_tile dx inner=%zu i=%zu\n", inner, i); }
        for (size_t j = 0; j < 2 * nch; ++j) { ++checks; if (!samed(s1[j], s2[j]) && bad++ < 5) printf("bwd_tile sums inner=%zu j=%zu\n", inner, j); }
        if (const int w = written_outside(db, d, n, checks)) { if (bad < 5) printf("bwd_tile wrote outside dx\n"); bad += w; }
      }
    }
    // rows: consecutive rows of `len` elements, row r with channel (c0 + r) % C
    // 1024+: forward aligns its stores; 8192+ (finite trials of 16K): backward does too
    const size_t len = trial % 12 == 9 ? 8192 + trial % 37 : trial % 10 == 5 ? 1024 + trial % 37 : 1 + trial % 90;
    const size_t C = 1 + trial % 5, c0 = trial % C, nrows = n / len;
    if (nrows > 0) {
      std::vector<Coeffs> co(C);
      for (size_t c = 0; c < C; ++c) co[c] = make_coeffs(c == 2 && trial % 11 == 0 ? NAN : 0.2f * c, 1.0f - c);
      std::vector<double> p1(2 * nrows), p2(2 * nrows);
      S.backward_rows(x.data(), g.data(), d1.data(), len, nrows, co.data(), c0, C, p1.data());
      E.backward_rows(x.data(), g.data(), d2.data(), len, nrows, co.data(), c0, C, p2.data());
      for (size_t i = 0; i < nrows * len; ++i) { ++checks; if (!same(d1[i], d2[i]) && bad++ < 5) printf("bwd_rows dx len=%zu i=%zu\n", len, i); }
      for (size_t j = 0; j < 2 * nrows; ++j) { ++checks; if (!samed(p1[j], p2[j]) && bad++ < 5) printf("bwd_rows sums len=%zu j=%zu\n", len, j); }
      S.forward_rows(x.data(), y1.data(), len, nrows, co.data(), c0, C);
      E.forward_rows(x.data(), y2.data(), len, nrows, co.data(), c0, C);
      for (size_t i = 0; i < nrows * len; ++i) { ++checks; if (!same(y1[i], y2[i]) && bad++ < 5) printf("fwd_rows len=%zu i=%zu\n", len, i); }
    }
  }
  // Period-mode forward on calls long enough for aligned stores
  // (forward_in_registers: rows of 2, 4, 6, 8 vectors), y at every offset
  // from a line, guarded on both sides.
  for (int k = 0; k < 16; ++k) {
    const size_t slots = 32 * (1 + k % 4), rows = 30000 / slots + k, total = rows * slots;
    std::vector<float> x(total), pa(slots), pb(slots), y1(total), yb(total + 48, 7.0f);
    for (size_t i = 0; i < total; ++i) x[i] = (rng() % 50 == 0) ? edges[rng() % 10] : u(rng);
    for (size_t j = 0; j < slots; ++j) pa[j] = 0.01f + (rng() % 98) / 100.f, pb[j] = 1.f + (rng() % 100) / 100.f;
    float* y = past_line(yb, k);
    S.forward_varying(x.data(), y1.data(), slots, rows, slots, pa.data(), pb.data(), false);
    E.forward_varying(x.data(), y, slots, rows, slots, pa.data(), pb.data(), k % 2 == 0);
    for (size_t i = 0; i < total; ++i) { ++checks; if (!same(y1[i], y[i]) && bad++ < 5) printf("fwd_v aligned slots=%zu offset=%d i=%zu\n", slots, k, i); }
    if (const int w = written_outside(yb, y, total, checks)) { if (bad < 5) printf("fwd_v aligned wrote outside y\n"); bad += w; }
  }
  printf("%s (simde emulation) vs scalar: %d checks, %d mismatches\n", label, checks, bad);
  return bad;
}

int main() {
  const int bad = check_table(emu_avx512_kernels, "avx512") + check_table(emu_avx512_ymm_kernels, "avx512, 8-float vectors");
  return bad != 0;
}
