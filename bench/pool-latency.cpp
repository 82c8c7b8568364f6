// What a hand-off to the thread pool costs (native/core/thread_pool.h): a job
// of 2 tasks on a pool of 2 threads, with no work or a little, after gaps of
// 0 to 2000 us between jobs (the pool's threads poll for ARELU_SPIN_US after
// a job, then sleep). Medians and spread of 2000 jobs per row.
//   g++ -O2 -pthread -Inative/core bench/pool-latency.cpp native/core/thread_pool.cpp -o /tmp/pool-latency
//   /tmp/pool-latency [WORK]          (ARELU_SPIN_US=0 for always-sleeping threads)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "thread_pool.h"

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
struct Ctx {
  int work;
};
void task(void* c, size_t, int) {
  const int w = static_cast<Ctx*>(c)->work;
  volatile double s = 0;
  for (int i = 0; i < w; ++i) s = s + i * 0.5;
}
}  // namespace

int main(int argc, char** argv) {
  arelu::ThreadPool& pool = arelu::ThreadPool::instance();
  pool.set_threads(2);
  Ctx ctx{argc > 1 ? std::atoi(argv[1]) : 0};
  std::printf("spin window %d us; job of 2 tasks, %d iterations of work each\n", arelu::spin_us(), ctx.work);
  for (int gap : {0, 20, 200, 2000}) {
    std::vector<double> t;
    for (int r = 0; r < 2000; ++r) {
      const double g0 = now();
      while ((now() - g0) * 1e6 < gap) {
      }
      const double t0 = now();
      pool.run(2, 2, task, &ctx);
      t.push_back((now() - t0) * 1e6);
    }
    std::sort(t.begin(), t.end());
    std::printf("  gap %4d us between jobs: median %7.2f us, p10 %7.2f, p90 %7.2f\n", gap, t[1000], t[200], t[1800]);
  }
  return 0;
}
