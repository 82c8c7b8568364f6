// The `cuda` part of the binding: device queries, DeviceBuffer handles and
// the GPU forward/backward. It translates arguments into calls of the plain
// C++ API in native/cuda/arelu_cuda.h and CUDA's status codes into JS errors:
//   ERR_ARELU_NO_CUDA  not compiled in, no driver, no device (with `reason`)
//   ERR_ARELU_CUDA     a CUDA failure, with CUDA's error name (`cudaError`)
//   ERR_ARELU_FREED    a freed DeviceBuffer
// Handles are plain objects tagged with napi_type_tag, so an object that
// merely looks like one is rejected with a TypeError. Built without CUDA
// (ARELU_WITH_CUDA undefined), the same functions exist and report
// ERR_ARELU_NO_CUDA with reason "not compiled".
#include "cuda_binding.h"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"

#if ARELU_WITH_CUDA
#include "../core/arelu_cpu.h"
#include "../cuda/arelu_cuda.h"
#if ARELU_CUDA_EMU
#include <cuda_runtime.h>  // the CPU stand-in (test/cuda-emu), for EmuCurrentDevice only
#endif
#endif

namespace arelu_addon {
namespace {

[[noreturn]] void throw_no_cuda(Napi::Env env, const std::string& reason) {
  Napi::Error e = Napi::Error::New(env, "arelu: CUDA is not available: " + reason);
  e.Set("code", Napi::String::New(env, "ERR_ARELU_NO_CUDA"));
  e.Set("reason", Napi::String::New(env, reason));
  throw e;
}

#if !ARELU_WITH_CUDA

const char kNotCompiled[] =
    "not compiled (this build of arelu has no CUDA support; rebuild it with the CUDA toolkit's "
    "nvcc on PATH, or with ARELU_CUDA=ON to make a missing toolkit an error)";

const char* const kFunctions[] = {"devices", "memInfo", "alloc", "upload", "download", "downloadAsync",
                                  "free", "isFreed", "forward", "backward", "forwardAsync",
                                  "backwardAsync", "copy", "synchronize", "eventRecord", "eventElapsed"};

Napi::Value NotCompiled(const Napi::CallbackInfo& info) { throw_no_cuda(info.Env(), kNotCompiled); }

Napi::Value Status(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("compiled", false);
  o.Set("available", false);
  o.Set("reason", kNotCompiled);
  o.Set("deviceCount", 0);
  return o;
}

}  // namespace

void InitCuda(Napi::Env env, Napi::Object exports) {
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("status", Napi::Function::New(env, Status, "status"));
  for (const char* name : kFunctions) cuda.Set(name, Napi::Function::New(env, NotCompiled, name));
  exports.Set("cuda", cuda);
}

}  // namespace arelu_addon

#else  // ARELU_WITH_CUDA

std::string version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// The oldest driver this build's runtime runs on (minor-version
// compatibility: any driver of the runtime's major CUDA version).
std::string required_driver() {
  const int major = arelu_cuda::probe().runtime_version / 1000;
  const char* branch = major >= 13 ? "R580" : major == 12 ? "R525" : major == 11 ? "R450" : "?";
  return "CUDA " + std::to_string(major) + ".0 or newer (NVIDIA driver " + branch + " or newer)";
}

// Why CUDA cannot be used, or "" when it can.
std::string unavailable_reason() {
  const arelu_cuda::Probe& p = arelu_cuda::probe();
  if (p.error == 0) return "";
  const std::string name = arelu_cuda::error_name(p.error);
  const std::string rt = "CUDA runtime " + version_string(p.runtime_version);
  switch (p.error) {
    case 35:  // cudaErrorInsufficientDriver
      return p.driver_version == 0
                 ? "CUDA driver missing or too old (" + name + "): no NVIDIA driver found; this build's " + rt +
                       " needs a driver for " + required_driver()
                 : "CUDA driver missing or too old (" + name + "): the driver supports CUDA " +
                       version_string(p.driver_version) + ", this build's " + rt + " needs " + required_driver();
    case 100:  // cudaErrorNoDevice
      return "no CUDA device found (" + name + ")";
    case 34:  // cudaErrorStubLibrary
      return "CUDA driver missing (" + name + "): only the stub libcuda is installed";
    default:
      return "CUDA initialisation failed (" + name + ": " + arelu_cuda::error_string(p.error) + ")";
  }
}

void require_cuda(Napi::Env env) {
  const std::string why = unavailable_reason();
  if (!why.empty()) throw_no_cuda(env, why);
}

Napi::Error cuda_error(Napi::Env env, int err, const std::string& what) {
  const std::string name = arelu_cuda::error_name(err);
  Napi::Error e =
      Napi::Error::New(env, "arelu: CUDA error " + name + " (" + arelu_cuda::error_string(err) + ") in " + what);
  e.Set("code", Napi::String::New(env, "ERR_ARELU_CUDA"));
  e.Set("cudaError", Napi::String::New(env, name));
  return e;
}

[[noreturn]] void throw_cuda(Napi::Env env, int err, const std::string& what) { throw cuda_error(env, err, what); }

// ---- DeviceBuffer handles ------------------------------------------------------------

struct DevBuf {
  int device = 0;
  void* ptr = nullptr;
  size_t length = 0;  // float32 elements
  bool freed = false;
};

constexpr napi_type_tag kDevBufTag = {0x6172656c75646576ULL, 0x6275660000000001ULL};

void finalize_buf(napi_env, void* data, void*) {
  auto* b = static_cast<DevBuf*>(data);
  // A buffer the user forgot to free. Errors cannot be reported from here.
  if (!b->freed) (void)arelu_cuda::buffer_free(b->device, b->ptr);
  delete b;
}

Napi::Object make_handle(Napi::Env env, int device, void* ptr, size_t length) {
  Napi::Object o = Napi::Object::New(env);
  auto* b = new DevBuf{device, ptr, length, false};
  napi_status st = napi_wrap(env, o, b, finalize_buf, nullptr, nullptr);
  if (st != napi_ok) {
    (void)arelu_cuda::buffer_free(device, ptr);
    delete b;
    NAPI_THROW_IF_FAILED(env, st, o);
  }
  o.TypeTag(&kDevBufTag);
  return o;
}

// The DeviceBuffer behind argument i; a freed one is ERR_ARELU_FREED unless
// allow_freed.
DevBuf* buf_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool allow_freed = false) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsObject() || !info[i].As<Napi::Object>().CheckTypeTag(&kDevBufTag))
    throw_type(env, std::string("Expected a DeviceBuffer handle for ") + name);
  void* data = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_unwrap(env, info[i], &data), nullptr);
  auto* b = static_cast<DevBuf*>(data);
  if (b->freed && !allow_freed) {
    Napi::Error e = Napi::Error::New(env, std::string("Expected a live DeviceBuffer for ") + name + " but it was freed");
    e.Set("code", Napi::String::New(env, "ERR_ARELU_FREED"));
    throw e;
  }
  return b;
}

int device_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) throw_type(env, "Expected non-negative integer for device");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  const int count = arelu_cuda::probe().device_count;
  if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d >= count)
    throw_range(env, "Expected a device index below " + std::to_string(count) + " for device but received " +
                         std::to_string(d));
  return static_cast<int>(d);
}

// ---- calls ---------------------------------------------------------------------------------

Napi::Value Status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const arelu_cuda::Probe& p = arelu_cuda::probe();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", true);
  o.Set("available", p.error == 0);
  o.Set("reason", unavailable_reason());
  o.Set("deviceCount", p.device_count);
  o.Set("driverVersion", p.driver_version);
  o.Set("runtimeVersion", p.runtime_version);
  o.Set("driverRequired", required_driver());
  return o;
}

Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  const int n = arelu_cuda::probe().device_count;
  Napi::Array out = Napi::Array::New(env, n);
  for (int d = 0; d < n; ++d) {
    arelu_cuda::DeviceProps p;
    if (int e = arelu_cuda::device_props(d, &p)) throw_cuda(env, e, "devices() for device " + std::to_string(d));
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d);
    o.Set("name", p.name);
    o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    o.Set("totalMemory", static_cast<double>(p.total_memory));
    o.Set("multiProcessorCount", p.sm_count);
    out.Set(static_cast<uint32_t>(d), o);
  }
  return out;
}

// memInfo(device) -> { free, total }: cudaMemGetInfo, for leak checks.
Napi::Value MemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  const int d = device_arg(info, 0);
  size_t free_b = 0, total_b = 0;
  if (int e = arelu_cuda::mem_info(d, &free_b, &total_b)) throw_cuda(env, e, "memInfo()");
  Napi::Object o = Napi::Object::New(env);
  o.Set("free", static_cast<double>(free_b));
  o.Set("total", static_cast<double>(total_b));
  return o;
}

size_t length_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) throw_type(env, "Expected non-negative integer for length");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v != std::floor(v) || v > 9007199254740991.0 / 4)
    throw_range(env, "Expected non-negative integer for length");
  return static_cast<size_t>(v);
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  const size_t length = length_arg(info, 0);
  const int d = device_arg(info, 1);
  void* p = nullptr;
  if (int e = arelu_cuda::buffer_alloc(d, length * sizeof(float), &p))
    throw_cuda(env, e, "alloc() of " + std::to_string(length * sizeof(float)) + " bytes on device " + std::to_string(d));
  return make_handle(env, d, p, length);
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  const F32View src = float32_arg(info, 0, "x");
  const int d = device_arg(info, 1);
  const size_t bytes = src.length * sizeof(float);
  void* p = nullptr;
  if (int e = arelu_cuda::buffer_alloc(d, bytes, &p))
    throw_cuda(env, e, "upload() allocating " + std::to_string(bytes) + " bytes on device " + std::to_string(d));
  if (int e = arelu_cuda::upload(d, p, src.data, bytes)) {
    (void)arelu_cuda::buffer_free(d, p);
    throw_cuda(env, e, "upload() copying to device " + std::to_string(d));
  }
  return make_handle(env, d, p, src.length);
}

// The host array a download fills: a live Float32Array of the buffer's length.
F32View into_arg(const Napi::CallbackInfo& info, size_t i, const DevBuf& b) {
  const F32View dst = float32_arg(info, i, "into");
  if (dst.length != b.length)
    throw_range(info.Env(), "Expected into to have the length of the buffer (" + std::to_string(b.length) +
                                ") but it has " + std::to_string(dst.length));
  return dst;
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  DevBuf* b = buf_arg(info, 0, "buffer");
  const F32View dst = into_arg(info, 1, *b);
  if (int e = arelu_cuda::download(b->device, dst.data, b->ptr, b->length * sizeof(float)))
    throw_cuda(env, e, "download()");
  return env.Undefined();
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  DevBuf* b = buf_arg(info, 0, "buffer", true);
  if (b->freed) return env.Undefined();
  const int e = arelu_cuda::buffer_free(b->device, b->ptr);
  // Marked freed either way: after a failed cudaFree the pointer is not
  // safe to use again, and a second free must not be attempted.
  b->freed = true;
  b->ptr = nullptr;
  if (e) throw_cuda(env, e, "free()");
  return env.Undefined();
}

Napi::Value IsFreed(const Napi::CallbackInfo& info) {
  require_cuda(info.Env());
  return Napi::Boolean::New(info.Env(), buf_arg(info, 0, "buffer", true)->freed);
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  DevBuf* dst = buf_arg(info, 0, "dst");
  DevBuf* src = buf_arg(info, 1, "src");
  if (dst->length != src->length)
    throw_range(env, "Expected dst to have the length of src (" + std::to_string(src->length) + ") but it has " +
                         std::to_string(dst->length));
  if (dst->device != src->device) throw_range(env, "Expected dst and src on the same device");
  if (int e = arelu_cuda::copy(src->device, dst->ptr, src->ptr, src->length * sizeof(float)))
    throw_cuda(env, e, "copy()");
  return env.Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  const int d = device_arg(info, 0);
  if (int e = arelu_cuda::synchronize(d)) throw_cuda(env, e, "synchronize()");
  return env.Undefined();
}

// forward(x, out, alpha, beta, channels, inner)
// backward(x, dy, out, alpha, beta, channels, inner, sums)
struct GpuCall {
  bool backward = false;
  int device = 0;
  const float* x = nullptr;
  const float* g = nullptr;
  float* out = nullptr;
  arelu_cuda::Layout layout;
  std::vector<float> alpha, beta;
  double* sums = nullptr;
};

GpuCall parse_call(const Napi::CallbackInfo& info, bool backward) {
  Napi::Env env = info.Env();
  require_cuda(env);
  GpuCall call;
  call.backward = backward;
  size_t i = 0;
  const DevBuf* x = buf_arg(info, i++, "x");
  const DevBuf* g = backward ? buf_arg(info, i++, "dy") : nullptr;
  const DevBuf* out = buf_arg(info, i++, "out");
  for (const DevBuf* other : {g, out}) {
    if (other == nullptr) continue;
    const char* name = other == g ? "dy" : "out";
    if (other->length != x->length)
      throw_range(env, std::string("Expected ") + name + " to have the length of x (" + std::to_string(x->length) +
                           ") but it has " + std::to_string(other->length));
    if (other->device != x->device)
      throw_range(env, std::string("Expected ") + name + " on device " + std::to_string(x->device) +
                           " (the device of x) but it is on device " + std::to_string(other->device));
  }
  const size_t alpha_i = i++, beta_i = i++;
  arelu::Layout l;
  l.n = x->length;
  l.channels = count_arg(info, i++, "channels");
  l.inner = count_arg(info, i++, "inner");
  const std::string bad = arelu::check_layout(l);
  if (!bad.empty()) throw_range(env, "Invalid layout for x: " + bad);
  call.layout.n = l.n;
  call.layout.channels = l.channels;
  call.layout.inner = l.inner;
  call.alpha = params_arg(info, alpha_i, "alpha", l.channels);
  call.beta = params_arg(info, beta_i, "beta", l.channels);
  if (backward) {
    const F64View sums = float64_arg(info, i++, "sums");
    if (sums.length != 2 * l.channels) throw_range(env, "Expected sums to have 2 * channels values");
    call.sums = sums.data;
  }
  call.device = x->device;
  call.x = static_cast<const float*>(x->ptr);
  call.g = g ? static_cast<const float*>(g->ptr) : nullptr;
  call.out = static_cast<float*>(out->ptr);
  return call;
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  const GpuCall c = parse_call(info, false);
  if (int e = arelu_cuda::forward(c.device, c.x, c.out, c.layout, c.alpha.data(), c.beta.data()))
    throw_cuda(info.Env(), e, "forward()");
  return info.Env().Undefined();
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  const GpuCall c = parse_call(info, true);
  if (int e = arelu_cuda::backward(c.device, c.x, c.g, c.out, c.layout, c.alpha.data(), c.beta.data(), c.sums))
    throw_cuda(info.Env(), e, "backward()");
  return info.Env().Undefined();
}

#if ARELU_CUDA_EMU
// emuCurrentDevice(d?) -> the calling thread's current device, set to d
// first when given. Built into the CPU stand-in's addon only: a test plays
// an application that chose a device of its own (every call restores it).
Napi::Value EmuCurrentDevice(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) (void)cudaSetDevice(info[0].As<Napi::Number>().Int32Value());
  int d = -1;
  (void)cudaGetDevice(&d);
  return Napi::Number::New(info.Env(), d);
}
#endif

// eventRecord(device) -> an event after the work queued so far (for the
// benchmark's GPU-side timing); eventElapsed(start, stop) -> milliseconds.
Napi::Value EventRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  const int d = device_arg(info, 0);
  void* ev = nullptr;
  if (int e = arelu_cuda::event_record(d, &ev)) throw_cuda(env, e, "eventRecord()");
  return Napi::External<void>::New(env, ev, [](Napi::Env, void* p) { arelu_cuda::event_destroy(p); });
}

Napi::Value EventElapsed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  if (info.Length() < 2 || !info[0].IsExternal() || !info[1].IsExternal())
    throw_type(env, "Expected two events from eventRecord for start and stop");
  float ms = 0;
  if (int e = arelu_cuda::event_elapsed_ms(info[0].As<Napi::External<void>>().Data(),
                                           info[1].As<Napi::External<void>>().Data(), &ms))
    throw_cuda(env, e, "eventElapsed()");
  return Napi::Number::New(env, ms);
}

// ---- asynchronous calls: a stream callback completes a promise -------------------------
//
// The work is enqueued on the device's stream from the JS thread (so it is
// ordered with every other call); a CUDA callback (or the download helper
// thread) then hands the status to the JS thread through the environment's
// thread-safe function. The JS objects involved (the arrays the callbacks
// write into) are held by references until then. The thread-safe function
// is referenced only while some call is pending, so a pending call keeps
// the event loop alive and an idle addon does not.
//
// Callbacks reach the thread-safe function only through the environment's
// Relay, which every call in flight holds a reference to: a callback that
// comes after the environment is gone (a dead device's: teardown does not
// wait for one) finds the relay closed and calls nothing.

struct AsyncOp {
  Napi::Promise::Deferred deferred;
  std::vector<Napi::ObjectReference> refs;
  std::string what;
  int status = 0;
  explicit AsyncOp(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

struct CudaEnv;
void complete_js(Napi::Env env, Napi::Function, CudaEnv* ce, AsyncOp* op);
using Tsfn = Napi::TypedThreadSafeFunction<CudaEnv, AsyncOp, complete_js>;

// What completion callbacks use, on any thread. Freed with its last
// reference: the environment's, dropped when the thread-safe function is
// finalized, or that of the last call in flight.
struct Relay {
  std::mutex m;
  bool open = true;  // false once the thread-safe function is finalized (m)
  Tsfn tsfn;
  std::atomic<size_t> refs{1};
  void unref() {
    if (refs.fetch_sub(1) == 1) delete this;
  }
  // Hands op to the JS thread; false when the environment is gone.
  bool post(AsyncOp* op) {
    std::lock_guard<std::mutex> l(m);  // the finalizer waits for a call in progress
    return open && tsfn.NonBlockingCall(op) == napi_ok;
  }
  void close() {
    std::lock_guard<std::mutex> l(m);
    open = false;
  }
};

// Per environment (main thread, each worker thread).
struct CudaEnv {
  Tsfn tsfn;
  Relay* relay = nullptr;
  size_t pending = 0;  // JS thread only
};

// In an environment that is stopping (a worker that called process.exit
// with calls in flight), JS can no longer run: settling the promise fails,
// and node-addon-api throws that failure as a C++ exception. It is caught
// here, so the op is still freed and the pending count still drops (the
// wrapper around this callback would only swallow it,
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS; without that it aborted the
// process). Nobody is left to see the promise then.
void complete_js(Napi::Env env, Napi::Function, CudaEnv* ce, AsyncOp* op) {
  if (env != nullptr) {
    try {
      if (op->status == 0) op->deferred.Resolve(env.Undefined());
      else op->deferred.Reject(cuda_error(env, op->status, op->what).Value());
    } catch (const Napi::Error&) {
    }
    if (--ce->pending == 0) (void)napi_unref_threadsafe_function(env, ce->tsfn);
  }
  delete op;
}

struct Pending {
  Relay* relay;
  AsyncOp* op;
};

// Called on a CUDA callback thread or the download thread: no JS and no
// CUDA calls here.
void on_done(int status, void* user) {
  auto* p = static_cast<Pending*>(user);
  p->op->status = status;
  // When the environment is gone the op is left to the process exit, since
  // its references cannot be released off-thread.
  (void)p->relay->post(p->op);
  p->relay->unref();
  delete p;
}

CudaEnv* cuda_env(const Napi::CallbackInfo& info) { return static_cast<CudaEnv*>(info.Data()); }

template <typename Enqueue>
Napi::Value start_async(const Napi::CallbackInfo& info, const std::string& what, Enqueue enqueue) {
  Napi::Env env = info.Env();
  CudaEnv* ce = cuda_env(info);
  auto* op = new AsyncOp(env);
  op->what = what;
  for (size_t i = 0; i < info.Length(); ++i)
    if (info[i].IsObject()) op->refs.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
  ce->relay->refs.fetch_add(1);
  auto* pending = new Pending{ce->relay, op};
  const Napi::Promise promise = op->deferred.Promise();
  if (ce->pending++ == 0) ce->tsfn.Ref(env);
  if (int e = enqueue(pending)) {
    delete pending;
    delete op;
    ce->relay->unref();
    if (--ce->pending == 0) ce->tsfn.Unref(env);
    throw_cuda(env, e, what);
  }
  return promise;
}

Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
  const GpuCall c = parse_call(info, false);
  return start_async(info, "forwardAsync()", [&](Pending* p) {
    return arelu_cuda::forward_async(c.device, c.x, c.out, c.layout, c.alpha.data(), c.beta.data(), on_done, p);
  });
}

Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  const GpuCall c = parse_call(info, true);
  return start_async(info, "backwardAsync()", [&](Pending* p) {
    return arelu_cuda::backward_async(c.device, c.x, c.g, c.out, c.layout, c.alpha.data(), c.beta.data(), c.sums,
                                      on_done, p);
  });
}

Napi::Value DownloadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_cuda(env);
  DevBuf* b = buf_arg(info, 0, "buffer");
  const F32View dst = into_arg(info, 1, *b);
  return start_async(info, "downloadAsync()", [&](Pending* p) {
    return arelu_cuda::download_async(b->device, dst.data, b->ptr, b->length * sizeof(float), on_done, p);
  });
}

// Environment teardown: nothing queued may write into this environment's
// memory after it is gone, so wait for the devices here (a dead device's
// work writes nothing; its callbacks, if they ever come, meet a closed
// Relay). Registered after
// the thread-safe function, so it runs before the function's own cleanup.
void cleanup_env(void* arg) {
  auto* ce = static_cast<CudaEnv*>(arg);
  if (arelu_cuda::probe().error == 0) arelu_cuda::quiesce();
  (void)ce->tsfn.Release();
}

}  // namespace

void InitCuda(Napi::Env env, Napi::Object exports) {
  auto* ce = new CudaEnv();
  ce->tsfn = Tsfn::New(env, "arelu:cuda", 0, 1, ce,
                       [](Napi::Env, CudaEnv* data, CudaEnv*) {
                         data->relay->close();
                         data->relay->unref();
                         delete data;
                       },
                       ce);
  ce->relay = new Relay();
  ce->relay->tsfn = ce->tsfn;
  ce->tsfn.Unref(env);
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, cleanup_env, ce));
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("status", Napi::Function::New(env, Status, "status"));
  cuda.Set("devices", Napi::Function::New(env, Devices, "devices"));
  cuda.Set("memInfo", Napi::Function::New(env, MemInfo, "memInfo"));
  cuda.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  cuda.Set("upload", Napi::Function::New(env, Upload, "upload"));
  cuda.Set("download", Napi::Function::New(env, Download, "download"));
  cuda.Set("downloadAsync", Napi::Function::New(env, DownloadAsync, "downloadAsync", ce));
  cuda.Set("free", Napi::Function::New(env, Free, "free"));
  cuda.Set("isFreed", Napi::Function::New(env, IsFreed, "isFreed"));
  cuda.Set("forward", Napi::Function::New(env, Forward, "forward"));
  cuda.Set("backward", Napi::Function::New(env, Backward, "backward"));
  cuda.Set("forwardAsync", Napi::Function::New(env, ForwardAsync, "forwardAsync", ce));
  cuda.Set("backwardAsync", Napi::Function::New(env, BackwardAsync, "backwardAsync", ce));
  cuda.Set("copy", Napi::Function::New(env, Copy, "copy"));
  cuda.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  cuda.Set("eventRecord", Napi::Function::New(env, EventRecord, "eventRecord"));
  cuda.Set("eventElapsed", Napi::Function::New(env, EventElapsed, "eventElapsed"));
#if ARELU_CUDA_EMU
  cuda.Set("emuCurrentDevice", Napi::Function::New(env, EmuCurrentDevice, "emuCurrentDevice"));
#endif
#if ARELU_CUDA_FAULT_HOOK
  cuda.Set("faultHook", Napi::Boolean::New(env, true));  // a test build (native/cuda/CMakeLists.txt)
#endif
  exports.Set("cuda", cuda);
}

}  // namespace arelu_addon

#endif  // ARELU_WITH_CUDA
