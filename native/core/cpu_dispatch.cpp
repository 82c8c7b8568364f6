#include "cpu_dispatch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(ARELU_X86)
#include <cpuid.h>
#endif
#if defined(ARELU_NEON) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace arelu {
namespace {

#if defined(ARELU_X86)
struct CpuFeatures {
  bool avx2_fma = false;
  bool avx512 = false;     // F and VL (every AVX-512 CPU but Xeon Phi has VL)
  bool split_512 = false;  // 512-bit operations run as two 256-bit halves
};

unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const unsigned base_family = (a >> 8) & 0xf;
  const unsigned family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512vl = b & (1u << 31);
  f.avx2_fma = os_ymm && avx2 && fma;
  f.avx512 = f.avx2_fma && os_zmm && avx512f && avx512vl;
  // AMD family 19h: Zen 3 (no AVX-512) and Zen 4, the one whose AVX-512
  // units are 256 bits wide. Family 1Ah (Zen 5) has full-width units in
  // its server and desktop parts: it keeps the 512-bit kernels (unmeasured).
  f.split_512 = f.avx512 && std::strcmp(vendor, "AuthenticAMD") == 0 && family == 0x19;
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}
#endif

std::atomic<int> g_isa{-1};

// ARELU_AVX512_BACKWARD: "256" or "512" forces the backward kernels' vector
// width on AVX-512; unset or "auto" chooses by CPU. -1 when invalid.
int avx512_backward_env() {
  const char* e = std::getenv("ARELU_AVX512_BACKWARD");
  if (e == nullptr || *e == 0 || std::strcmp(e, "auto") == 0) return 0;
  if (std::strcmp(e, "256") == 0) return 256;
  if (std::strcmp(e, "512") == 0) return 512;
  return -1;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
    default: return "scalar";
  }
}

bool parse_isa(const std::string& s, bool* is_auto, Isa* isa) {
  *is_auto = false;
  if (s == "auto" || s.empty()) { *is_auto = true; return true; }
  if (s == "scalar") { *isa = Isa::kScalar; return true; }
  if (s == "avx2") { *isa = Isa::kAvx2; return true; }
  if (s == "avx512") { *isa = Isa::kAvx512; return true; }
  if (s == "neon") { *isa = Isa::kNeon; return true; }
  return false;
}

bool isa_supported(Isa isa, std::string* why) {
  if (isa == Isa::kScalar) return true;
#if defined(ARELU_X86)
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512) {
    const bool ok = isa == Isa::kAvx2 ? features().avx2_fma : features().avx512;
    if (!ok && why)
      *why = std::string("this CPU (or its OS) does not support ") +
             (isa == Isa::kAvx2 ? "AVX2+FMA" : "AVX-512F+VL");
    return ok;
  }
#endif
#if defined(ARELU_NEON)
  if (isa == Isa::kNeon) {
#if defined(__linux__) && defined(HWCAP_ASIMD)
    // Advanced SIMD is in every AArch64 CPU Linux runs on; ask anyway.
    const bool ok = (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
    if (!ok && why) *why = "this CPU does not report Advanced SIMD (HWCAP_ASIMD)";
    return ok;
#else
    return true;
#endif
  }
#endif
  if (why) *why = std::string(isa_name(isa)) + " kernels are not built on this architecture";
  return false;
}

Isa best_isa() {
  if (isa_supported(Isa::kAvx512, nullptr)) return Isa::kAvx512;
  if (isa_supported(Isa::kAvx2, nullptr)) return Isa::kAvx2;
  if (isa_supported(Isa::kNeon, nullptr)) return Isa::kNeon;
  return Isa::kScalar;
}

int avx512_backward_width() {
#if defined(ARELU_X86)
  static const int w = [] {
    const int e = avx512_backward_env();
    return e > 0 ? e : features().split_512 ? 256 : 512;
  }();
  return w;
#else
  return 0;
#endif
}

const CpuKernels& kernels_for(Isa isa) {
#if defined(ARELU_X86)
  // On Zen 4 (split_512) the scalar-parameter and row backward kernels take
  // 0.81-0.89x the time on 8-float vectors, the tile kernel 0.94x; the
  // period-mode one keeps its accumulators in registers only with 16-float
  // vectors, and forward is no faster on 8 (bench/RESULTS.md, "Eleventh
  // session", "Thirteenth session").
  static const CpuKernels kAvx512Backward256 = [] {
    CpuKernels k = kAvx512Kernels;
    k.name = "avx512 (256-bit backward)";
    k.backward_uniform = kAvx512YmmKernels.backward_uniform;
    k.backward_rows = kAvx512YmmKernels.backward_rows;
    k.backward_tile = kAvx512YmmKernels.backward_tile;
    return k;
  }();
  if (isa == Isa::kAvx512) return avx512_backward_width() == 256 ? kAvx512Backward256 : kAvx512Kernels;
  if (isa == Isa::kAvx2) return kAvx2Kernels;
#endif
#if defined(ARELU_NEON)
  if (isa == Isa::kNeon) return kNeonKernels;
#endif
  (void)isa;
  return kScalarKernels;
}

bool select_isa(Isa isa, std::string* error) {
  std::string why;
  if (!isa_supported(isa, &why)) {
    if (error) *error = std::string("cannot use CPU ISA '") + isa_name(isa) + "': " + why;
    return false;
  }
  g_isa.store(static_cast<int>(isa));
  return true;
}

bool init_isa_from_env(std::string* error) {
  const char* env = std::getenv("ARELU_CPU_ISA");
  bool is_auto = true;
  Isa isa = Isa::kScalar;
  if (env && !parse_isa(env, &is_auto, &isa)) {
    if (error)
      *error = std::string("ARELU_CPU_ISA must be one of scalar, avx2, avx512, neon, auto; got '") +
               env + "'";
    return false;
  }
  if (is_auto) isa = best_isa();
  if (avx512_backward_env() < 0) {
    if (error)
      *error = std::string("ARELU_AVX512_BACKWARD must be one of 256, 512, auto; got '") +
               std::getenv("ARELU_AVX512_BACKWARD") + "'";
    return false;
  }
  std::string why;
  if (!isa_supported(isa, &why)) {
    if (error) *error = std::string("ARELU_CPU_ISA=") + env + ": " + why;
    return false;
  }
  // Every addon instance (main thread, worker_threads) validates the
  // variable, but only the first sets the process-wide choice.
  int unset = -1;
  g_isa.compare_exchange_strong(unset, static_cast<int>(isa));
  return true;
}

Isa current_isa() {
  int v = g_isa.load();
  if (v < 0) {
    v = static_cast<int>(best_isa());
    g_isa.store(v);
  }
  return static_cast<Isa>(v);
}

const CpuKernels& current_kernels() { return kernels_for(current_isa()); }

}  // namespace arelu
