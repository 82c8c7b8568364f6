#include "cpu_dispatch.h"

#include <atomic>
#include <cstdlib>

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
  bool avx512f = false;
};

unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16);
  f.avx2_fma = os_ymm && avx2 && fma;
  f.avx512f = f.avx2_fma && os_zmm && avx512f;
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}
#endif

std::atomic<int> g_isa{-1};

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
    const bool ok = isa == Isa::kAvx2 ? features().avx2_fma : features().avx512f;
    if (!ok && why)
      *why = std::string("this CPU (or its OS) does not support ") +
             (isa == Isa::kAvx2 ? "AVX2+FMA" : "AVX-512F");
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

const CpuKernels& kernels_for(Isa isa) {
#if defined(ARELU_X86)
  if (isa == Isa::kAvx512) return kAvx512Kernels;
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
