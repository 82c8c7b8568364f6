// TF-op glue (see arelu_tfop.h). Why it is built this way:
// - TensorFlow is found, never linked: the addon stays one binary that loads
//   with or without tfjs-node. dlsym(RTLD_DEFAULT) does not see the libraries
//   tfjs-node loaded (its binding opens them RTLD_LOCAL), so each loaded
//   libtensorflow* is reopened with RTLD_NOLOAD and searched.
// - Registering an op name twice makes TensorFlow abort through an internal
//   check the TF_Status never reports, and a kernel registered twice makes
//   every call fail. So both are looked up in TF's registries first: that
//   also covers a second copy of this package in the process.
// - Kernels run the core driver with the same layout the JS API uses (the
//   last axis is the channel axis), so results are bit-identical to it.
#include "arelu_tfop.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "../core/arelu_cpu.h"
#include "tf_c_api.h"

#if !defined(_WIN32)
#include <dlfcn.h>
#endif
#if defined(__linux__)
#include <link.h>
#elif defined(__APPLE__)
#include <mach-o/dyld.h>
#endif

namespace arelu_tfop {
namespace {

#if defined(_WIN32)

Registration register_once() {
  Registration r;
  r.reason = "TF-op path not supported on Windows";
  return r;
}

#else

TfApi g_api;  // filled once by register_ops(), read-only afterwards

// ---- the kernels ---------------------------------------------------------------

// Owns the TF_Tensors a kernel receives or allocates (each must be freed).
class Tensors {
 public:
  ~Tensors() {
    for (TF_Tensor* t : held_) g_api.DeleteTensor(t);
  }
  TF_Tensor* keep(TF_Tensor* t) {
    if (t) held_.push_back(t);
    return t;
  }

 private:
  std::vector<TF_Tensor*> held_;
};

// A failed kernel: the message reaches JS as the exception of the op call.
struct KernelError {
  TF_Code code;
  std::string message;
};

std::string shape_of(const TF_Tensor* t) {
  std::string s = "[";
  for (int i = 0; i < g_api.NumDims(t); ++i) s += (i ? ", " : "") + std::to_string(g_api.Dim(t, i));
  return s + "]";
}

TF_Tensor* input(TF_OpKernelContext* ctx, Tensors& held, int i, const char* name, TF_Status* st) {
  TF_Tensor* t = nullptr;
  g_api.GetInput(ctx, i, &t, st);
  if (g_api.GetCode(st) != TF_OK || !t)
    throw KernelError{TF_INVALID_ARGUMENT, std::string("AReLU: cannot read input ") + name + ": " + g_api.Message(st)};
  held.keep(t);
  if (g_api.TensorType(t) != TF_FLOAT)
    throw KernelError{TF_INVALID_ARGUMENT, std::string("AReLU: expected ") + name + " of dtype float32"};
  return t;
}

float* output(TF_OpKernelContext* ctx, Tensors& held, int i, const TF_Tensor* like, TF_Status* st) {
  const int nd = g_api.NumDims(like);
  std::vector<int64_t> dims(static_cast<size_t>(nd));
  for (int d = 0; d < nd; ++d) dims[static_cast<size_t>(d)] = g_api.Dim(like, d);
  const size_t n = static_cast<size_t>(g_api.TensorElementCount(like));
  TF_Tensor* t = held.keep(g_api.AllocateOutput(ctx, i, TF_FLOAT, dims.data(), nd, n * sizeof(float), st));
  if (g_api.GetCode(st) != TF_OK || !t)
    throw KernelError{TF_RESOURCE_EXHAUSTED, std::string("AReLU: cannot allocate an output: ") + g_api.Message(st)};
  return static_cast<float*>(g_api.TensorData(t));
}

// The parameters as the core driver wants them: `channels` floats each (a
// single value spread when the other parameter is per-channel), as lib/tfjs.ts does.
struct Params {
  arelu::Layout layout;
  std::vector<float> alpha, beta;
  size_t alpha_len = 0, beta_len = 0;
};

Params params(const TF_Tensor* x, const TF_Tensor* alpha, const TF_Tensor* beta) {
  const int nd = g_api.NumDims(x);
  const size_t c = nd == 0 ? 1 : static_cast<size_t>(g_api.Dim(x, nd - 1));
  Params p;
  auto check = [&](const TF_Tensor* t, const char* name) {
    const size_t len = static_cast<size_t>(g_api.TensorElementCount(t));
    if (g_api.NumDims(t) > 1 || !(len == 1 || len == c))
      throw KernelError{TF_INVALID_ARGUMENT, std::string("AReLU: expected ") + name + " of shape [], [1] or [" +
                                                 std::to_string(c) + "] (the last axis of x), but received " + shape_of(t)};
    return len;
  };
  p.alpha_len = check(alpha, "alpha");
  p.beta_len = check(beta, "beta");
  const size_t channels = p.alpha_len == 1 && p.beta_len == 1 ? 1 : c;
  p.layout.n = static_cast<size_t>(g_api.TensorElementCount(x));
  p.layout.channels = channels;
  p.layout.inner = 1;
  if (p.layout.n == 0) return p;  // nothing to compute; channels may be 0
  const std::string bad = arelu::check_layout(p.layout);
  if (!bad.empty()) throw KernelError{TF_INVALID_ARGUMENT, "AReLU: invalid layout for x: " + bad};
  auto spread = [&](const TF_Tensor* t, size_t len) {
    const float* v = static_cast<const float*>(g_api.TensorData(t));
    return len == channels ? std::vector<float>(v, v + len) : std::vector<float>(channels, v[0]);
  };
  p.alpha = spread(alpha, p.alpha_len);
  p.beta = spread(beta, p.beta_len);
  return p;
}

// Runs a kernel body, turning every failure into the context's failure status:
// nothing may unwind into TensorFlow.
template <typename Body>
void run_kernel(TF_OpKernelContext* ctx, Body body) {
  TF_Status* st = g_api.NewStatus();
  KernelError err{TF_OK, ""};
  try {
    Tensors held;
    body(held, st);
  } catch (const KernelError& e) {
    err = e;
  } catch (const std::bad_alloc&) {
    err = {TF_RESOURCE_EXHAUSTED, "AReLU: out of memory"};
  } catch (...) {
    err = {TF_INTERNAL, "AReLU: unexpected error in the kernel"};
  }
  if (err.code != TF_OK) {
    g_api.SetStatus(st, err.code, err.message.c_str());
    g_api.OpKernelContext_Failure(ctx, st);
  }
  g_api.DeleteStatus(st);
}

void* create_kernel(TF_OpKernelConstruction*) {
  static int no_state;
  return &no_state;
}
void delete_kernel(void*) {}

void forward_compute(void*, TF_OpKernelContext* ctx) {
  run_kernel(ctx, [ctx](Tensors& held, TF_Status* st) {
    const TF_Tensor* x = input(ctx, held, 0, "x", st);
    const TF_Tensor* alpha = input(ctx, held, 1, "alpha", st);
    const TF_Tensor* beta = input(ctx, held, 2, "beta", st);
    const Params p = params(x, alpha, beta);
    float* y = output(ctx, held, 0, x, st);
    if (p.layout.n == 0) return;
    arelu::cpu_forward(static_cast<const float*>(g_api.TensorData(x)), y, p.layout, p.alpha.data(), p.beta.data());
  });
}

// A parameter's gradient from the per-channel float64 sums: one value per
// channel, or their sum in channel order for a single value (as lib/tfjs.ts).
void param_grad(const double* sums, size_t channels, size_t len, float* out) {
  if (channels == 1) {
    out[0] = static_cast<float>(sums[0]);
  } else if (len == channels) {
    for (size_t i = 0; i < channels; ++i) out[i] = static_cast<float>(sums[i]);
  } else {
    double s = 0;
    for (size_t i = 0; i < channels; ++i) s += sums[i];
    out[0] = static_cast<float>(s);
  }
}

void grad_compute(void*, TF_OpKernelContext* ctx) {
  run_kernel(ctx, [ctx](Tensors& held, TF_Status* st) {
    const TF_Tensor* x = input(ctx, held, 0, "x", st);
    const TF_Tensor* dy = input(ctx, held, 1, "dy", st);
    const TF_Tensor* alpha = input(ctx, held, 2, "alpha", st);
    const TF_Tensor* beta = input(ctx, held, 3, "beta", st);
    if (shape_of(x) != shape_of(dy))
      throw KernelError{TF_INVALID_ARGUMENT, "AReLU: expected dy of the shape of x " + shape_of(x) + ", but received " + shape_of(dy)};
    const Params p = params(x, alpha, beta);
    float* dx = output(ctx, held, 0, x, st);
    float* da = output(ctx, held, 1, alpha, st);
    float* db = output(ctx, held, 2, beta, st);
    if (p.layout.n == 0) {
      std::fill(da, da + p.alpha_len, 0.0f);
      std::fill(db, db + p.beta_len, 0.0f);
      return;
    }
    const size_t c = p.layout.channels;
    std::vector<double> sums(2 * c);
    arelu::cpu_backward(static_cast<const float*>(g_api.TensorData(x)), static_cast<const float*>(g_api.TensorData(dy)),
                        dx, p.layout, p.alpha.data(), p.beta.data(), sums.data(), sums.data() + c);
    param_grad(sums.data(), c, p.alpha_len, da);
    param_grad(sums.data() + c, c, p.beta_len, db);
  });
}

// Shape functions (graph mode only; eager mode does not call them): outputs
// take the shapes of the inputs they mirror.
void mirror_shapes(TF_ShapeInferenceContext* ctx, TF_Status* st, const int* from, int n) {
  TF_ShapeHandle* h = g_api.NewShapeHandle();
  for (int i = 0; i < n && g_api.GetCode(st) == TF_OK; ++i) {
    g_api.ShapeInferenceContextGetInput(ctx, from[i], h, st);
    if (g_api.GetCode(st) == TF_OK) g_api.ShapeInferenceContextSetOutput(ctx, i, h, st);
  }
  g_api.DeleteShapeHandle(h);
}
void forward_shape(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  static const int from[] = {0};
  mirror_shapes(ctx, st, from, 1);
}
void grad_shape(TF_ShapeInferenceContext* ctx, TF_Status* st) {
  static const int from[] = {0, 2, 3};
  mirror_shapes(ctx, st, from, 3);
}

// ---- finding TensorFlow -----------------------------------------------------------

bool is_tensorflow_library(const char* path) {
  if (!path) return false;
  const char* base = std::strrchr(path, '/');
  base = base ? base + 1 : path;
  return std::strncmp(base, "libtensorflow", 13) == 0;
}

std::vector<std::string> loaded_tensorflow_libraries() {
  std::vector<std::string> found;
#if defined(__linux__)
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        if (is_tensorflow_library(info->dlpi_name))
          static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name);
        return 0;
      },
      &found);
#elif defined(__APPLE__)
  for (uint32_t i = 0, n = _dyld_image_count(); i < n; ++i)
    if (is_tensorflow_library(_dyld_get_image_name(i))) found.push_back(_dyld_get_image_name(i));
#endif
  return found;
}

// Resolves every TfApi member from the given libraries; empty on success,
// otherwise the names that were not found.
std::string resolve(const std::vector<void*>& handles, TfApi* api) {
  std::string missing;
  auto find = [&](const char* name) -> void* {
    for (void* h : handles)
      if (void* p = dlsym(h, name)) return p;
    missing += missing.empty() ? name : std::string(", ") + name;
    return nullptr;
  };
#define ARELU_TF_RESOLVE(member) \
  api->member = reinterpret_cast<decltype(api->member)>(find("TF_" #member));
  ARELU_TF_API_SYMBOLS(ARELU_TF_RESOLVE)
#undef ARELU_TF_RESOLVE
  return missing;
}

bool op_registered(const char* name, TF_Status* st) {
  TF_Graph* g = g_api.NewGraph();
  TF_Buffer* buf = g_api.NewBuffer();
  g_api.GraphGetOpDef(g, name, buf, st);
  const bool found = g_api.GetCode(st) == TF_OK;
  g_api.DeleteBuffer(buf);
  g_api.DeleteGraph(g);
  return found;
}

bool kernel_registered(const char* name, TF_Status* st) {
  TF_Buffer* list = g_api.GetRegisteredKernelsForOp(name, st);
  const bool found = g_api.GetCode(st) == TF_OK && list && list->length > 0;
  if (list) g_api.DeleteBuffer(list);
  return found;
}

// Registers one op (if TF does not know it) and its CPU kernel (if it has none).
// Returns an empty string on success; sets *reused when both already existed.
std::string register_op(const char* name, const std::vector<const char*>& ins, const std::vector<const char*>& outs,
                        void (*shape)(TF_ShapeInferenceContext*, TF_Status*),
                        void (*compute)(void*, TF_OpKernelContext*), bool* reused) {
  TF_Status* st = g_api.NewStatus();
  std::string err;
  const bool had_op = op_registered(name, st);
  if (!had_op) {
    TF_OpDefinitionBuilder* b = g_api.NewOpDefinitionBuilder(name);
    for (const char* in : ins) g_api.OpDefinitionBuilderAddInput(b, in);
    for (const char* out : outs) g_api.OpDefinitionBuilderAddOutput(b, out);
    g_api.OpDefinitionBuilderSetShapeInferenceFunction(b, shape);
    g_api.SetStatus(st, TF_OK, "");
    g_api.RegisterOpDefinition(b, st);  // takes the builder: never delete it after this
    if (g_api.GetCode(st) != TF_OK) err = std::string("registering op ") + name + " failed: " + g_api.Message(st);
    else if (!op_registered(name, st)) err = std::string("op ") + name + " is not in TensorFlow's registry after registering it";
  }
  bool had_kernel = false;
  if (err.empty()) {
    had_kernel = kernel_registered(name, st);
    if (!had_kernel) {
      TF_KernelBuilder* kb = g_api.NewKernelBuilder(name, "CPU", create_kernel, compute, delete_kernel);
      g_api.SetStatus(st, TF_OK, "");
      g_api.RegisterKernelBuilder((std::string(name) + "Cpu").c_str(), kb, st);
      if (g_api.GetCode(st) != TF_OK) err = std::string("registering the CPU kernel of ") + name + " failed: " + g_api.Message(st);
      else if (!kernel_registered(name, st)) err = std::string("the CPU kernel of ") + name + " is not in TensorFlow's registry after registering it";
    }
  }
  g_api.DeleteStatus(st);
  *reused = had_op && had_kernel;
  return err;
}

Registration register_once() {
  Registration r;
  r.libraries = loaded_tensorflow_libraries();
  if (r.libraries.empty()) {
    r.reason = "no TensorFlow library (libtensorflow*) is loaded in this process";
    return r;
  }
  std::vector<void*> handles;
  for (const std::string& lib : r.libraries)
    if (void* h = dlopen(lib.c_str(), RTLD_NOLOAD | RTLD_LAZY)) handles.push_back(h);
  if (handles.empty()) {
    r.reason = "the loaded TensorFlow libraries could not be reopened with dlopen(RTLD_NOLOAD)";
    return r;
  }
  TfApi api{};
  const std::string missing = resolve(handles, &api);
  if (!missing.empty()) {
    r.reason = "TensorFlow's C API for ops and kernels is incomplete in the loaded library (missing " + missing + ")";
    return r;
  }
  g_api = api;
  bool reused_fwd = false, reused_grad = false;
  std::string err = register_op(kForwardOp, {"x: float", "alpha: float", "beta: float"}, {"y: float"},
                                forward_shape, forward_compute, &reused_fwd);
  if (err.empty())
    err = register_op(kGradOp, {"x: float", "dy: float", "alpha: float", "beta: float"},
                      {"dx: float", "dalpha: float", "dbeta: float"}, grad_shape, grad_compute, &reused_grad);
  if (!err.empty()) {
    r.reason = err;
    return r;
  }
  r.ok = true;
  r.reused = reused_fwd && reused_grad;
  r.reason = r.reused ? "TensorFlow ops " + std::string(kForwardOp) + "/" + kGradOp +
                            " were already registered in this process (another copy of arelu); reusing them"
                      : "registered TensorFlow ops " + std::string(kForwardOp) + "/" + kGradOp +
                            " with CPU kernels in tfjs-node's runtime";
  return r;
}

#endif

}  // namespace

Registration register_ops() {
  // Process-wide: TensorFlow's registries are, and every worker_thread shares them.
  static std::mutex m;
  static bool done = false;
  static Registration result;
  std::lock_guard<std::mutex> lock(m);
  if (!done) {
    try {
      result = register_once();
    } catch (const std::exception& e) {
      result = Registration{};
      result.reason = std::string("registration failed: ") + e.what();
    }
    // "Nothing loaded yet" is not final: tfjs-node may be loaded later.
    done = result.ok || !result.libraries.empty();
  }
  return result;
}

}  // namespace arelu_tfop
