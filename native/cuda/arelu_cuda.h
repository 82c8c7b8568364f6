// The CUDA path as a plain C++ API (no Node and no CUDA headers here), so
// the N-API binding stays a thin translation layer. Every function returns a
// cudaError_t value as an int (0 = success); error_name() turns it into
// CUDA's own name ("cudaErrorMemoryAllocation"). Nothing here prints or
// aborts.
//
// Ordering: each device has one stream. Kernels, copies and callbacks are
// enqueued on it in call order, so work from successive calls never races.
// forward() and copy() only enqueue; backward(), upload() and download()
// wait for their own results; synchronize() waits for everything. No call
// holds a lock while it waits for the device, and every call restores the
// calling thread's current device.
//
// Errors: a non-sticky error (out of memory, invalid value) fails that call
// only. A sticky error (illegal address, launch failure: the CUDA context is
// then unusable for the rest of the process) marks the device dead: every
// later call on it returns that error at once.
#pragma once

#include <cstddef>
#include <string>

namespace arelu_cuda {

// What the runtime found at first use (cached; thread-safe).
struct Probe {
  int runtime_version = 0;  // e.g. 13000
  int driver_version = 0;   // 0 when no driver is installed
  int device_count = 0;
  int error = 0;            // of cudaGetDeviceCount (35: driver missing or too old)
};
const Probe& probe();

const char* error_name(int code);
const char* error_string(int code);
bool is_sticky_error(int code);

struct DeviceProps {
  std::string name;
  int major = 0, minor = 0;
  size_t total_memory = 0;
  int sm_count = 0;
};
int device_props(int device, DeviceProps* out);
int mem_info(int device, size_t* free_bytes, size_t* total_bytes);

// Device memory (cudaMalloc / cudaFree). A zero-byte buffer is a null pointer.
int buffer_alloc(int device, size_t bytes, void** ptr);
int buffer_free(int device, void* ptr);  // waits for the device's stream first

int upload(int device, void* dst, const void* src, size_t bytes);    // returns when done
int download(int device, void* dst, const void* src, size_t bytes);  // returns when done
int copy(int device, void* dst, const void* src, size_t bytes);      // enqueued
int synchronize(int device);

// Element i of x uses channel (i / inner) % channels; n % (channels * inner)
// == 0 when channels > 1 (the binding checks this with the CPU's rules).
struct Layout {
  size_t n = 0;
  size_t channels = 1;
  size_t inner = 1;
};

// y = AReLU(x) on the device; y may be x. alpha/beta: `channels` host floats.
int forward(int device, const float* x, float* y, const Layout& layout, const float* alpha,
            const float* beta);

// dx (may be x or g) and the parameter gradients, written to the host array
// sums = [dAlpha x channels, dBeta x channels] before it returns.
// Deterministic: the same inputs on the same device give bit-identical sums.
int backward(int device, const float* x, const float* g, float* dx, const Layout& layout,
             const float* alpha, const float* beta, double* sums);

// Asynchronous forms. On success (0) `done(status, user)` is called exactly
// once, from a CUDA callback thread, after the work and the host-side writes
// (dst, sums) are complete; status is a cudaError_t. On an error return,
// `done` is never called and nothing enqueued still writes to host memory.
using Done = void (*)(int status, void* user);
int forward_async(int device, const float* x, float* y, const Layout& layout, const float* alpha,
                  const float* beta, Done done, void* user);
int backward_async(int device, const float* x, const float* g, float* dx, const Layout& layout,
                   const float* alpha, const float* beta, double* sums, Done done, void* user);
// Device-to-host, stream-ordered: a device-side copy into a temporary at
// call time, then a helper thread copies it to dst (nothing blocks the
// caller). When no temporary fits: chunks through a ring of pinned slots,
// copied out to dst by a helper thread while the stream goes on.
int download_async(int device, void* dst, const void* src, size_t bytes, Done done, void* user);

// GPU-side timing for the benchmark: an event recorded on the device's
// stream after the work queued so far; elapsed milliseconds between two
// (waits for the later one).
int event_record(int device, void** event);
int event_elapsed_ms(void* start, void* stop, float* ms);
void event_destroy(void* event);

// For environment teardown: returns once no queued work, callback or
// download of a live device still writes to host memory.
void quiesce();

}  // namespace arelu_cuda
