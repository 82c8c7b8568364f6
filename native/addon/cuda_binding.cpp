// Placeholder until the CUDA path lands: every GPU entry point reports that
// CUDA is not compiled in, with ERR_ARELU_NO_CUDA.
#include "cuda_binding.h"

namespace arelu_addon {
namespace {

Napi::Value NotCompiled(const Napi::CallbackInfo& info) {
  Napi::Error e = Napi::Error::New(info.Env(), "arelu: CUDA support is not compiled into this build");
  e.Set("code", Napi::String::New(info.Env(), "ERR_ARELU_NO_CUDA"));
  e.Set("reason", Napi::String::New(info.Env(), "not compiled"));
  throw e;
}

Napi::Value Status(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("compiled", false);
  o.Set("available", false);
  o.Set("reason", "CUDA support is not compiled into this build");
  o.Set("deviceCount", 0);
  return o;
}

}  // namespace

void InitCuda(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("status", Napi::Function::New(env, Status, "status"));
  for (const char* name : {"devices", "upload", "alloc"})
    cuda.Set(name, Napi::Function::New(env, NotCompiled, name));
  exports.Set("cuda", cuda);
}

}  // namespace arelu_addon
