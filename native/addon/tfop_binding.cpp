// N-API side of the TF-op path: only translates native/tfop's result.
#include "tfop_binding.h"

#include "../tfop/arelu_tfop.h"

namespace arelu_addon {
namespace {

// register() -> { ok, reason, reused, libraries: string[] }; never throws
// for a missing or incomplete TensorFlow: that is a reason.
Napi::Value RegisterOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const arelu_tfop::Registration r = arelu_tfop::register_ops();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", r.ok);
  o.Set("reason", r.reason);
  o.Set("reused", r.reused);
  Napi::Array libs = Napi::Array::New(env, r.libraries.size());
  for (size_t i = 0; i < r.libraries.size(); ++i) libs.Set(static_cast<uint32_t>(i), r.libraries[i]);
  o.Set("libraries", libs);
  return o;
}

}  // namespace

void InitTfop(Napi::Env env, Napi::Object exports) {
  Napi::Object tfop = Napi::Object::New(env);
  tfop.Set("register", Napi::Function::New(env, RegisterOps, "register"));
  tfop.Set("forwardOp", arelu_tfop::kForwardOp);
  tfop.Set("gradOp", arelu_tfop::kGradOp);
  exports.Set("tfop", tfop);
}

}  // namespace arelu_addon
