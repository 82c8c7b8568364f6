// AVX2 + FMA kernels. Compiled with -mavx2 -mfma; only called after CPUID
// and XGETBV say the CPU and OS support them.
#include <immintrin.h>

#include "kernels_simd_body.h"
#include "kernels_ymm_ops.h"

namespace arelu {
namespace {

struct Avx2 : YmmOps {
  static constexpr size_t kPrefetchAhead = simd::kPrefetchAhead;
  static constexpr int kRegisters = 16;
  // g * (x's sign bit set ? a : b), except x = +-0 or NaN: x - x (+0 for
  // +-0, NaN for NaN). blendv selects on the sign bit alone, so -Inf takes
  // a and +Inf takes b, as x < 0 / x > 0 do. 5 operations instead of 7.
  static F dx(F x, F g, F a, F b) {
    const F t = mul(g, _mm256_blendv_ps(b, a, x));
    const F zero_or_nan = _mm256_cmp_ps(x, zero(), _CMP_EQ_UQ);
    return _mm256_blendv_ps(t, _mm256_sub_ps(x, x), zero_or_nan);
  }
};

}  // namespace

const CpuKernels kAvx2Kernels = simd::make_kernels<Avx2>("avx2");

}  // namespace arelu
