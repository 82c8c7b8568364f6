// A small fixed pool of worker threads shared by the whole process (every
// addon instance, every worker_thread). One parallel job runs at a time; the
// calling thread takes part in it. A serial job (one task, max_threads 1, or
// a pool of one) runs on its caller at once, beside any other job. Which
// thread computes a task never affects a result: tasks write to slots indexed
// by task, and the driver combines them in a fixed order.
//
// Hand-offs spin before they sleep. Waking a thread parked on a condition
// variable cost 15 us back to back and 50-80 us after an idle gap on the
// development VM (bench/pool-latency.cpp), more than the work of a 256K
// call. So a worker that finished a job polls for the next one for up to
// spin_us() microseconds, and the caller polls for the workers' end of the
// job for as long, before either blocks. Back-to-back jobs (a training
// loop, a batch of calls) then start and end in well under a microsecond;
// an idle pool costs each worker at most one spin window per job.
// ARELU_SPIN_US sets the window (0: always block).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace arelu {

class ThreadPool {
 public:
  // fn(task, worker) for every task in [0, ntasks); worker < threads().
  using TaskFn = void (*)(void* ctx, size_t task, int worker);

  static ThreadPool& instance();

  // Total threads including the caller; n >= 1. Blocks while a job runs.
  void set_threads(int n);
  int threads();

  // Runs all tasks on at most max_threads threads (caller included) and
  // returns when every task is done.
  void run(size_t ntasks, int max_threads, TaskFn fn, void* ctx);

  // How many jobs woke worker threads so far (small jobs run inline and do
  // not count): lets tests check that small arrays wake nobody.
  unsigned long long parallel_jobs() const { return parallel_jobs_.load(); }

  // Whether a hand-off is cheap now: a worker is still polling after a job,
  // or a call that could have used the pool ended (note_call) less than a
  // spin window ago. Never with a spin window of 0, nor for 20 ms after
  // helpers came late to 3 of the last 8 jobs (their cores were busy).
  bool awake() const;
  void note_call();
  // Tests: workers polling for a job now; times a worker polled right after
  // a job it was left out of (never, by design).
  int polling_workers() const { return polling_.load(); }
  unsigned long long left_out_polls() const { return left_out_polls_.load(); }

  ~ThreadPool();

 private:
  ThreadPool();
  void worker_main(int index, unsigned long long seen);
  void stop_workers();

  std::mutex job_mu_;  // one job (or resize) at a time
  std::mutex mu_;      // guards the sleeping side of both hand-offs
  std::condition_variable cv_start_, cv_done_;
  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};
  // The current job's generation (high bits) and how many workers take
  // part in it (low kHelperBits), in one word so that a worker reads both
  // at once: a worker that sat out job G and lags may next see G + 1's
  // word, never G's generation with G + 1's helper count. The job's other
  // fields are written before the word is bumped (release) and read after a
  // worker sees the bump (acquire); they are rewritten only after every
  // helper of the job has counted itself out of busy_.
  static constexpr int kHelperBits = 24;
  std::atomic<unsigned long long> job_{0};
  std::atomic<bool> stop_{false};
  std::vector<char> asleep_;      // by worker index: blocked on cv_start_ (mu_)
  bool caller_sleeping_ = false;  // the caller blocked on cv_done_ (mu_)
  std::atomic<int> busy_{0};      // helpers still running the current job
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  size_t ntasks_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<unsigned long long> parallel_jobs_{0};
  std::atomic<int> polling_{0};                  // workers polling for a job
  std::atomic<unsigned long long> left_out_polls_{0};
  std::atomic<int> started_{0};  // workers that entered worker_main since the last resize
  std::atomic<long long> last_call_ns_{-(1LL << 62)};  // steady clock
  std::atomic<long long> late_until_ns_{-(1LL << 62)};  // helpers were late: awake() says no until then
  static constexpr long long kLateNs = 20000000;       // 20 ms
  static constexpr long long kLateSlackNs = 50000;     // 50 us
  unsigned late_history_ = 0;  // the last 8 judged jobs, 1 = late (job_mu_)
  long long last_job_end_ns_ = -(1LL << 62);  // steady clock (job_mu_)
  long long spin_ns_ = 0;
};

// Microseconds a hand-off polls before it blocks: ARELU_SPIN_US if set to
// an integer in [0, kMaxSpinUs], else 50.
int spin_us();

// The default size: ARELU_NUM_THREADS if set to an integer in [1,
// kMaxThreads], else the hardware concurrency.
int default_thread_count();

}  // namespace arelu
