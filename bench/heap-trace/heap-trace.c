// An LD_PRELOAD tracer for glibc's heap in the tfjs-node 4M forward rows
// (issue 10; bench/RESULTS.md, "Fourth session"). It prints, to stderr:
//   big-alloc / big-free   every allocation or free of 8 MB and more, with
//                          the heap's end (sbrk(0)) before and after: a free
//                          after which the end moved down is a trim
//   small64 m=M f=F        how many 64-byte chunks were malloc'ed and freed
//                          since the last big event (frees past the tcache's
//                          7 per size go to a fastbin, which a big free's
//                          malloc_consolidate merges into the top chunk)
// Lines the traced program writes to stderr itself (the test script writes
// "MARK <variant> <round>") interleave with these in order.
//
//   gcc -O2 -shared -fPIC bench/heap-trace/heap-trace.c -o /tmp/heap-trace.so -ldl
//   LD_PRELOAD=/tmp/heap-trace.so node bench/heap-trace/rounds.js 2> trace.txt
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int (*real_posix_memalign)(void**, size_t, size_t);
static void* (*real_malloc)(size_t);
static void (*real_free)(void*);
static unsigned long m64, f64;

static void say(const char* what, void* p, size_t n, void* brk_before) {
  char line[200];
  const int len = snprintf(line, sizeof line, "%s p=%p n=%zu small64 m=%lu f=%lu heap end %p -> %p\n", what, p, n,
                           m64, f64, brk_before, sbrk(0));
  m64 = f64 = 0;
  if (len > 0) (void)!write(2, line, (size_t)len);
}

// glibc's chunk header: the size word before the user pointer, flags in the low 3 bits.
static size_t chunk_size(void* p) { return ((size_t*)p)[-1] & ~(size_t)7; }
static int chunk_mmapped(void* p) { return (((size_t*)p)[-1] & 2) != 0; }

int posix_memalign(void** p, size_t align, size_t n) {
  if (!real_posix_memalign) real_posix_memalign = (int (*)(void**, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
  void* before = sbrk(0);
  const int r = real_posix_memalign(p, align, n);
  if (r == 0 && n >= (8u << 20)) say("big-alloc", *p, n, before);
  return r;
}

void* malloc(size_t n) {
  if (!real_malloc) real_malloc = (void* (*)(size_t))dlsym(RTLD_NEXT, "malloc");
  void* p = real_malloc(n);
  if (p && !chunk_mmapped(p) && chunk_size(p) == 64) ++m64;
  return p;
}

void free(void* p) {
  if (!real_free) real_free = (void (*)(void*))dlsym(RTLD_NEXT, "free");
  if (p == NULL || chunk_mmapped(p)) {
    real_free(p);
    return;
  }
  const size_t size = chunk_size(p);
  if (size == 64) ++f64;
  if (size < (8u << 20)) {
    real_free(p);
    return;
  }
  void* before = sbrk(0);
  real_free(p);
  say("big-free", p, size, before);
}
