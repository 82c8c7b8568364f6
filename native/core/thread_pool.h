// A small fixed pool of worker threads shared by the whole process (every
// addon instance, every worker_thread). One parallel job runs at a time; the
// calling thread takes part in it. A serial job (one task, max_threads 1, or
// a pool of one) runs on its caller at once, beside any other job. Which
// thread computes a task never affects a result: tasks write to slots indexed
// by task, and the driver combines them in a fixed order.
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

  ~ThreadPool();

 private:
  ThreadPool();
  void worker_main(int index);
  void stop_workers();

  std::mutex job_mu_;  // one job (or resize) at a time
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};
  unsigned long long generation_ = 0;
  bool stop_ = false;
  int participants_ = 0;  // workers taking part in the current job
  int busy_ = 0;          // workers still running the current job
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  size_t ntasks_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<unsigned long long> parallel_jobs_{0};
};

// The default size: ARELU_NUM_THREADS if set to a positive integer, else the
// hardware concurrency.
int default_thread_count();

}  // namespace arelu
