// Runtime choice of the CPU kernels: CPUID + XGETBV pick the best ISA the
// CPU and the OS support on x86 (NEON on aarch64, where the build has it); ARELU_CPU_ISA forces one (an unsupported request is
// an error, never a silent fallback).
#pragma once

#include <string>

#include "cpu_kernels.h"

namespace arelu {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };

const char* isa_name(Isa isa);
// Parses "scalar" | "avx2" | "avx512" | "neon" | "auto"; false for anything else.
bool parse_isa(const std::string& s, bool* is_auto, Isa* isa);
// Whether this build contains the ISA and this CPU/OS can run it.
bool isa_supported(Isa isa, std::string* why);
Isa best_isa();
const CpuKernels& kernels_for(Isa isa);
// The vector width of the backward kernels kernels_for(kAvx512) returns:
// 256 on CPUs that split 512-bit operations in two (AMD Zen 4), else 512;
// ARELU_AVX512_BACKWARD=256|512 forces one. 0 on non-x86 builds.
int avx512_backward_width();

// The process-wide selection, initialized from ARELU_CPU_ISA on first use.
// select_isa returns false (and explains) when the ISA cannot run here.
bool init_isa_from_env(std::string* error);
bool select_isa(Isa isa, std::string* error);
Isa current_isa();
const CpuKernels& current_kernels();

}  // namespace arelu
