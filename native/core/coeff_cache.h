// The coefficients of every channel, kept with the parameter bits they
// were made from: a per-channel call with the same alpha and beta bits as
// the last one skips make_coeffs (an exp per channel). Host code only;
// used by the CPU path's workspaces and by each CUDA device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "arelu_math.h"

namespace arelu {

struct CoeffCache {
  std::vector<uint32_t> key;  // alpha's bits, then beta's, of `co`
  std::vector<Coeffs> co;

  // Makes `co` for these parameters unless it holds them already; true
  // when it made them.
  bool update(size_t channels, const float* alpha, const float* beta) {
    const size_t bytes = channels * sizeof(float);
    if (co.size() == channels && key.size() == 2 * channels && std::memcmp(key.data(), alpha, bytes) == 0 &&
        std::memcmp(key.data() + channels, beta, bytes) == 0)
      return false;
    co.resize(channels);
    key.resize(2 * channels);
    std::memcpy(key.data(), alpha, bytes);
    std::memcpy(key.data() + channels, beta, bytes);
    for (size_t c = 0; c < channels; ++c) co[c] = make_coeffs(alpha[c], beta[c]);
    return true;
  }
};

}  // namespace arelu
