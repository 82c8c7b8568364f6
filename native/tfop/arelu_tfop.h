// AReLU and its gradient as TensorFlow ops with CPU kernels, registered at run
// time in the TensorFlow runtime that tfjs-node loaded, through TF's C API
// found with dlopen(RTLD_NOLOAD)/dlsym: no link to TensorFlow, no TF headers.
// The kernels call the core driver (arelu_cpu.h), so their results are
// bit-identical to arelu.forward/backward. No Node headers here.
#pragma once

#include <string>
#include <vector>

namespace arelu_tfop {

// Op names: unique to this package and versioned with the op's contract.
//   NpmAreluForwardV1(x, alpha, beta) -> y
//   NpmAreluGradV1(x, dy, alpha, beta) -> (dx, dalpha, dbeta)
// alpha and beta have 1 or C elements (C: the size of x's last axis; rank <= 1).
constexpr const char* kForwardOp = "NpmAreluForwardV1";
constexpr const char* kGradOp = "NpmAreluGradV1";

struct Registration {
  bool ok = false;
  // Why the TF-op path is (not) active, in one sentence.
  std::string reason;
  // The TensorFlow libraries found in the process (paths).
  std::vector<std::string> libraries;
  // True when the ops were already in TF's registry (another copy of the
  // package registered them) and were reused.
  bool reused = false;
};

// Registers both ops and their CPU kernels once per process (later calls
// return the first result). Never throws, never aborts: a missing library or
// symbol, or a failed registration, is a reason in the result.
Registration register_ops();

}  // namespace arelu_tfop
