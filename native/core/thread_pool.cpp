#include "thread_pool.h"

#include <cstdlib>
#include <algorithm>

namespace arelu {

int default_thread_count() {
  if (const char* env = std::getenv("ARELU_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

ThreadPool& ThreadPool::instance() {
  // Leaked on purpose: worker threads must not be joined from static
  // destructors that run after the runtime started tearing down.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() { set_threads(default_thread_count()); }

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  stop_ = false;
}

void ThreadPool::set_threads(int n) {
  if (n < 1) n = 1;
  std::lock_guard<std::mutex> job(job_mu_);
  if (n == threads_ && static_cast<int>(workers_.size()) == n - 1) return;
  stop_workers();
  threads_ = n;
  workers_.reserve(n - 1);
  for (int i = 0; i < n - 1; ++i) workers_.emplace_back(&ThreadPool::worker_main, this, i + 1);
}

int ThreadPool::threads() { return threads_.load(); }

void ThreadPool::worker_main(int index) {
  unsigned long long seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_start_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index > participants_) continue;
    }
    for (size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < ntasks_;)
      fn_(ctx_, t, index);
    std::lock_guard<std::mutex> lk(mu_);
    if (--busy_ == 0) cv_done_.notify_one();
  }
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
  {
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = fn;
    ctx_ = ctx;
    ntasks_ = ntasks;
    next_.store(0, std::memory_order_relaxed);
    participants_ = helpers;
    busy_ = helpers;
    ++generation_;
  }
  parallel_jobs_.fetch_add(1);
  cv_start_.notify_all();
  for (size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < ntasks;) fn(ctx, t, 0);
  std::unique_lock<std::mutex> lk(mu_);
  cv_done_.wait(lk, [&] { return busy_ == 0; });
}

}  // namespace arelu
