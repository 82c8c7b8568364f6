// A CPU stand-in for the parts of the CUDA runtime that native/cuda uses,
// so that the real kernels and host code of arelu_cuda.cu can run, and be
// tested, on a machine without a GPU (see build.sh). Not a CUDA emulator in
// general: it runs each block's threads as cooperative fibers (ucontext)
// that switch only at __syncthreads() and warp shuffles, one block after
// another; __shared__ variables become statics (shared by the block that
// runs); memory is host memory.
// Streams are real: each has its own worker thread that runs its kernels,
// copies, host callbacks and event waits in order, so host code sees the
// asynchrony of a GPU. The rules follow CUDA's "API synchronization
// behavior": a copy between device memory and pinned memory (cudaMallocHost)
// is queued; a copy from pageable memory to the device stages the source
// first; a copy to pageable memory returns once done; cudaFree waits for
// every stream. After queueing a host callback the caller waits a little
// (ARELU_EMU_CALLBACK_WAIT_MS, default 2) so that a callback queued on an
// idle stream usually runs before cudaStreamAddCallback returns, as it can
// on a fast GPU. The device has 16 GiB (ARELU_EMU_MEM bytes to change it),
// so the 2^31+ element tests fit when the host has the memory (cudaMalloc is
// host malloc, poisoned). ARELU_TEST_FAIL_LAUNCH=k makes the k-th kernel
// launch fail with cudaErrorIllegalAddress, a sticky error that every later
// call returns, as a real context does (ARELU_TEST_FAULT_MS: slowly). Enough to check indexing,
// reductions, barriers and the host-side logic; it says nothing about speed
// or about memory-model races inside a kernel.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <map>
#include <memory>
#include <thread>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <typeinfo>
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
template <typename T> inline T __ldcg(const T* p) { return *p; }
// Blocks run one after another on the stream's thread: plain operations.
inline unsigned atomicAdd(unsigned* p, unsigned v) { const unsigned old = *p; *p = old + v; return old; }
inline void __threadfence() {}
using std::min;
using std::max;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount, cudaDevAttrMemoryPoolsSupported, cudaDevAttrUnifiedAddressing };
namespace emu { struct Stream; struct Event; }
typedef emu::Stream* cudaStream_t;
typedef emu::Event* cudaEvent_t;
constexpr unsigned cudaEventBlockingSync = 1;
constexpr unsigned cudaEventDisableTiming = 2;
constexpr unsigned cudaStreamNonBlocking = 1;
struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount;
  size_t totalGlobalMem;
};
typedef void (*cudaStreamCallback_t)(cudaStream_t, cudaError_t, void*);
typedef void (*cudaHostFn_t)(void*);

namespace emu {
// Device size and state, adjustable by tests through the environment.
inline size_t total_mem() {
  static size_t t = getenv("ARELU_EMU_MEM") ? strtoull(getenv("ARELU_EMU_MEM"), nullptr, 10) : (size_t(16) << 30);
  return t;
}
inline std::mutex& mem_mu() { static std::mutex m; return m; }
// ARELU_EMU_DEVICES=n: n devices (default 1), each with its own memory.
inline int device_count() {
  static int n = getenv("ARELU_EMU_DEVICES") ? std::max(1, atoi(getenv("ARELU_EMU_DEVICES"))) : 1;
  return n;
}
inline size_t& used_mem(int device) { static size_t u[64] = {}; return u[device]; }
struct Alloc { void* p; size_t bytes; int device; };
inline std::vector<Alloc>& allocs() { static std::vector<Alloc> a; return a; }
inline std::map<const char*, size_t>& pinned() { static std::map<const char*, size_t> p; return p; }
// The last error is per thread, as in CUDA; a sticky error is per context.
inline cudaError_t& last_error() { thread_local cudaError_t e = cudaSuccess; return e; }
inline std::atomic<int>& sticky() { static std::atomic<int> e{0}; return e; }
inline cudaError_t set(cudaError_t e) { if (e != cudaSuccess) last_error() = e; return e; }
// Every API call starts here: a sticky error is returned by every call.
inline cudaError_t check_sticky() {
  const int e = sticky().load();
  return e ? set(static_cast<cudaError_t>(e)) : cudaSuccess;
}
inline bool is_pinned(const void* p, size_t n) {
  std::lock_guard<std::mutex> l(mem_mu());
  const char* c = static_cast<const char*>(p);
  auto it = pinned().upper_bound(c);
  if (it == pinned().begin()) return false;
  --it;
  return it->first <= c && c + n <= it->first + it->second;
}

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

// arelu_cuda.cu's host-side copies of downloaded data: ARELU_EMU_HOST_COPY_MS=t
// makes each take t ms more, to show which thread waits for them.
namespace emu {
inline void* host_copy(void* d, const void* s, size_t n) {
  static int ms = getenv("ARELU_EMU_HOST_COPY_MS") ? atoi(getenv("ARELU_EMU_HOST_COPY_MS")) : 0;
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return std::memcpy(d, s, n);
}
}  // namespace emu
#define ARELU_HOST_COPY emu::host_copy

#define threadIdx (emu::thread_idx())
#define blockIdx (emu::block_idx())
#define blockDim (emu::block_dim())
#define gridDim (emu::grid_dim())

inline void __syncthreads() { emu::yield(2); }
inline double __shfl_down_sync(unsigned, double v, int o, int width = 32) {
  emu::Block& b = emu::block();
  const unsigned t = b.cur->tid, lane = t & 31;
  // Two rounds per call: publish, wait for the warp, read, wait again so
  // the slot is not overwritten before every lane has read it. A lane whose
  // source is past its segment of `width` lanes keeps its own value.
  b.shfl[0][t] = v;
  emu::yield(1);
  const double r = (lane % width) + o < unsigned(width) ? b.shfl[0][t + o] : v;
  emu::yield(1);
  return r;
}

// ---- streams: one worker thread each, running queued work in order ----
namespace emu {
inline std::mutex& kernel_mu() { static std::mutex m; return m; }  // the fibers' state is global

struct Stream {
  int device = 0;  // current when it was created
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> q;
  uint64_t queued = 0, finished = 0;
  Stream() { std::thread([this] { run(); }).detach(); }
  uint64_t push(std::function<void()> f) {
    std::lock_guard<std::mutex> l(mu);
    q.push_back(std::move(f));
    cv.notify_all();
    return ++queued;
  }
  void wait(uint64_t ticket) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return finished >= ticket; });
  }
  bool wait_for(uint64_t ticket, int ms) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return finished >= ticket; });
  }
  void sync() {
    uint64_t t;
    { std::lock_guard<std::mutex> l(mu); t = queued; }
    wait(t);
  }
  void run() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return !q.empty(); });
        f = std::move(q.front());
        q.pop_front();
      }
      f();
      std::lock_guard<std::mutex> l(mu);
      ++finished;
      cv.notify_all();
    }
  }
};
inline std::mutex& streams_mu() { static std::mutex m; return m; }
inline std::vector<Stream*>& streams() { static std::vector<Stream*> v; return v; }
inline void sync_all() {
  std::vector<Stream*> v;
  { std::lock_guard<std::mutex> l(streams_mu()); v = streams(); }
  for (Stream* s : v) s->sync();
}
struct Event {
  Stream* stream = nullptr;
  uint64_t ticket = 0;
  std::chrono::steady_clock::time_point at;  // when the stream reached it
};
inline int callback_wait_ms() {
  static int ms = getenv("ARELU_EMU_CALLBACK_WAIT_MS") ? atoi(getenv("ARELU_EMU_CALLBACK_WAIT_MS")) : 2;
  return ms;
}
inline long fail_launch() {
  static long k = getenv("ARELU_TEST_FAIL_LAUNCH") ? atol(getenv("ARELU_TEST_FAIL_LAUNCH")) : 0;
  return k;
}
// ARELU_TEST_FAULT_MS=t: the faulting launch runs t ms before it faults, and
// its stream then stalls another t ms (a context in trouble), so work can be
// queued behind the fault and the callbacks behind it come late.
inline int fault_ms() {
  static int t = getenv("ARELU_TEST_FAULT_MS") ? atoi(getenv("ARELU_TEST_FAULT_MS")) : 0;
  return t;
}
inline std::atomic<long>& launches() { static std::atomic<long> n{0}; return n; }
// ARELU_EMU_TRACE=file: a line per kernel launch, when it is queued: the
// type of the kernel's argument (KArgs: a first pass; RArgs: the separate
// second pass) and the grid size.
inline void trace_launch(const char* arg_type, unsigned grid) {
  static FILE* f = getenv("ARELU_EMU_TRACE") ? fopen(getenv("ARELU_EMU_TRACE"), "a") : nullptr;
  static std::mutex m;
  if (f == nullptr) return;
  std::lock_guard<std::mutex> l(m);
  fprintf(f, "launch %s grid %u\n", arg_type, grid);
  fflush(f);
}
}  // namespace emu

#define EMU_STICKY() \
  do { if (cudaError_t e_ = emu::check_sticky()) return e_; } while (0)

inline cudaError_t cudaGetLastError() {
  const int st = emu::sticky().load();
  const cudaError_t e = emu::last_error();
  emu::last_error() = cudaSuccess;
  return st ? static_cast<cudaError_t>(st) : e;
}
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? "out of memory"
         : e == cudaErrorIllegalAddress ? "an illegal memory access was encountered (emulated)"
                                        : "emulated error";
}
inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = emu::device_count(); return cudaSuccess; }
// The calling thread's current device; -1 models "never set" (device 0 by default).
inline int& emu_current_device() { thread_local int d = 0; return d; }
inline cudaError_t cudaSetDevice(int d) {
  if (d < 0 || d >= emu::device_count()) return emu::set(cudaErrorInvalidDevice);
  emu_current_device() = d;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) { *d = emu_current_device(); return cudaSuccess; }
// ARELU_EMU_NO_POOLS=1: a device without stream-ordered allocation.
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  if (a == cudaDevAttrMultiProcessorCount) *v = 3;
  else if (a == cudaDevAttrUnifiedAddressing) *v = 1;  // host memory is device memory here
  else *v = getenv("ARELU_EMU_NO_POOLS") ? 0 : 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::memset(p, 0, sizeof(*p));
  std::strcpy(p->name, "arelu CPU emulation of a CUDA device");  // the tests look for "emulation"
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 3;
  p->totalGlobalMem = emu::total_mem();
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
  EMU_STICKY();
  std::lock_guard<std::mutex> l(emu::mem_mu());
  *t = emu::total_mem();
  *f = *t - emu::used_mem(emu_current_device());
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  EMU_STICKY();
  *s = new emu::Stream();
  (*s)->device = emu_current_device();
  std::lock_guard<std::mutex> l(emu::streams_mu());
  emu::streams().push_back(*s);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  s->sync();
  EMU_STICKY();
  return cudaSuccess;
}
inline cudaError_t cudaStreamQuery(cudaStream_t s) {
  EMU_STICKY();
  std::lock_guard<std::mutex> l(s->mu);
  return s->finished == s->queued ? cudaSuccess : cudaErrorNotReady;
}
inline cudaError_t cudaDeviceSynchronize() {
  emu::sync_all();
  EMU_STICKY();
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  EMU_STICKY();
  {
    std::lock_guard<std::mutex> l(emu::mem_mu());
    const int dev = emu_current_device();
    if (bytes > emu::total_mem() - emu::used_mem(dev)) return emu::set(cudaErrorMemoryAllocation);
    *p = std::malloc(bytes ? bytes : 1);
    if (!*p) return emu::set(cudaErrorMemoryAllocation);
    emu::used_mem(dev) += bytes;
    emu::allocs().push_back({*p, bytes, dev});
  }
  // Poison fresh device memory, as real memory holds garbage.
  std::memset(*p, 0xA5, bytes);
  return cudaSuccess;
}
inline cudaError_t emu_release(void* p) {
  std::lock_guard<std::mutex> l(emu::mem_mu());
  auto& a = emu::allocs();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].p == p) {
      emu::used_mem(a[i].device) -= a[i].bytes;
      a.erase(a.begin() + i);
      std::free(p);
      return cudaSuccess;
    }
  return cudaErrorInvalidValue;
}
// cudaFree waits for all work on the device (implicit synchronization).
inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  emu::sync_all();
  EMU_STICKY();
  return emu::set(emu_release(p));
}
// Stream-ordered allocation: usable by work queued after it on any stream
// ordered behind it; the free happens when the stream reaches it.
inline cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t s) {
  EMU_STICKY();
  if (!p) return cudaSuccess;
  s->push([p] { (void)emu_release(p); });
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int v, size_t n) {
  EMU_STICKY();
  emu::sync_all();
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** p, size_t bytes) {
  EMU_STICKY();
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return emu::set(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> l(emu::mem_mu());
  emu::pinned()[static_cast<const char*>(*p)] = bytes;
  return cudaSuccess;
}
inline cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  emu::sync_all();
  {
    std::lock_guard<std::mutex> l(emu::mem_mu());
    emu::pinned().erase(static_cast<const char*>(p));
  }
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind kind, cudaStream_t st) {
  EMU_STICKY();
  if (n == 0) return cudaSuccess;
  if (kind == cudaMemcpyHostToDevice && !emu::is_pinned(s, n) && n > (size_t(64) << 20)) {
    // A large pageable source: the driver may synchronize and copy.
    st->sync();
    EMU_STICKY();
    std::memcpy(d, s, n);
    return cudaSuccess;
  }
  if (kind == cudaMemcpyHostToDevice && !emu::is_pinned(s, n)) {
    // Pageable source: staged now, copied in stream order.
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(s), static_cast<const char*>(s) + n);
    st->push([d, staged] { if (!emu::sticky().load()) std::memcpy(d, staged->data(), staged->size()); });
    return cudaSuccess;
  }
  if (kind == cudaMemcpyDeviceToHost && !emu::is_pinned(d, n)) {
    // Pageable destination: returns once the copy is done.
    st->push([d, s, n] { if (!emu::sticky().load()) std::memmove(d, s, n); });
    st->sync();
    EMU_STICKY();
    return cudaSuccess;
  }
  st->push([d, s, n] { if (!emu::sticky().load()) std::memmove(d, s, n); });
  return cudaSuccess;
}
inline cudaError_t cudaStreamAddCallback(cudaStream_t s, cudaStreamCallback_t cb, void* user, unsigned) {
  EMU_STICKY();
  const uint64_t t = s->push([s, cb, user] { cb(s, static_cast<cudaError_t>(emu::sticky().load()), user); });
  // Let a callback on an idle stream run before this returns, as it may on a GPU.
  if (emu::callback_wait_ms() > 0) (void)s->wait_for(t, emu::callback_wait_ms());
  return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  EMU_STICKY();
  *e = new emu::Event();
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  EMU_STICKY();
  e->stream = s;
  e->ticket = s->push([e] { e->at = std::chrono::steady_clock::now(); });
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (e->stream) e->stream->wait(e->ticket);
  EMU_STICKY();
  return cudaSuccess;
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) {
  EMU_STICKY();
  if (e->stream == nullptr) return cudaSuccess;
  std::lock_guard<std::mutex> l(e->stream->mu);
  return e->stream->finished >= e->ticket ? cudaSuccess : cudaErrorNotReady;
}
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  EMU_STICKY();
  if (!a->stream || !b->stream) return emu::set(cudaErrorInvalidValue);
  a->stream->wait(a->ticket);
  b->stream->wait(b->ticket);
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned = 0) {
  EMU_STICKY();
  if (e->stream && e->stream != s) {
    emu::Stream* other = e->stream;
    const uint64_t t = e->ticket;
    s->push([other, t] { other->wait(t); });
  }
  return cudaSuccess;
}
template <typename A>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* b, void (*)(A), int, size_t) { *b = 2; return cudaSuccess; }
template <typename A>
cudaError_t cudaLaunchKernel(void (*fn)(A), dim3 g, dim3 bl, void** args, size_t, cudaStream_t s) {
  EMU_STICKY();
  if (bl.x > 1024 || bl.x == 0 || g.x == 0) return emu::set(cudaErrorInvalidValue);
  // As on a GPU: a kernel runs on the current device, so its stream must be one of it.
  if (s->device != emu_current_device()) return emu::set(cudaErrorInvalidResourceHandle);
  using T = std::remove_cv_t<A>;
  emu::trace_launch(typeid(T).name(), g.x);
  const T a = *static_cast<T*>(args[0]);
  const long k = ++emu::launches();
  s->push([fn, a, g, bl, k] {
    if (emu::sticky().load()) return;
    if (k == emu::fail_launch()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(emu::fault_ms()));
      emu::sticky().store(cudaErrorIllegalAddress);
      std::this_thread::sleep_for(std::chrono::milliseconds(emu::fault_ms()));
      return;
    }
    std::lock_guard<std::mutex> l(emu::kernel_mu());
    emu::launch(g, bl, [fn, a] { fn(a); });
  });
  return cudaSuccess;
}
