// The CPU driver: splits an array into a fixed decomposition of pieces
// (independent of thread count and vector width), runs the current ISA's
// leaf kernels on the thread pool, and combines parameter-gradient partials
// in a fixed order. No Node headers; the addon and the C++ tests call this.
#pragma once

#include <cstddef>
#include <string>

namespace arelu {

// x has n = outer * channels * inner elements; element i uses channel
// (i / inner) % channels. Scalar parameters are channels == 1.
struct Layout {
  size_t n = 0;
  size_t channels = 1;
  size_t inner = 1;
};

// Empty string when the layout is consistent; otherwise what is wrong.
std::string check_layout(const Layout& layout);

// y = AReLU(x); alpha/beta hold `channels` float32 parameters. y may be x.
// Throws std::bad_alloc only; layouts must pass check_layout first.
void cpu_forward(const float* x, float* y, const Layout& layout, const float* alpha,
                 const float* beta);

// dx and the parameter gradients (arrays of `channels` doubles). dx may be x
// or g. dAlpha/dBeta are bit-identical for any thread count and ISA.
void cpu_backward(const float* x, const float* g, float* dx, const Layout& layout,
                  const float* alpha, const float* beta, double* dalpha, double* dbeta);

// memcpy split over the thread pool: the bandwidth baseline of the bench.
void cpu_parallel_copy(void* dst, const void* src, size_t bytes);

// Threads used by the driver (the pool's size), and when a call uses them.
// Below kSerialBelow* a call stays on the calling thread; from the idle
// threshold up it always uses the pool; in between only while the pool is
// awake (ThreadPool::awake: its threads still polling after a job, or a
// call of that size ended less than a spin window ago, as in a loop of
// calls). A polled hand-off costs under 1 us, and 2 threads then take
// 0.55-0.85x the time of one from 64K elements (bench/RESULTS.md, fifth and
// eleventh sessions). Waking sleeping threads costs a fixed w (15-80 us on
// the development VMs, more after longer gaps), which a call of serial time
// t split over T threads repays when t/T + w < t, i.e. t > w * T / (T - 1):
// kIdleSerialBelow* are the sizes where that holds for 2 threads (measured
// on the Zen 4 VM with 1-20 ms gaps: bench/threads-crossover.js --idle,
// bench/RESULTS.md "Twelfth session"), and idle_serial_below scales them by
// T / (2 (T - 1)) for T threads (a model: half of them from many threads;
// unmeasured beyond 2), never below kSerialBelow*.
size_t idle_serial_below(size_t two_thread_threshold, size_t serial_below, int threads);
// The idle thresholds for the pool's current size.
size_t cpu_idle_serial_below_forward();
size_t cpu_idle_serial_below_backward();
int cpu_threads();
unsigned long long cpu_parallel_jobs();
// Per-channel coefficient tables built so far (each an exp per channel); a
// call whose workspace holds the same parameters' bits builds none.
unsigned long long cpu_coefficient_builds();
int cpu_spin_us();  // how long the pool's hand-offs poll before blocking (ARELU_SPIN_US)
void cpu_set_threads(int n);
// The accepted ranges of the pool's size (ARELU_NUM_THREADS, setNumThreads:
// 1 to kMaxThreads) and of ARELU_SPIN_US (0 to kMaxSpinUs microseconds).
constexpr int kMaxThreads = 1024;
constexpr int kMaxSpinUs = 100000;
#if defined(ARELU_SERIAL_BELOW)  // a measurement build (CMake ARELU_SERIAL_BELOW)
constexpr size_t kSerialBelowForward = ARELU_SERIAL_BELOW;
constexpr size_t kSerialBelowBackward = ARELU_SERIAL_BELOW;
constexpr size_t kIdleSerialBelowForward = ARELU_SERIAL_BELOW;
constexpr size_t kIdleSerialBelowBackward = ARELU_SERIAL_BELOW;
#else
constexpr size_t kSerialBelowForward = size_t(1) << 16;
constexpr size_t kSerialBelowBackward = size_t(1) << 16;
constexpr size_t kIdleSerialBelowForward = size_t(1) << 21;   // for 2 threads
constexpr size_t kIdleSerialBelowBackward = size_t(1) << 20;  // for 2 threads
#endif

}  // namespace arelu
