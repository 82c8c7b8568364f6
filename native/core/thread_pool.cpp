#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "arelu_cpu.h"

namespace arelu {

namespace {

// The integer in environment variable `name` if it is one in [lo, hi],
// else `fallback` (the addon reports a bad value at load).
long env_integer(const char* name, long lo, long hi, long fallback) {
  const char* env = std::getenv(name);
  if (env == nullptr) return fallback;
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  return end != env && *end == '\0' && v >= lo && v <= hi ? v : fallback;
}

}  // namespace

int default_thread_count() {
  const unsigned hc = std::thread::hardware_concurrency();
  return static_cast<int>(env_integer("ARELU_NUM_THREADS", 1, kMaxThreads, hc == 0 ? 1 : static_cast<long>(hc)));
}

int spin_us() { return static_cast<int>(env_integer("ARELU_SPIN_US", 0, kMaxSpinUs, 50)); }

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Polls done() for up to ns nanoseconds; returns its last value.
template <class Done>
bool spin_until(Done done, long long ns) {
  if (ns <= 0) return done();
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() - t0 > std::chrono::nanoseconds(ns)) return done();
  }
}

}  // namespace

ThreadPool& ThreadPool::instance() {
  // Leaked on purpose: worker threads must not be joined from static
  // destructors that run after the runtime started tearing down.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() : spin_ns_(1000LL * spin_us()) { set_threads(default_thread_count()); }

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  stop_.store(false);
}

void ThreadPool::set_threads(int n) {
  if (n < 1) n = 1;
  std::lock_guard<std::mutex> job(job_mu_);
  if (n == threads_ && static_cast<int>(workers_.size()) == n - 1) return;
  stop_workers();
  started_.store(0);
  threads_ = n;
  asleep_.assign(static_cast<size_t>(n), 0);
  workers_.reserve(n - 1);
  // No job runs while job_mu_ is held: a new worker starts from the
  // current generation and waits for the next one.
  const unsigned long long current = job_.load();
  for (int i = 0; i < n - 1; ++i) workers_.emplace_back(&ThreadPool::worker_main, this, i + 1, current);
}

int ThreadPool::threads() { return threads_.load(); }

void ThreadPool::worker_main(int index, unsigned long long seen) {
  // A worker polls only after a job it took part in: one left out of a job
  // (the job had fewer tasks than the pool has threads) sleeps, so a loop of
  // small jobs on a large pool keeps only its helpers polling.
  bool polls = true, left_out = false;
  started_.fetch_add(1, std::memory_order_release);
  for (;;) {
    auto changed = [&] { return stop_.load(std::memory_order_acquire) || job_.load(std::memory_order_acquire) != seen; };
    bool found = false;
    if (polls) {
      if (left_out) left_out_polls_.fetch_add(1, std::memory_order_relaxed);
      polling_.fetch_add(1, std::memory_order_relaxed);
      found = spin_until(changed, spin_ns_);
      polling_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (!found) {
      std::unique_lock<std::mutex> lk(mu_);
      asleep_[index] = 1;
      cv_start_.wait(lk, changed);
      asleep_[index] = 0;
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = job_.load(std::memory_order_acquire);
    const int helpers = static_cast<int>(seen & ((1ull << kHelperBits) - 1));
    left_out = index > helpers;
    polls = !left_out;
    if (left_out) continue;
    for (size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < ntasks_;)
      fn_(ctx_, t, index);
    if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The last helper out: wake the caller if it stopped polling.
      std::lock_guard<std::mutex> lk(mu_);
      if (caller_sleeping_) cv_done_.notify_one();
    }
  }
}

namespace {
long long steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool ThreadPool::awake() const {
  if (spin_ns_ <= 0) return false;
  const long long now = steady_ns();
  if (now < late_until_ns_.load(std::memory_order_relaxed)) return false;
  return polling_.load(std::memory_order_relaxed) > 0 || now - last_call_ns_.load(std::memory_order_relaxed) < spin_ns_;
}

void ThreadPool::note_call() {
  if (spin_ns_ > 0) last_call_ns_.store(steady_ns(), std::memory_order_relaxed);
}

void ThreadPool::run(size_t ntasks, int max_threads, TaskFn fn, void* ctx) {
  if (ntasks == 0) return;
  // A serial job runs on the caller without the job lock: small calls from
  // several threads (worker_threads, async calls) do not wait on each other.
  if (ntasks == 1 || max_threads == 1 || threads_.load() == 1) {
    for (size_t t = 0; t < ntasks; ++t) fn(ctx, t, 0);
    return;
  }
  std::lock_guard<std::mutex> job(job_mu_);
  int helpers = std::min<long long>(static_cast<long long>(workers_.size()),
                                    static_cast<long long>(ntasks) - 1);
  if (max_threads >= 1) helpers = std::min(helpers, max_threads - 1);
  if (helpers <= 0) {
    for (size_t t = 0; t < ntasks; ++t) fn(ctx, t, 0);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  ntasks_ = ntasks;
  next_.store(0, std::memory_order_relaxed);
  busy_.store(helpers, std::memory_order_relaxed);
  bool wake = false;
  {
    // Under mu_, so that a worker about to block either sees the new
    // generation in its wait predicate or is already marked asleep.
    std::lock_guard<std::mutex> lk(mu_);
    const unsigned long long gen = (job_.load(std::memory_order_relaxed) >> kHelperBits) + 1;
    job_.store(gen << kHelperBits | static_cast<unsigned long long>(helpers), std::memory_order_release);
    for (int i = 1; i <= helpers; ++i) wake = wake || asleep_[static_cast<size_t>(i)] != 0;
  }
  // Whether this job can tell contention: every worker has started (after
  // a resize, the first jobs wait for threads being created), and no helper
  // had to be woken, unless the previous job ended within half a spin
  // window (a helper that should still have been polling was asleep: its
  // poll ran out while it waited for its core).
  const long long start = steady_ns();
  const bool judged = started_.load(std::memory_order_acquire) == static_cast<int>(workers_.size()) &&
                      (!wake || start - last_job_end_ns_ < spin_ns_ / 2);
  parallel_jobs_.fetch_add(1);
  if (wake) cv_start_.notify_all();
  for (size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < ntasks;) fn(ctx, t, 0);
  const long long t1 = steady_ns();
  auto done = [&] { return busy_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done, spin_ns_)) {
    std::unique_lock<std::mutex> lk(mu_);
    caller_sleeping_ = true;
    cv_done_.wait(lk, done);
    caller_sleeping_ = false;
  }
  // Tasks are taken one at a time, so a polling helper ends at most one
  // task after the caller's last. Waiting longer than the caller's whole
  // share means a helper did not run: its core is busy with other work
  // (another process, a sibling pool). When 3 of the last 8 judged jobs
  // were late, mid-size calls stay on their thread for kLateNs (awake()
  // says no): on a loaded 2-vCPU VM, 256K backward took 2.5x its serial
  // time through the pool. A lone late job (a runtime's GC thread taking
  // the core for a moment) does not trigger it.
  const long long t2 = steady_ns();
  last_job_end_ns_ = t2;
  if (judged) {
    const bool late = t2 - t1 > std::max(t1 - start, kLateSlackNs);
    late_history_ = ((late_history_ << 1) | (late ? 1u : 0u)) & 0xffu;
    if (late && __builtin_popcount(late_history_) >= 3) {
      late_history_ = 0;
      late_until_ns_.store(t2 + kLateNs, std::memory_order_relaxed);
    }
  }
}

}  // namespace arelu
