// The `cuda` part of the binding (DeviceBuffer, GPU forward/backward,
// device queries). Implemented in cuda_binding.cpp; when the addon is built
// without CUDA the same functions exist and report ERR_ARELU_NO_CUDA.
#pragma once

#include <napi.h>

namespace arelu_addon {

// Adds `cuda` (an object of functions) to exports.
void InitCuda(Napi::Env env, Napi::Object exports);

}  // namespace arelu_addon
