// A CPU stand-in for the parts of the CUDA runtime that native/cuda uses,
// so that the real kernels and host code of arelu_cuda.cu can run, and be
// tested, on a machine without a GPU (see build.sh). Not a CUDA emulator in
// general: it runs each block's threads as cooperative fibers (ucontext)
// that switch only at __syncthreads() and warp shuffles, one block after
// another; __shared__ variables become statics (shared by the block that
// runs); memory is host memory; streams run work at once; callbacks are
// called at once. Enough to check indexing, reductions, barriers and the
// host-side logic; it says nothing about speed or memory-model races.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define CUDART_CB

struct float4 { float x, y, z, w; };
struct double2 { double x, y; };
inline double2 make_double2(double x, double y) { return {x, y}; }
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
template <typename T> inline T __ldg(const T* p) { return *p; }
using std::min;
using std::max;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };
typedef struct EmuStream* cudaStream_t;
constexpr unsigned cudaStreamNonBlocking = 1;
struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount;
  size_t totalGlobalMem;
};
typedef void (*cudaStreamCallback_t)(cudaStream_t, cudaError_t, void*);

namespace emu {
// Device size and state, adjustable by tests through the environment.
inline size_t total_mem() {
  static size_t t = getenv("ARELU_EMU_MEM") ? strtoull(getenv("ARELU_EMU_MEM"), nullptr, 10) : (size_t(4) << 30);
  return t;
}
inline size_t& used_mem() { static size_t u = 0; return u; }
inline std::vector<std::pair<void*, size_t>>& allocs() { static std::vector<std::pair<void*, size_t>> a; return a; }
inline cudaError_t& last_error() { static cudaError_t e = cudaSuccess; return e; }
inline cudaError_t set(cudaError_t e) { if (e != cudaSuccess) last_error() = e; return e; }

// ---- fibers ----
struct Fiber {
  ucontext_t ctx;
  unsigned tid = 0;
  int state = 0;  // 0 runnable, 1 at warp barrier, 2 at block barrier, 3 done
  std::vector<char> stack;
};
struct Block {
  std::vector<Fiber> fibers;
  ucontext_t sched;
  Fiber* cur = nullptr;
  double shfl[2][1024];  // per-thread shuffle slots (two in flight: a and b)
  std::function<void()> body;
};
inline Block& block() { static Block b; return b; }
inline dim3& grid_dim() { static dim3 d; return d; }
inline dim3& block_dim() { static dim3 d; return d; }
inline dim3& block_idx() { static dim3 d; return d; }
inline dim3 thread_idx() { return dim3(block().cur->tid); }

inline void yield(int state) {
  Block& b = block();
  b.cur->state = state;
  swapcontext(&b.cur->ctx, &b.sched);
}
inline void entry() {
  block().body();
  block().cur->state = 3;
  // returning switches to uc_link (the scheduler)
}

inline void run_block() {
  Block& b = block();
  const unsigned n = block_dim().x;
  b.fibers.resize(n);
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = b.fibers[t];
    f.tid = t;
    f.state = 0;
    f.stack.resize(256 * 1024);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = &b.sched;
    makecontext(&f.ctx, entry, 0);
  }
  for (;;) {
    bool any_run = false;
    for (unsigned t = 0; t < n; ++t) {
      Fiber& f = b.fibers[t];
      if (f.state != 0) continue;
      any_run = true;
      b.cur = &f;
      swapcontext(&b.sched, &f.ctx);
    }
    // Release barriers whose participants have all arrived.
    bool all_done = true, released = false;
    bool block_all = true;
    for (unsigned t = 0; t < n; ++t) {
      if (b.fibers[t].state != 3) all_done = false;
      if (b.fibers[t].state != 2 && b.fibers[t].state != 3) block_all = false;
    }
    if (all_done) return;
    if (block_all) {
      for (auto& f : b.fibers) if (f.state == 2) { f.state = 0; released = true; }
    }
    for (unsigned w = 0; w * 32 < n; ++w) {
      bool warp_all = true, any_wait = false;
      for (unsigned t = w * 32; t < std::min(n, w * 32 + 32); ++t) {
        const int s = b.fibers[t].state;
        if (s == 1) any_wait = true;
        else if (s != 3) warp_all = false;
      }
      if (warp_all && any_wait)
        for (unsigned t = w * 32; t < std::min(n, w * 32 + 32); ++t)
          if (b.fibers[t].state == 1) { b.fibers[t].state = 0; released = true; }
    }
    if (!any_run && !released) abort();  // deadlock: a barrier not reached by all threads
  }
}

template <typename F>
cudaError_t launch(dim3 g, dim3 bl, F&& fn) {
  if (bl.x > 1024 || bl.x == 0 || g.x == 0) return set(cudaErrorInvalidValue);
  grid_dim() = g;
  block_dim() = bl;
  block().body = std::forward<F>(fn);
  for (unsigned i = 0; i < g.x; ++i) {
    block_idx() = dim3(i);
    run_block();
  }
  return cudaSuccess;
}
}  // namespace emu

#define threadIdx (emu::thread_idx())
#define blockIdx (emu::block_idx())
#define blockDim (emu::block_dim())
#define gridDim (emu::grid_dim())

inline void __syncthreads() { emu::yield(2); }
inline double __shfl_down_sync(unsigned, double v, int o) {
  emu::Block& b = emu::block();
  const unsigned t = b.cur->tid, lane = t & 31;
  // Two rounds per call: publish, wait for the warp, read, wait again so
  // the slot is not overwritten before every lane has read it.
  b.shfl[0][t] = v;
  emu::yield(1);
  const double r = lane + o < 32 ? b.shfl[0][t + o] : v;
  emu::yield(1);
  return r;
}

inline cudaError_t cudaGetLastError() { cudaError_t e = emu::last_error(); emu::last_error() = cudaSuccess; return e; }
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaErrorUnknown";
  }
}
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? "out of memory" : "emulated error";
}
inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : emu::set(cudaErrorInvalidDevice); }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 3; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::memset(p, 0, sizeof(*p));
  std::strcpy(p->name, "arelu CPU emulation of a CUDA device");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 3;
  p->totalGlobalMem = emu::total_mem();
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) { *t = emu::total_mem(); *f = *t - emu::used_mem(); return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = reinterpret_cast<cudaStream_t>(0x1); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (bytes > emu::total_mem() - emu::used_mem()) { *p = nullptr; return emu::set(cudaErrorMemoryAllocation); }
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return emu::set(cudaErrorMemoryAllocation);
  // Poison fresh device memory, as real memory holds garbage.
  std::memset(*p, 0xA5, bytes);
  emu::used_mem() += bytes;
  emu::allocs().push_back({*p, bytes});
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto& a = emu::allocs();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first == p) {
      emu::used_mem() -= a[i].second;
      a.erase(a.begin() + i);
      std::free(p);
      return cudaSuccess;
    }
  return emu::set(cudaErrorInvalidValue);
}
inline cudaError_t cudaMallocHost(void** p, size_t bytes) { *p = std::malloc(bytes); return *p ? cudaSuccess : emu::set(cudaErrorMemoryAllocation); }
inline cudaError_t cudaFreeHost(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaStreamAddCallback(cudaStream_t s, cudaStreamCallback_t cb, void* user, unsigned) {
  cb(s, cudaSuccess, user);
  return cudaSuccess;
}
template <typename A>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* b, void (*)(A), int, size_t) { *b = 2; return cudaSuccess; }
template <typename A>
cudaError_t cudaLaunchKernel(void (*fn)(A), dim3 g, dim3 bl, void** args, size_t, cudaStream_t) {
  using T = std::remove_cv_t<A>;
  const T a = *static_cast<T*>(args[0]);
  return emu::launch(g, bl, [fn, a] { fn(a); });
}
