// The N-API binding: translate and check arguments into a plain CpuCall,
// run it (now, or on a libuv thread for the *Async forms), convert results.
// No math here. Context-aware: no per-process JS state, so the module loads
// in any number of worker_threads.
#include <napi.h>

#include <cstdlib>
#include <string>
#include <vector>
#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#endif

#include "../core/arelu_cpu.h"
#include "../core/cpu_dispatch.h"
#include "args.h"
#include "cuda_binding.h"
#include "tfop_binding.h"

namespace arelu_addon {
namespace {

struct CpuCall {
  bool backward = false;
  const float* x = nullptr;
  const float* g = nullptr;
  float* out = nullptr;
  arelu::Layout layout;
  ParamArray alpha, beta;
  double* sums = nullptr;  // backward: [dAlpha x channels, dBeta x channels]

  void run() const {
    if (!backward) {
      arelu::cpu_forward(x, out, layout, alpha.data(), beta.data());
    } else {
      arelu::cpu_backward(x, g, out, layout, alpha.data(), beta.data(), sums,
                          sums + layout.channels);
    }
  }
};

// The arrays every CPU entry starts with, x, (dy,) out: Float32Arrays of one
// length, out exactly x (or dy) or apart from them. `next` is the index of
// the argument after them.
CpuCall array_args(const Napi::CallbackInfo& info, bool backward, size_t* next) {
  Napi::Env env = info.Env();
  CpuCall call;
  call.backward = backward;
  size_t i = 0;
  const F32View x = float32_arg(info, i++, "x");
  F32View g;
  if (backward) {
    g = float32_arg(info, i++, "dy");
    check_same_length(env, x, "x", g, "dy");
  }
  const F32View out = float32_arg(info, i++, "out");
  check_same_length(env, x, "x", out, "out");
  check_no_partial_overlap(env, out, x, "x");
  if (backward) check_no_partial_overlap(env, out, g, "dy");
  call.x = x.data;
  call.g = g.data;
  call.out = out.data;
  call.layout.n = x.length;
  *next = i;
  return call;
}

// Backward's output for the parameter sums: a Float64Array of 2 * channels.
double* sums_arg(const Napi::CallbackInfo& info, size_t i, size_t channels) {
  const F64View sums = float64_arg(info, i, "sums");
  if (sums.length != 2 * channels) throw_range(info.Env(), "Expected sums to have 2 * channels values");
  return sums.data;
}

// forward(x, out, alpha, beta, channels, inner)
// backward(x, dy, out, alpha, beta, channels, inner, sums)
// Synchronous calls (`async` false) view per-channel parameters in place.
CpuCall parse_call(const Napi::CallbackInfo& info, bool backward, bool async) {
  size_t i = 0;
  CpuCall call = array_args(info, backward, &i);
  const size_t alpha_i = i++, beta_i = i++;
  call.layout.channels = count_arg(info, i++, "channels");
  call.layout.inner = count_arg(info, i++, "inner");
  const std::string bad = arelu::check_layout(call.layout);
  if (!bad.empty()) throw_range(info.Env(), "Invalid layout for x: " + bad);
  call.alpha = param_array_arg(info, alpha_i, "alpha", call.layout.channels, async);
  call.beta = param_array_arg(info, beta_i, "beta", call.layout.channels, async);
  if (backward) call.sums = sums_arg(info, i++, call.layout.channels);
  return call;
}

// forwardScalar(x, out, alpha, beta) and backwardScalar(x, dy, out, alpha,
// beta, sums): the synchronous calls with one alpha and one beta, lib/'s
// fast paths. At most six arguments, because node-addon-api allocates the
// argument list on the heap past six, and no layout to parse. About 0.1 us
// less per backward call than the general entry (bench/call-cost.js,
// bench/RESULTS.md "Fourth session").
CpuCall parse_scalar_call(const Napi::CallbackInfo& info, bool backward) {
  size_t i = 0;
  CpuCall call = array_args(info, backward, &i);
  call.alpha.one = number_arg(info, i++, "alpha");
  call.beta.one = number_arg(info, i++, "beta");
  if (backward) call.sums = sums_arg(info, i, 1);
  return call;
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  parse_call(info, false, false).run();
  return info.Env().Undefined();
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  parse_call(info, true, false).run();
  return info.Env().Undefined();
}

Napi::Value ForwardScalar(const Napi::CallbackInfo& info) {
  parse_scalar_call(info, false).run();
  return info.Env().Undefined();
}

Napi::Value BackwardScalar(const Napi::CallbackInfo& info) {
  parse_scalar_call(info, true).run();
  return info.Env().Undefined();
}

// Runs a CpuCall on a libuv worker thread. The JS arrays are held by
// references so the collector keeps them (and their memory) alive.
class CpuWorker : public Napi::AsyncWorker {
 public:
  CpuWorker(const Napi::CallbackInfo& info, CpuCall call)
      : Napi::AsyncWorker(info.Env(), "arelu:cpu"),
        call_(std::move(call)),
        deferred_(Napi::Promise::Deferred::New(info.Env())) {
    for (size_t i = 0; i < info.Length(); ++i)
      if (info[i].IsObject()) refs_.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      call_.run();
    } catch (const std::bad_alloc&) {
      SetError("arelu: out of host memory for scratch buffers");
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  CpuCall call_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> refs_;
};

Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
  auto* w = new CpuWorker(info, parse_call(info, false, true));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  auto* w = new CpuWorker(info, parse_call(info, true, true));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// parallelCopy(dst, src): the bandwidth baseline, on the addon's pool.
Napi::Value ParallelCopy(const Napi::CallbackInfo& info) {
  const F32View dst = float32_arg(info, 0, "dst");
  const F32View src = float32_arg(info, 1, "src");
  check_same_length(info.Env(), src, "src", dst, "dst");
  check_no_partial_overlap(info.Env(), dst, src, "src");
  if (dst.data != src.data) arelu::cpu_parallel_copy(dst.data, src.data, dst.length * sizeof(float));
  return info.Env().Undefined();
}

// isDetached(view): a zero-length view may sit on a detached buffer; JS
// cannot tell on Node 20 (no ArrayBuffer.prototype.detached).
Napi::Value IsDetached(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw_type(info.Env(), "Expected TypedArray");
  return Napi::Boolean::New(info.Env(), info[0].As<Napi::TypedArray>().ArrayBuffer().IsDetached());
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const size_t n = count_arg(info, 0, "threads");
  if (n > static_cast<size_t>(arelu::kMaxThreads))
    throw_range(info.Env(), "Expected threads to be at most " + std::to_string(arelu::kMaxThreads));
  arelu::cpu_set_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type(env, "Expected string for isa");
  const std::string name = info[0].As<Napi::String>();
  bool is_auto = false;
  arelu::Isa isa = arelu::Isa::kScalar;
  if (!arelu::parse_isa(name, &is_auto, &isa))
    throw_range(env, "Expected one of scalar, avx2, avx512, neon, auto for isa but received '" + name + "'");
  if (is_auto) isa = arelu::best_isa();
  std::string error;
  if (!arelu::select_isa(isa, &error)) {
    Napi::Error e = Napi::Error::New(env, error);
    e.Set("code", Napi::String::New(env, "ERR_ARELU_ISA"));
    throw e;
  }
  return Napi::String::New(env, arelu::isa_name(isa));
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", arelu::isa_name(arelu::current_isa()));
  o.Set("cpuKernels", arelu::current_kernels().name);
  Napi::Array supported = Napi::Array::New(env);
  uint32_t k = 0;
  for (arelu::Isa isa : {arelu::Isa::kScalar, arelu::Isa::kAvx2, arelu::Isa::kAvx512, arelu::Isa::kNeon})
    if (arelu::isa_supported(isa, nullptr)) supported.Set(k++, arelu::isa_name(isa));
  o.Set("isasSupported", supported);
  o.Set("bestIsa", arelu::isa_name(arelu::best_isa()));
  o.Set("threads", arelu::cpu_threads());
  Napi::Object serial = Napi::Object::New(env);
  serial.Set("forward", static_cast<double>(arelu::kSerialBelowForward));
  serial.Set("backward", static_cast<double>(arelu::kSerialBelowBackward));
  o.Set("serialBelow", serial);
  Napi::Object idle = Napi::Object::New(env);
  idle.Set("forward", static_cast<double>(arelu::cpu_idle_serial_below_forward()));
  idle.Set("backward", static_cast<double>(arelu::cpu_idle_serial_below_backward()));
  o.Set("idleSerialBelow", idle);
  o.Set("parallelJobs", static_cast<double>(arelu::cpu_parallel_jobs()));
  o.Set("spinUs", arelu::cpu_spin_us());
  return o;
}

// An environment variable that must be an integer in [lo, hi] when set: a
// RangeError at load otherwise (the core falls back to its default silently).
void check_env_integer(Napi::Env env, const char* name, long lo, long hi, const std::string& expected,
                       const char* code) {
  const char* t = std::getenv(name);
  if (t == nullptr) return;
  char* end = nullptr;
  const long v = std::strtol(t, &end, 10);
  if (end != t && *end == '\0' && v >= lo && v <= hi) return;
  Napi::RangeError e = Napi::RangeError::New(
      env, std::string("arelu: ") + name + " must be " + expected + "; got '" + t + "'");
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#ifdef _WIN32
  // Never unloaded (CMakeLists.txt says why; Linux marks the library
  // nodelete): the pool's threads run this module's code for the life of
  // the process, also after the last environment that loaded it is gone.
  HMODULE self = nullptr;
  (void)GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                           reinterpret_cast<LPCWSTR>(&Init), &self);
#endif
  std::string error;
  if (!arelu::init_isa_from_env(&error)) {
    Napi::Error e = Napi::Error::New(env, "arelu: " + error);
    e.Set("code", Napi::String::New(env, "ERR_ARELU_ISA"));
    throw e;
  }
  const std::string max_threads = std::to_string(arelu::kMaxThreads), max_spin = std::to_string(arelu::kMaxSpinUs);
  check_env_integer(env, "ARELU_NUM_THREADS", 1, arelu::kMaxThreads,
                    "a positive integer (at most " + max_threads + ")", "ERR_ARELU_THREADS");
  check_env_integer(env, "ARELU_SPIN_US", 0, arelu::kMaxSpinUs,
                    "an integer from 0 to " + max_spin + " (microseconds)", "ERR_ARELU_SPIN");
  exports.Set("forward", Napi::Function::New(env, Forward, "forward"));
  exports.Set("backward", Napi::Function::New(env, Backward, "backward"));
  exports.Set("forwardScalar", Napi::Function::New(env, ForwardScalar, "forwardScalar"));
  exports.Set("backwardScalar", Napi::Function::New(env, BackwardScalar, "backwardScalar"));
  exports.Set("forwardAsync", Napi::Function::New(env, ForwardAsync, "forwardAsync"));
  exports.Set("backwardAsync", Napi::Function::New(env, BackwardAsync, "backwardAsync"));
  exports.Set("parallelCopy", Napi::Function::New(env, ParallelCopy, "parallelCopy"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached, "isDetached"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  InitCuda(env, exports);
  InitTfop(env, exports);
  return exports;
}

}  // namespace arelu_addon

static Napi::Object InitArelu(Napi::Env env, Napi::Object exports) {
  return arelu_addon::Init(env, exports);
}

NODE_API_MODULE(arelu, InitArelu)
