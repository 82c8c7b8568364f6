// A/B of two builds of the CPU core (native/core) in one process: both are
// loaded with dlopen (RTLD_LOCAL, so their equal symbol names do not clash)
// and called in alternating rounds (which build goes first alternates too),
// per-channel and scalar-parameter backward on the same arrays; medians of
// 31 rounds. On a VM whose speed drifts by 2x within minutes, two builds
// timed in separate processes cannot be compared to 10%; this can.
// Build and run with bench/kernel-ab/core-ab.sh (AB_OP=forward times
// cpu_forward instead).
//   core-ab OLD.so NEW.so N C INNER [threads]   (C = 1: scalar parameters)
#include <dlfcn.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>
#include "arelu_cpu.h"
using Bwd = void (*)(const float*, const float*, float*, const arelu::Layout&, const float*, const float*, double*, double*);
using Fwd = void (*)(const float*, float*, const arelu::Layout&, const float*, const float*);
using Thr = void (*)(int);
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc, char** argv) {
  Bwd b[2]; Fwd f[2]; Thr th[2];
  const bool fwd = getenv("AB_OP") && std::string(getenv("AB_OP")) == "forward";
  // AB_SWAP=1 loads NEW before OLD (the labels stay). When each library's
  // pool started right after its load, the library loaded second was
  // consistently slower for some layouts (HEAD against HEAD: 1.10x at 256K
  // NHWC with 512 channels); the pools now start after both loads (0.98-1.01
  // for identical code), and core-ab.sh runs both orders anyway.
  const bool swap = getenv("AB_SWAP") && std::string(getenv("AB_SWAP")) == "1";
  for (int j = 0; j < 2; ++j) {
    const int k = swap ? 1 - j : j;
    void* h = dlopen(argv[1 + k], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("%s\n", dlerror()); return 1; }
    b[k] = (Bwd)dlsym(h, "_ZN5arelu12cpu_backwardEPKfS1_PfRKNS_6LayoutES1_S1_PdS6_");
    f[k] = (Fwd)dlsym(h, "_ZN5arelu11cpu_forwardEPKfPfRKNS_6LayoutES1_S1_");
    th[k] = (Thr)dlsym(h, "_ZN5arelu15cpu_set_threadsEi");
    if (!b[k] || !f[k] || !th[k]) { printf("dlsym failed\n"); return 1; }
  }
  for (int k = 0; k < 2; ++k) th[k](argc > 6 ? atoi(argv[6]) : 1);
  size_t n = strtoull(argv[3], 0, 10), C = strtoull(argv[4], 0, 10), inner = strtoull(argv[5], 0, 10);
  std::vector<float> x(n), g(n), dx(n), al(C, 0.4f), be(C, 1.2f);
  std::mt19937 rng(1); std::normal_distribution<float> d;
  for (size_t i = 0; i < n; ++i) x[i] = d(rng), g[i] = d(rng);
  std::vector<double> da(C), db(C);
  arelu::Layout l{n, C, inner}, u{n, 1, 1};
  int reps = std::max<size_t>(3, 3000000 / n);
  std::vector<double> t[4];
  for (int r = 0; r < 31; ++r)
    for (int v = 0; v < 4; ++v) {
      const int k = (r % 2) ? 1 - v / 2 : v / 2;  // alternate which build goes first
      const arelu::Layout& lay = (v % 2) ? u : l;
      double t0 = now();
      if (fwd)
        for (int q = 0; q < reps; ++q) f[k](x.data(), dx.data(), lay, al.data(), be.data());
      else
        for (int q = 0; q < reps; ++q) b[k](x.data(), g.data(), dx.data(), lay, al.data(), be.data(), da.data(), db.data());
      t[2 * k + v % 2].push_back((now() - t0) / reps);
    }
  for (auto& v : t) std::sort(v.begin(), v.end());
  printf("%s%s n=%zu C=%zu inner=%zu: old %.1f us (uniform %.1f), new %.1f us (uniform %.1f); new/old %.2f, uniform new/old %.2f\n", fwd ? "forward" : "backward", swap ? " (new loaded first)" : "", n, C, inner,
         t[0][15] * 1e6, t[1][15] * 1e6, t[2][15] * 1e6, t[3][15] * 1e6, t[2][15] / t[0][15], t[3][15] / t[1][15]);
}
