// Argument checks for the native entry points. lib/ validates first with
// friendlier messages; these re-check everything that could touch memory
// out of bounds, because the addon can be called directly. Every check
// throws a JS TypeError or RangeError; nothing aborts.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace arelu_addon {

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

// A typed-array view that is not detached.
template <class T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};
using F32View = View<float>;
using F64View = View<double>;

// A typed array of one element type, checked with one napi_get_typedarray_info
// (no napi_is_typedarray before it: it refuses other values itself) and one
// detach check: these run on every call (a call on 1K elements costs
// about a microsecond, and the wrapper classes' accessors each repeat the
// info query, which profiled as a third of it).
template <class T, napi_typedarray_type kType>
inline View<T> typed_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                         const char* type_name) {
  Napi::Env env = info.Env();
  // napi_get_typedarray_info itself refuses anything but a typed array.
  napi_value v = i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr;
  if (v == nullptr) throw_type(env, std::string("Expected ") + type_name + " for " + name);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok ||
      type != kType)
    throw_type(env, std::string("Expected ") + type_name + " for " + name);
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached)
    throw_type(env, std::string("Expected ") + name + " to be backed by a live ArrayBuffer, but it is detached");
  // N-API's data already points at the first element (byte offset applied).
  return {static_cast<T*>(data), length};
}

inline F32View float32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_arg<float, napi_float32_array>(info, i, name, "Float32Array");
}

inline F64View float64_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_arg<double, napi_float64_array>(info, i, name, "Float64Array");
}

// A positive integer no larger than 2^53.
inline size_t count_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber())
    throw_type(env, std::string("Expected positive integer for ") + name);
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 1) || v != std::floor(v) || v > 9007199254740992.0)
    throw_range(env, std::string("Expected positive integer for ") + name);
  return static_cast<size_t>(v);
}

// A parameter given as a JS number, rounded to float32.
inline float number_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw_type(info.Env(), std::string("Expected number for ") + name);
  return static_cast<float>(info[i].As<Napi::Number>().DoubleValue());
}

// Parameters of a call. Async calls copy them at entry (a caller could change
// them while the call runs); synchronous calls may view the caller's array
// (`copy` false), which the CPU driver reads once, into its coefficients,
// before it writes any output. One channel needs no heap allocation.
struct ParamArray {
  float one = 0.0f;
  std::vector<float> many;
  const float* view = nullptr;
  const float* data() const { return view ? view : many.empty() ? &one : many.data(); }
};

// A number (broadcast to every channel) or a Float32Array of `channels` values.
inline ParamArray param_array_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                                  size_t channels, bool copy = true) {
  Napi::Env env = info.Env();
  ParamArray p;
  if (i < info.Length() && info[i].IsNumber()) {
    p.one = static_cast<float>(info[i].As<Napi::Number>().DoubleValue());
    if (channels > 1) p.many.assign(channels, p.one);
    return p;
  }
  const F32View v = float32_arg(info, i, name);
  if (v.length != channels)
    throw_range(env, std::string("Expected ") + name + " to have " + std::to_string(channels) +
                         " values (one per channel) but it has " + std::to_string(v.length));
  if (channels == 1) p.one = v.data[0];
  else if (!copy) p.view = v.data;
  else p.many.assign(v.data, v.data + v.length);
  return p;
}

// The same, as a vector of `channels` values (for device calls, which copy
// the parameters to the GPU anyway).
inline std::vector<float> params_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                                     size_t channels) {
  ParamArray p = param_array_arg(info, i, name, channels);
  return p.many.empty() ? std::vector<float>(1, p.one) : std::move(p.many);
}

// out must equal `in` exactly or not overlap it at all.
inline void check_no_partial_overlap(Napi::Env env, const F32View& out, const F32View& in,
                                     const char* in_name) {
  const auto o0 = reinterpret_cast<uintptr_t>(out.data), o1 = o0 + out.length * sizeof(float);
  const auto i0 = reinterpret_cast<uintptr_t>(in.data), i1 = i0 + in.length * sizeof(float);
  if (o0 == i0 && o1 == i1) return;
  if (o0 < i1 && i0 < o1 && out.length != 0 && in.length != 0)
    throw_range(env, std::string("Expected out to be exactly ") + in_name +
                         " (in-place) or not to overlap it, but it partially overlaps " + in_name);
}

inline void check_same_length(Napi::Env env, const F32View& a, const char* an, const F32View& b,
                              const char* bn) {
  if (a.length != b.length)
    throw_range(env, std::string("Expected ") + bn + " to have the length of " + an + " (" +
                         std::to_string(a.length) + ") but it has " + std::to_string(b.length));
}

}  // namespace arelu_addon
