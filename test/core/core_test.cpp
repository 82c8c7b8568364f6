// C++ tests of native/core: every ISA this CPU supports against the scalar
// reference (bit for bit) and a long-double evaluation (SPEC §1
// tolerances), SPEC §1 edge cases, per-channel layouts, and bit-identical
// parameter gradients across ISAs and thread counts. Outputs are poisoned
// before every run so an unwritten element cannot pass. Runs under
// ASan + UBSan in CI.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "arelu_cpu.h"
#include "arelu_math.h"
#include "cpu_dispatch.h"

using namespace arelu;

namespace {

int g_failures = 0;
int g_checks = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    ++g_checks;                                            \
    if (!(cond)) {                                         \
      ++g_failures;                                        \
      if (g_failures <= 20) {                              \
        std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
        std::fprintf(stderr, __VA_ARGS__);                 \
        std::fprintf(stderr, "\n");                        \
      }                                                    \
    }                                                      \
  } while (0)

uint32_t bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
uint64_t bits(double d) { uint64_t u; std::memcpy(&u, &d, 8); return u; }
const float kPoison = [] { uint32_t u = 0x7fa5a5a5u; float f; std::memcpy(&f, &u, 4); return f; }();

// Distance in float32 ulps (both finite); NaNs and zeros handled by callers.
int64_t ulp_diff(float a, float b) {
  auto key = [](float f) { int32_t i; std::memcpy(&i, &f, 4); return i < 0 ? int64_t(INT32_MIN) - i : int64_t(i); };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

bool same_value(float got, double want, int max_ulps) {
  if (std::isnan(want)) return std::isnan(got);
  if (want == 0) return got == 0;
  if (std::isinf(want)) return got == static_cast<float>(want);
  return ulp_diff(got, static_cast<float>(want)) <= max_ulps;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon})
    if (isa_supported(i, nullptr)) v.push_back(i);
  return v;
}

// Long-double evaluation of SPEC §1 from the float32 parameters.
struct Ref {
  long double a, b, s;
  bool live;
};
Ref ref_coeffs(float alpha, float beta) {
  Ref r;
  r.a = alpha < 0.01f ? 0.01f : (alpha > 0.99f ? 0.99f : alpha);
  if (std::isnan(alpha)) r.a = NAN;
  r.live = 0.01f <= alpha && alpha <= 0.99f;
  r.s = 1.0L / (1.0L + std::exp(-static_cast<long double>(beta)));
  r.b = 1.0L + r.s;
  return r;
}
long double relu_ld(long double v) { return std::isnan(v) ? v : (v > 0 ? v : 0.0L); }

struct Case {
  std::string name;
  std::vector<float> x, g, alpha, beta;
  Layout layout;
};

// Runs forward and backward for one case on one ISA and thread count,
// checks values against the reference, and returns the outputs.
struct Outputs {
  std::vector<float> y, dx;
  std::vector<double> da, db;
};

Outputs run_case(const Case& c, Isa isa, int threads, size_t offset_x = 0) {
  std::string err;
  CHECK(select_isa(isa, &err), "select %s: %s", isa_name(isa), err.c_str());
  cpu_set_threads(threads);
  const size_t n = c.layout.n, C = c.layout.channels;
  // Copy x and g into buffers shifted by `offset_x` floats: unaligned views.
  std::vector<float> xs(n + offset_x + 1), gs(n + offset_x + 1);
  std::copy(c.x.begin(), c.x.end(), xs.begin() + offset_x);
  std::copy(c.g.begin(), c.g.end(), gs.begin() + offset_x);
  // The outputs start offset_out floats past a 64-byte line (0, 7, 5 for
  // offset_x 0, 1, 3: forward peels a different count of elements before
  // its aligned stores each time), with poisoned guards on both sides.
  const size_t offset_out = (7 * offset_x) % 16;
  std::vector<float> yb(n + 48, kPoison), db(n + 48, kPoison);
  auto place = [&](std::vector<float>& b) {
    const size_t to_line = (64 - reinterpret_cast<uintptr_t>(b.data()) % 64) % 64 / sizeof(float);
    return b.data() + to_line + 16 + offset_out;
  };
  float* y = place(yb);
  float* dx = place(db);
  Outputs o;
  o.da.assign(C, std::nan("7"));
  o.db.assign(C, std::nan("7"));
  cpu_forward(xs.data() + offset_x, y, c.layout, c.alpha.data(), c.beta.data());
  if (C > 1) {
    // First a per-channel backward of other data with the same layout, on
    // the scalar kernels: the partial sums it leaves in the (reused)
    // workspace are then wrong for this call, so a kernel that fails to
    // write one cannot pass on an earlier run's value.
    std::vector<float> other(n), scratch(n);
    for (size_t i = 0; i < n; ++i) other[i] = c.x[(i * 7 + 3) % n] * 0.75f;
    std::vector<double> sa(C), sb(C);
    CHECK(select_isa(Isa::kScalar, &err), "select scalar: %s", err.c_str());
    cpu_backward(other.data(), gs.data() + offset_x, scratch.data(), c.layout, c.alpha.data(), c.beta.data(),
                 sa.data(), sb.data());
    CHECK(select_isa(isa, &err), "select %s: %s", isa_name(isa), err.c_str());
  }
  cpu_backward(xs.data() + offset_x, gs.data() + offset_x, dx, c.layout, c.alpha.data(), c.beta.data(),
               o.da.data(), o.db.data());
  auto guards_intact = [&](const std::vector<float>& b, const float* p) {
    for (const float* q = b.data(); q < p; ++q)
      if (bits(*q) != bits(kPoison)) return false;
    for (const float* q = p + n; q < b.data() + b.size(); ++q)
      if (bits(*q) != bits(kPoison)) return false;
    return true;
  };
  CHECK(guards_intact(yb, y), "%s: forward wrote outside its output (offset %zu)", c.name.c_str(), offset_out);
  CHECK(guards_intact(db, dx), "%s: backward wrote outside its output (offset %zu)", c.name.c_str(), offset_out);
  o.y.assign(y, y + n);
  o.dx.assign(dx, dx + n);
  return o;
}

size_t channel_of(const Layout& l, size_t i) { return l.channels == 1 ? 0 : (i / l.inner) % l.channels; }

void check_against_reference(const Case& c, const Outputs& o, const char* isa) {
  const Layout& l = c.layout;
  std::vector<Ref> co;
  for (size_t k = 0; k < l.channels; ++k) co.push_back(ref_coeffs(c.alpha[k], c.beta[k]));
  std::vector<long double> sa(l.channels, 0), sb(l.channels, 0), mag(l.channels, 0);
  int bad_y = 0, bad_dx = 0;
  for (size_t i = 0; i < l.n; ++i) {
    const size_t ch = channel_of(l, i);
    const Ref& r = co[ch];
    const long double x = c.x[i], g = c.g[i];
    // forward: relu(x) * b - relu(-x) * a
    const long double y = relu_ld(x) * r.b - relu_ld(-x) * r.a;
    // The reference module forms b in float32 (1 + sigmoid), so allow 2 ulps.
    if (!same_value(o.y[i], static_cast<double>(y), 2) && bad_y++ < 3)
      CHECK(false, "%s/%s: y[%zu] = %.9g, want %.9Lg (x = %.9g)", c.name.c_str(), isa, i, o.y[i], y, c.x[i]);
    long double dx;
    if (std::isnan(x)) dx = NAN;
    else if (x > 0) dx = g * r.b;
    else if (x < 0) dx = g * r.a;
    else dx = 0;
    if (!same_value(o.dx[i], static_cast<double>(dx), 2) && bad_dx++ < 3)
      CHECK(false, "%s/%s: dx[%zu] = %.9g, want %.9Lg (x = %.9g, g = %.9g)", c.name.c_str(), isa, i, o.dx[i], dx, c.x[i], c.g[i]);
    sa[ch] += g * relu_ld(-x);
    sb[ch] += g * relu_ld(x);
    mag[ch] += std::fabs(g * x);
  }
  for (size_t k = 0; k < l.channels; ++k) {
    const long double want_a = co[k].live ? -sa[k] : 0.0L;
    const long double want_b = sb[k] * co[k].s * (1 - co[k].s);
    const long double tol = 1e-9L * mag[k];
    auto ok = [&](double got, long double want) {
      if (static_cast<long double>(got) == want) return true;
      if (std::isnan(want)) return std::isnan(got);
      if (std::isinf(want)) return got == static_cast<double>(want);
      return std::fabs(static_cast<long double>(got) - want) <= tol;
    };
    CHECK(ok(o.da[k], want_a), "%s/%s: dAlpha[%zu] = %.17g, want %.17Lg", c.name.c_str(), isa, k, o.da[k], want_a);
    CHECK(ok(o.db[k], want_b), "%s/%s: dBeta[%zu] = %.17g, want %.17Lg", c.name.c_str(), isa, k, o.db[k], want_b);
  }
}

// y and dx: the same bits, except that any NaN equals any NaN (which NaN
// operand an instruction propagates is the compiler's choice). The sums:
// the same bits, NaN included (they return one canonical NaN).
bool same_elem(float a, float b) { return bits(a) == bits(b) || (std::isnan(a) && std::isnan(b)); }

bool identical(const Outputs& a, const Outputs& b) {
  if (a.y.size() != b.y.size() || a.da.size() != b.da.size()) return false;
  for (size_t i = 0; i < a.y.size(); ++i)
    if (!same_elem(a.y[i], b.y[i]) || !same_elem(a.dx[i], b.dx[i])) {
      std::fprintf(stderr, "  first difference at %zu: y %08x vs %08x, dx %08x vs %08x\n", i, bits(a.y[i]),
                   bits(b.y[i]), bits(a.dx[i]), bits(b.dx[i]));
      return false;
    }
  for (size_t k = 0; k < a.da.size(); ++k)
    if (bits(a.da[k]) != bits(b.da[k]) || bits(a.db[k]) != bits(b.db[k])) {
      std::fprintf(stderr, "  first difference in sums at channel %zu: %.17g/%.17g vs %.17g/%.17g\n", k, a.da[k],
                   a.db[k], b.da[k], b.db[k]);
      return false;
    }
  return true;
}

std::mt19937_64 rng(20261128);

// All 24 significand bits random and magnitudes from 4 down past 2^-12, so
// the float64 terms carry up to 48 significant bits at many exponents and
// their sums round: the bits of a sum then depend on the order of its
// additions, which the comparisons across ISAs, thread counts and output
// offsets check. (A uniform float in [-4, 4] is a multiple of 2^-21, and
// sums of a few thousand such products are exact in any order: those
// comparisons could not see a lane out of place.)
float random_value() {
  std::uniform_int_distribution<int32_t> mant(-(1 << 24) + 1, (1 << 24) - 1);
  std::uniform_int_distribution<int> exp2(-36, -22);
  return std::ldexp(static_cast<float>(mant(rng)), exp2(rng));
}

Case random_case(const std::string& name, size_t n, size_t channels, size_t inner, bool wide_params) {
  Case c;
  c.name = name;
  c.layout = {n, channels, inner};
  c.x.resize(n);
  c.g.resize(n);
  for (size_t i = 0; i < n; ++i) {
    c.x[i] = random_value();
    c.g[i] = random_value();
  }
  std::uniform_real_distribution<float> ua(wide_params ? -0.5f : 0.02f, wide_params ? 1.5f : 0.98f);
  std::uniform_real_distribution<float> ub(-4.0f, 4.0f);
  for (size_t k = 0; k < channels; ++k) {
    c.alpha.push_back(ua(rng));
    c.beta.push_back(ub(rng));
  }
  return c;
}

// Every ISA and thread count must agree bit for bit; each must match the
// reference.
void check_case_everywhere(const Case& c, std::initializer_list<int> thread_counts) {
  const auto isas = supported_isas();
  Outputs first;
  bool have_first = false;
  for (Isa isa : isas) {
    for (int t : thread_counts) {
      for (size_t off : {size_t(0), size_t(1), size_t(3)}) {
        const Outputs o = run_case(c, isa, t, off);
        if (!have_first) {
          check_against_reference(c, o, isa_name(isa));
          first = o;
          have_first = true;
        } else {
          CHECK(identical(first, o), "%s: %s with %d threads (offset %zu) differs from %s with the first setting",
                c.name.c_str(), isa_name(isa), t, off, isa_name(isas[0]));
        }
      }
      if (isa != isas[0] && t == *thread_counts.begin()) check_against_reference(c, run_case(c, isa, t), isa_name(isa));
    }
  }
}

void test_edge_cases() {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float den = std::numeric_limits<float>::denorm_min();
  const float big = std::numeric_limits<float>::max();
  const std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, inf, -inf, nan, den, -den, big, -big, 1e-30f, -1e-30f, 3.5f, -2.25f};
  const std::vector<float> gs = {1.0f, -1.0f, 0.0f, -0.0f, 2.5f, inf, -inf, nan, den, big};
  // Every (x, g) pair, padded to exercise vector bodies and tails.
  Case base;
  base.name = "edge";
  for (float x : xs)
    for (float g : gs) {
      base.x.push_back(x);
      base.g.push_back(g);
    }
  const std::vector<std::pair<float, float>> params = {
      {0.90f, 2.0f}, {0.0f, 0.0f}, {-1.0f, 1.0f}, {1.5f, -3.0f}, {0.01f, 0.0f}, {0.99f, 0.0f},
      {0.009999f, 1.0f}, {0.990001f, 1.0f}, {nan, 1.0f}, {0.5f, nan}, {0.5f, inf}, {0.5f, -inf},
      {inf, 0.0f}, {-inf, 0.0f}, {0.25f, 40.0f}, {0.25f, -40.0f}};
  for (auto [a, b] : params) {
    // Edge values alone (each pair once), and the finite subset, where sums
    // must match the tolerance rather than just propagate NaN.
    for (int finite_only = 0; finite_only < 2; ++finite_only) {
      Case c = base;
      if (finite_only) {
        c.x.clear();
        c.g.clear();
        for (size_t i = 0; i < base.x.size(); ++i)
          if (std::isfinite(base.x[i]) && std::isfinite(base.g[i])) {
            c.x.push_back(base.x[i]);
            c.g.push_back(base.g[i]);
          }
      }
      char name[96];
      std::snprintf(name, sizeof name, "edge%s(alpha=%g, beta=%g)", finite_only ? "-finite" : "", a, b);
      c.name = name;
      c.alpha = {a};
      c.beta = {b};
      c.layout = {c.x.size(), 1, 1};
      check_case_everywhere(c, {1});
    }
  }
  // The window is tested in float32: alpha = 0.01f and 0.99f are inside.
  const Coeffs lo = make_coeffs(0.01f, 0.0f), hi = make_coeffs(0.99f, 0.0f);
  CHECK(lo.alpha_live && hi.alpha_live, "window must include its float32 ends");
  CHECK(!make_coeffs(std::nextafter(0.01f, 0.0f), 0.0f).alpha_live, "below the window must not be live");
  CHECK(std::isnan(make_coeffs(nan, 0.0f).a), "NaN alpha must clamp to NaN");
}

void test_nan_propagation() {
  // One NaN x among many finite values poisons both sums; one infinite g
  // where x < 0 makes dBeta NaN (g * relu(x) = inf * 0).
  for (Isa isa : supported_isas()) {
    Case c = random_case("nan-in-x", 100003, 1, 1, false);
    c.x[77777] = std::numeric_limits<float>::quiet_NaN();
    Outputs o = run_case(c, isa, 2);
    CHECK(std::isnan(o.da[0]) && std::isnan(o.db[0]), "%s: NaN x must reach both sums", isa_name(isa));
    CHECK(std::isnan(o.y[77777]) && std::isnan(o.dx[77777]), "%s: NaN x must give NaN y and dx", isa_name(isa));
    Case d = random_case("inf-g", 4099, 1, 1, false);
    d.x[4000] = -1.0f;
    d.g[4000] = std::numeric_limits<float>::infinity();
    o = run_case(d, isa, 1);
    CHECK(std::isnan(o.db[0]), "%s: inf g at x < 0 must make dBeta NaN", isa_name(isa));
    CHECK(std::isinf(o.da[0]), "%s: inf g at x < 0 must make dAlpha infinite", isa_name(isa));
  }
}

// relu keeps x itself (payload, sign, -0), so y and dx of a NaN x are the
// NaN the reference computes from that x, bit for bit, on every ISA (NEON
// would give +0 for max(0, -0) and may quiet or replace NaNs in a max).
// Only x is NaN here (g and the parameters are finite), so no instruction
// has two NaN operands to choose between.
void test_nan_payloads_and_zeros() {
  auto f = [](uint32_t u) { float v; std::memcpy(&v, &u, 4); return v; };
  const std::vector<float> specials = {f(0x7fc00001u), f(0xffc12345u), f(0x7fa00007u) /* signaling */,
                                       f(0xff800001u) /* signaling, negative */, -0.0f, 0.0f, -1e-45f, 1e-45f,
                                       -1.5f, 2.5f};
  Case c;
  c.name = "nan-payloads";
  for (int rep = 0; rep < 13; ++rep)  // 130 elements: vector bodies and a tail
    for (float v : specials) {
      c.x.push_back(v);
      c.g.push_back(rep % 2 ? -0.75f : 3.0f);
    }
  c.alpha = {0.3f};
  c.beta = {0.5f};
  c.layout = {c.x.size(), 1, 1};
  const Coeffs co = make_coeffs(c.alpha[0], c.beta[0]);
  for (Isa isa : supported_isas()) {
    const Outputs o = run_case(c, isa, 1);
    int bad = 0;
    for (size_t i = 0; i < c.x.size(); ++i) {
      const float y = forward_elem(c.x[i], co.a, co.b), dx = backward_dx(c.x[i], c.g[i], co.a, co.b);
      if ((bits(o.y[i]) != bits(y) || bits(o.dx[i]) != bits(dx)) && bad++ < 3)
        CHECK(false, "%s: x = %08x: y %08x dx %08x, want y %08x dx %08x", isa_name(isa), bits(c.x[i]), bits(o.y[i]),
              bits(o.dx[i]), bits(y), bits(dx));
    }
    CHECK(bad == 0, "%s: %d elements differ from the reference bits", isa_name(isa), bad);
  }
}

void test_random_scalar() {
  for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(16), size_t(17), size_t(1000), size_t(16385),
                   size_t(65536 + 33), size_t(300001)}) {
    check_case_everywhere(random_case("scalar-n" + std::to_string(n), n, 1, 1, n % 2 == 1), {1, 2, 7});
  }
}

void test_per_channel() {
  struct L { const char* name; size_t outer, C, inner; };
  const L layouts[] = {
      {"nhwc-c3", 20000, 3, 1},      {"nhwc-c512", 300, 512, 1},  {"nhwc-c64", 3001, 64, 1},
      {"nhwc-c7-inner2", 5000, 7, 2}, {"nchw-c16-hw784", 10, 16, 784}, {"nchw-c3-hw50176", 2, 3, 50176},
      {"mid-c5-inner300", 40, 5, 300}, {"nchw-c2-inner255", 300, 2, 255}, {"nhwc-c1000", 70, 1000, 1},
      {"c1-channels", 5000, 1, 17},  {"big-period-fallback", 2, 300000, 1},
      // A period whose multiple of 16 is too long: odd slot counts, SIMD tails.
      {"nhwc-odd-period", 3, 100003, 1}, {"nhwc-c5-odd-slots", 4001, 5, 1},
      // Super-rows a whole number of 4 KiB apart (the SIMD kernels take
      // them two rows at a time) and a long run of one channel per slot
      // fold: 7x7 and 4x4 maps, NCHW.
      {"nchw-c64-hw16", 37, 64, 16}, {"nchw-c32-hw96", 21, 32, 96}, {"nchw-c512-hw49", 3, 512, 49},
      // Row mode's short rows with 16-lane tails (padded groups), many rows per task.
      {"nchw-c128-hw100", 9, 128, 100}, {"nchw-c7-hw65", 33, 7, 65}, {"nchw-c3-hw64", 400, 3, 64},
      // Rows long enough for aligned stores (forward from 1024 elements,
      // backward from 8192), each row starting at another offset from a line.
      {"nchw-c6-hw1030", 5, 6, 1030}, {"nchw-c4-hw8200", 3, 4, 8200},
      // Tile mode: a last piece of one row (334 rows of 49 make a piece),
      // rows of 16-8192 at the mode's edges, runs starting at odd lanes.
      {"nchw-tiles-last-row-alone", 335, 2, 49}, {"nchw-tiles-hw8192", 3, 2, 8192},
      {"nchw-tiles-hw8193", 3, 2, 8193},         {"nchw-tiles-hw17", 1001, 3, 17},
      // Period mode's slot fold in blocks of 8 channels, with a last block of
      // fewer (13 channels), and split by channels at 3 and 16 threads into
      // parts that start inside a block (20 channels: parts of 10).
      {"nchw-c13-hw9", 400, 13, 9}, {"nchw-c20-hw13-split", 50, 20, 13}};
  for (const L& l : layouts)
    check_case_everywhere(random_case(l.name, l.outer * l.C * l.inner, l.C, l.inner, true), {1, 3, 16});
  // NaN parameters in one channel: the fast forward (finite coefficients
  // only) must not be taken for the others' sake, in both layouts.
  for (size_t inner : {size_t(1), size_t(300)}) {
    Case c = random_case(inner == 1 ? "nhwc-nan-params" : "nchw-nan-params", 500 * 8 * inner / (inner == 1 ? 1 : 50), 8, inner, true);
    c.alpha[3] = std::numeric_limits<float>::quiet_NaN();
    c.beta[5] = std::numeric_limits<float>::quiet_NaN();
    for (size_t i = 0; i < c.x.size(); i += 7) c.x[i] = (i / 7) % 3 == 0 ? -0.0f : ((i / 7) % 3 == 1 ? 0.0f : -1e-45f);
    check_case_everywhere(c, {1, 2});
  }
}

// The per-thread coefficient and slot-table cache (arelu_cpu.cpp,
// Workspace): a call with other parameter bits, another channel count or
// another plan must never see the previous call's coefficients, and a
// channel count whose tables exceed the kept size must work before and after
// smaller ones.
void test_coefficient_cache() {
  const Isa isa = best_isa();
  Case a = random_case("cache-a", 64 * 301, 64, 1, true);
  Case b = a;
  b.name = "cache-b (other bits)";
  b.alpha[5] = a.alpha[5] == 0.3f ? 0.4f : 0.3f;
  b.beta[37] += 1.0f;
  Case nan = a;
  nan.name = "cache-nan";
  nan.alpha[9] = std::numeric_limits<float>::quiet_NaN();
  Case inner2 = random_case("cache-inner2 (same params, other plan)", 64 * 2 * 151, 64, 2, true);
  inner2.alpha = a.alpha;
  inner2.beta = a.beta;
  Case rows = random_case("cache-rows (same params, row mode)", 2 * 64 * 300, 64, 300, true);
  rows.alpha = a.alpha;
  rows.beta = a.beta;
  Case big = random_case("cache-big (tables kept)", 3 * 70000, 70000, 1, true);
  // 800,000 channels: 19 MB of coefficients, past kKeepBytes (16 MiB), so
  // the workspace is dropped after each call and rebuilt for the next one.
  Case huge = random_case("cache-huge (coefficients released)", 800000, 800000, 1, true);
  const Outputs first = run_case(a, isa, 1);
  check_against_reference(a, first, isa_name(isa));
  for (const Case* c : {&b, &a, &nan, &a, &inner2, &rows, &big, &a, &huge, &big, &b, &a}) {
    for (int threads : {1, 2}) {
      const Outputs o = run_case(*c, isa, threads);
      check_against_reference(*c, o, isa_name(isa));
      if (c == &a) CHECK(identical(first, o), "cache: %s differs after other calls", c->name.c_str());
    }
  }
  // Repeated calls with the same parameters build their coefficients once
  // (run_case makes a forward and two backward calls: 3 per run), up to
  // kKeepBytes of them; past it, every call builds them again.
  for (const Case* c : {&a, &big, &huge}) {
    run_case(*c, isa, 1);
    const unsigned long long before = cpu_coefficient_builds();
    for (int k = 0; k < 3; ++k) run_case(*c, isa, 1 + k % 2);
    const unsigned long long builds = cpu_coefficient_builds() - before;
    CHECK(builds == (c == &huge ? 9u : 0u), "%s: %llu coefficient builds in 3 repeated runs", c->name.c_str(), builds);
  }
}

void test_determinism_thread_counts() {
  Case c = random_case("threads", (1 << 21) + 123, 1, 1, false);  // above both serial thresholds
  Case d = random_case("threads-nhwc", 64 * 32771, 64, 1, false);
  // Fewer period-mode groups than threads: groups split by channels (520
  // channels: parts rounded to 16 channels, super-rows of two periods and
  // a short last one; a 7x7 map at 512 channels, NCHW: one run of 49-slot
  // channel runs per part).
  Case e = random_case("threads-nhwc-c520-split", 520 * 1011, 520, 1, false);
  Case f = random_case("threads-nchw-7x7x512-split", 21 * 512 * 49, 512, 49, false);
  // 512 channels in two groups: parts of 256 or 128 channels (2 or 4
  // threads) run as 4-vector strips over a run of the super-row.
  Case h = random_case("threads-nhwc-c512-split-strips", 512 * 300, 512, 1, false);
  // Tile mode: 7x7 maps, three pieces of 334, 334 and 32 rows per channel,
  // split by channels when there are more threads than pieces.
  Case t = random_case("threads-nchw-7x7-tiles", 700 * 24 * 49, 24, 49, false);
  for (const Case* k : {&c, &d, &e, &f, &h, &t}) {
    const Outputs ref = run_case(*k, best_isa(), 1);
    for (int t : {2, 3, 4, 5, 8, 13, 16, 31, 32, 64}) {
      const Outputs o = run_case(*k, best_isa(), t);
      CHECK(identical(ref, o), "%s: %d threads differ from 1 thread", k->name.c_str(), t);
    }
  }
}

// Callers on several threads at once: small (serial) calls run on their
// callers without the pool's job lock, per-channel calls lease workspaces
// from a shared pool, and a large call uses the pool meanwhile. Each
// thread's results must equal a lone run's, bit for bit.
void test_concurrent_callers() {
  cpu_set_threads(2);
  const Case small = random_case("concurrent-scalar", 4099, 1, 1, false);
  const Case nhwc = random_case("concurrent-nhwc", 8 * 515, 8, 1, false);
  const Case nchw = random_case("concurrent-nchw", 3 * 8 * 300, 8, 300, false);
  const Case large = random_case("concurrent-large", (1 << 20) + 7, 1, 1, false);
  const Case* cases[] = {&small, &nhwc, &nchw, &large};
  auto run = [](const Case& c) {
    Outputs o;
    const size_t n = c.layout.n, C = c.layout.channels;
    o.y.assign(n, kPoison);
    o.dx.assign(n, kPoison);
    o.da.assign(C, 0.0);
    o.db.assign(C, 0.0);
    cpu_forward(c.x.data(), o.y.data(), c.layout, c.alpha.data(), c.beta.data());
    cpu_backward(c.x.data(), c.g.data(), o.dx.data(), c.layout, c.alpha.data(), c.beta.data(), o.da.data(),
                 o.db.data());
    return o;
  };
  std::vector<Outputs> ref;
  for (const Case* c : cases) ref.push_back(run(*c));
  constexpr int kThreads = 4, kRounds = 40;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        // Thread 0 also runs the large (parallel) case; the others stay small.
        const size_t k = t == 0 && r % 8 == 0 ? 3 : static_cast<size_t>((t + r) % 3);
        if (!identical(run(*cases[k]), ref[k])) ++mismatches[t];
      }
    });
  for (auto& th : ts) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(mismatches[t] == 0, "concurrent callers: thread %d had %d differing runs", t, mismatches[t]);
}

void test_in_place() {
  for (Isa isa : supported_isas()) {
    std::string err;
    select_isa(isa, &err);
    Case c = random_case("in-place", 70001, 1, 1, false);
    std::vector<float> y(c.x.size()), x = c.x;
    cpu_forward(c.x.data(), y.data(), c.layout, c.alpha.data(), c.beta.data());
    cpu_forward(x.data(), x.data(), c.layout, c.alpha.data(), c.beta.data());
    CHECK(std::memcmp(x.data(), y.data(), 4 * y.size()) == 0, "%s: in-place forward differs", isa_name(isa));
    std::vector<float> dx(c.x.size()), g = c.g;
    double a1, b1, a2, b2;
    cpu_backward(c.x.data(), c.g.data(), dx.data(), c.layout, c.alpha.data(), c.beta.data(), &a1, &b1);
    cpu_backward(c.x.data(), g.data(), g.data(), c.layout, c.alpha.data(), c.beta.data(), &a2, &b2);
    CHECK(std::memcmp(g.data(), dx.data(), 4 * dx.size()) == 0 && a1 == a2 && b1 == b2,
          "%s: backward in place over dy differs", isa_name(isa));
    // In place over x: the SIMD body reads x twice (float and widened
    // float64 loads); both must come before the store of dx.
    std::vector<float> x2 = c.x;
    cpu_backward(x2.data(), c.g.data(), x2.data(), c.layout, c.alpha.data(), c.beta.data(), &a2, &b2);
    CHECK(std::memcmp(x2.data(), dx.data(), 4 * dx.size()) == 0 && bits(a1) == bits(a2) && bits(b1) == bits(b2),
          "%s: backward in place over x differs", isa_name(isa));
    // Per channel (the period-mode kernel), in place over x and over dy.
    Case p = random_case("in-place-nhwc", 64 * 1001, 64, 1, false);
    std::vector<float> pdx(p.x.size()), px = p.x, pg = p.g;
    std::vector<double> pa1(64), pb1(64), pa2(64), pb2(64), pa3(64), pb3(64);
    cpu_backward(p.x.data(), p.g.data(), pdx.data(), p.layout, p.alpha.data(), p.beta.data(), pa1.data(), pb1.data());
    cpu_backward(px.data(), p.g.data(), px.data(), p.layout, p.alpha.data(), p.beta.data(), pa2.data(), pb2.data());
    cpu_backward(p.x.data(), pg.data(), pg.data(), p.layout, p.alpha.data(), p.beta.data(), pa3.data(), pb3.data());
    CHECK(px == pdx && pg == pdx && pa1 == pa2 && pb1 == pb2 && pa1 == pa3 && pb1 == pb3,
          "%s: per-channel backward in place differs", isa_name(isa));
  }
}

void test_layout_checks() {
  CHECK(!check_layout({12, 0, 1}).empty(), "0 channels must be rejected");
  CHECK(!check_layout({13, 3, 2}).empty(), "a length that is not a multiple must be rejected");
  CHECK(check_layout({12, 3, 2}).empty(), "a valid layout must pass");
  CHECK(!check_layout({12, SIZE_MAX / 2, 4}).empty(), "an overflowing period must be rejected");
}

void test_isa_parsing() {
  bool is_auto;
  Isa isa;
  CHECK(parse_isa("avx2", &is_auto, &isa) && isa == Isa::kAvx2 && !is_auto, "parse avx2");
  CHECK(parse_isa("auto", &is_auto, &isa) && is_auto, "parse auto");
  CHECK(parse_isa("neon", &is_auto, &isa) && isa == Isa::kNeon && !is_auto, "parse neon");
  CHECK(!parse_isa("sse9", &is_auto, &isa), "reject unknown ISA");
  CHECK(std::string(isa_name(Isa::kNeon)) == "neon", "name of neon");
#if defined(ARELU_X86)
  CHECK(!isa_supported(Isa::kNeon, nullptr), "neon must be unsupported on x86");
#endif
#if defined(ARELU_NEON)
  CHECK(isa_supported(Isa::kNeon, nullptr) && best_isa() == Isa::kNeon, "neon must be the best ISA on aarch64");
  CHECK(!isa_supported(Isa::kAvx2, nullptr) && !isa_supported(Isa::kAvx512, nullptr), "no x86 ISA on aarch64");
#endif
  for (Isa i : {Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    std::string err;
    if (!isa_supported(i, nullptr))
      CHECK(!select_isa(i, &err) && !err.empty(), "selecting unsupported %s must fail with a reason", isa_name(i));
  }
  for (Isa i : supported_isas()) {
    std::string err;
    CHECK(select_isa(i, &err) && current_isa() == i, "select %s", isa_name(i));
    const CpuKernels& k = current_kernels();
    std::string want = isa_name(i);
#if defined(ARELU_X86)
    if (i == Isa::kAvx512 && avx512_backward_width() == 256) want = "avx512 (256-bit backward)";
#endif
    CHECK(k.name == want, "the kernels in use must be '%s', not '%s'", want.c_str(), k.name);
#if defined(ARELU_X86)
    if (i == Isa::kAvx512) {
      const int w = avx512_backward_width();
      const CpuKernels& b = w == 256 ? kAvx512YmmKernels : kAvx512Kernels;
      CHECK((w == 256 || w == 512) && k.backward_uniform == b.backward_uniform && k.backward_rows == b.backward_rows &&
                k.backward_varying == kAvx512Kernels.backward_varying && k.forward_uniform == kAvx512Kernels.forward_uniform,
            "avx512: backward kernels of %d-bit vectors expected, table '%s'", w, k.name);
    }
#endif
  }
}

// Cross-platform bit identity, asserted: a digest of y, dx, dAlpha and dBeta
// over fixed cases, the same constant for every ISA, every thread count and
// every platform (computed on x86-64 with the scalar kernels; the arm64
// build under qemu and the NEON kernels must reproduce it). The inputs come
// from an integer generator (no <random> distributions, whose algorithms
// are the library's choice), and beta is 0 or 40, where sigmoid is exact
// whatever exp returns (s = 1/2, or 1 because exp(-40) < 2^-54): the digest
// tests the kernels and the reduction, not the platform's libm. NaNs in y
// and dx count as one value (which NaN operand an instruction propagates
// is not fixed across ISAs); the sums return one canonical NaN already.
constexpr uint64_t kCrossPlatformDigest = 0x8399aa4e5956add0ull;

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Mostly finite values of every magnitude class, and now and then an edge
// value; with `finite`, no infinities or NaNs (so that the sums are finite
// and their bits, not one NaN, enter the digest).
float digest_value(uint64_t& s, bool finite) {
  const uint64_t r = splitmix(s);
  const uint32_t kind = r & 63;
  static const float edges[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 3.4e38f, -3.4e38f, 1e-30f};
  static const float finite_edges[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 3.4e38f, -3.4e38f, 1e-30f};
  if (kind == 0) return finite ? finite_edges[(r >> 8) % 7] : edges[(r >> 8) % 10];
  // A float from an integer mantissa and exponent: exact on every platform.
  const int32_t mant = static_cast<int32_t>((r >> 8) & 0xffffff) - 0x800000;
  const int exp2 = static_cast<int>((r >> 40) % 40) - 30 - (kind == 1 ? 100 : 0);
  return std::ldexp(static_cast<float>(mant), exp2);
}

struct Fnv {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(uint64_t v) {
    for (int i = 0; i < 8; ++i) { h ^= (v >> (8 * i)) & 0xff; h *= 0x100000001b3ull; }
  }
};

uint64_t digest_cases(Isa isa, int threads) {
  Fnv f;
  uint64_t seed = 20261129;
  struct L { size_t outer, C, inner; bool finite; };
  // One channel (several 16K pieces and a tail), NCHW tiles, NHWC period
  // mode, and a small odd layout, with edge values everywhere (most sums
  // are NaN or infinite); then finite data, whose sums' bits count: one
  // channel, NCHW tiles (rows of 4099; a 4x4 map; 7x7 maps, two pieces per
  // channel), period mode over several groups (NHWC, and a 3x3 map), the
  // small odd layout.
  const L layouts[] = {{1, 1, 100003, false}, {3, 5, 4099, false}, {1001, 24, 1, false}, {7, 3, 5, false},
                       {1, 1, 100003, true},  {3, 5, 4099, true},  {3001, 24, 1, true},  {301, 64, 16, true},
                       {401, 3, 49, true},    {201, 16, 9, true},  {7, 3, 5, true}};
  for (const L& l : layouts) {
    Case c;
    c.name = "digest";
    c.layout = {l.outer * l.C * l.inner, l.C, l.inner};
    for (size_t i = 0; i < c.layout.n; ++i) {
      c.x.push_back(digest_value(seed, l.finite));
      c.g.push_back(digest_value(seed, l.finite));
    }
    for (size_t k = 0; k < l.C; ++k) {
      const uint64_t r = splitmix(seed);
      c.alpha.push_back(static_cast<float>(r % 1200) / 1000.0f - 0.1f);  // both sides of the window
      c.beta.push_back(r % 5 == 0 ? 40.0f : 0.0f);
    }
    const Outputs o = run_case(c, isa, threads);
    if (l.finite)
      for (size_t k = 0; k < o.da.size(); ++k)
        CHECK(std::isfinite(o.da[k]) && std::isfinite(o.db[k]), "digest: finite data, channel %zu: sums %g %g", k,
              o.da[k], o.db[k]);
    auto fb = [](float v) { return std::isnan(v) ? uint64_t(0x7fc00000) : uint64_t(bits(v)); };
    for (size_t i = 0; i < o.y.size(); ++i) f.add(fb(o.y[i]) << 32 | fb(o.dx[i]));
    for (size_t k = 0; k < o.da.size(); ++k) {
      f.add(bits(o.da[k]));
      f.add(bits(o.db[k]));
    }
  }
  return f.h;
}

void test_cross_platform_digest() {
  for (Isa isa : supported_isas())
    for (int t : {1, 3}) {
      const uint64_t d = digest_cases(isa, t);
      if (isa == Isa::kScalar && t == 1) std::printf("cross-platform digest (%s): 0x%016llx\n", isa_name(isa), static_cast<unsigned long long>(d));
      CHECK(d == kCrossPlatformDigest, "%s with %d threads: digest 0x%016llx, want 0x%016llx", isa_name(isa), t,
            static_cast<unsigned long long>(d), static_cast<unsigned long long>(kCrossPlatformDigest));
    }
}

}  // namespace

int main() {
  std::printf("ISAs supported here:");
  for (Isa i : supported_isas()) std::printf(" %s", isa_name(i));
  std::printf("\n");
#if defined(ARELU_X86)
  if (isa_supported(Isa::kAvx512, nullptr))
    std::printf("avx512 backward on %d-bit vectors (ARELU_AVX512_BACKWARD)\n", avx512_backward_width());
#endif
  test_layout_checks();
  test_isa_parsing();
  test_edge_cases();
  test_nan_propagation();
  test_nan_payloads_and_zeros();
  test_random_scalar();
  test_per_channel();
  test_coefficient_cache();
  test_determinism_thread_counts();
  test_concurrent_callers();
  test_in_place();
  test_cross_platform_digest();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
