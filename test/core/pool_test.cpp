// The thread pool's hand-offs (native/core/thread_pool.h): jobs of 1-9 tasks
// from three threads at once, with helper counts that change from job to
// job and pool resizes in between, polled (ARELU_SPIN_US default) and
// blocking (ARELU_SPIN_US=0; ctest runs both). Every task must run exactly
// once, on a worker index below the pool size, and run() must not return
// before its last task ended; workers left out of a loop of small jobs must
// not keep polling. CI also runs it under ThreadSanitizer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "thread_pool.h"

namespace {

struct Job {
  std::vector<std::atomic<int>> hits;
  std::atomic<int> bad_worker{0};
  int threads;
  explicit Job(size_t n, int t) : hits(n), threads(t) {
    for (auto& h : hits) h.store(0);
  }
};

void task(void* ctx, size_t t, int worker) {
  Job* j = static_cast<Job*>(ctx);
  if (worker < 0 || worker >= j->threads) j->bad_worker.fetch_add(1);
  // A little work, so that helpers overlap and the caller often waits.
  volatile double s = 0;
  for (int i = 0; i < 200 * static_cast<int>(t % 3); ++i) s = s + i;
  j->hits[t].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

int main() {
  arelu::ThreadPool& pool = arelu::ThreadPool::instance();
  pool.set_threads(4);
  std::printf("spin window: %d us\n", arelu::spin_us());
  std::atomic<long> failures{0};
  auto caller = [&](int id) {
    for (int r = 0; r < 2000; ++r) {
      const size_t ntasks = 1 + (r * 7 + id) % 9;
      Job j(ntasks, 4);  // the pool has 2-4 threads in this phase
      pool.run(ntasks, 1 + (r + id) % 4, task, &j);
      for (auto& h : j.hits)
        if (h.load() != 1) failures.fetch_add(1);
      if (j.bad_worker.load() != 0) failures.fetch_add(1);
      if (id == 0 && r % 400 == 399) {
        pool.set_threads(2 + (r / 400) % 3);
      }
      if (r % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(r % 300));
    }
  };
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) callers.emplace_back(caller, i);
  for (auto& t : callers) t.join();
  // Worker indices against the final size, single caller.
  pool.set_threads(3);
  for (int r = 0; r < 500; ++r) {
    Job j(5, 3);
    pool.run(5, 0, task, &j);
    for (auto& h : j.hits)
      if (h.load() != 1) failures.fetch_add(1);
    if (j.bad_worker.load() != 0) failures.fetch_add(1);
  }
  // A loop of 2-task jobs on a pool of 4: one helper takes part, and only
  // it may keep polling; the two workers left out sleep.
  pool.set_threads(4);
  for (int r = 0; r < 50; ++r) {  // first every worker takes part (and then polls)
    Job j(4, 4);
    pool.run(4, 0, task, &j);
  }
  const unsigned long long left_out_before = pool.left_out_polls();
  for (int r = 0; r < 3000; ++r) {
    Job j(2, 4);
    pool.run(2, 0, task, &j);
    for (auto& h : j.hits)
      if (h.load() != 1) failures.fetch_add(1);
  }
  const unsigned long long left_out = pool.left_out_polls() - left_out_before;
  std::printf("2-task jobs on 4 threads: %d worker(s) polling after the loop; %llu polls after a job a worker sat out\n",
              pool.polling_workers(), left_out);
  if (left_out != 0) {
    std::printf("FAILED: workers left out of the jobs kept polling\n");
    failures.fetch_add(1);
  }
  std::printf("%llu parallel jobs, %ld failures\n", pool.parallel_jobs(), failures.load());
  if (failures.load() != 0) {
    std::printf("FAILED: see above (a task ran other than once or on a worker index past the pool size, or a left-out worker polled)\n");
    return 1;
  }
  std::printf("pool test passed\n");
  return 0;
}
