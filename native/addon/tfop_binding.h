// The `tfop` part of the binding: registers AReLU as TensorFlow ops in the
// TensorFlow runtime tfjs-node loaded (native/tfop) and says why or why not.
#pragma once

#include <napi.h>

namespace arelu_addon {

// Adds `tfop` ({ register(), forwardOp, gradOp }) to exports.
void InitTfop(Napi::Env env, Napi::Object exports);

}  // namespace arelu_addon
