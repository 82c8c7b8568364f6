#include "arelu_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <vector>

#include "arelu_math.h"
#include "coeff_cache.h"
#include "cpu_dispatch.h"
#include "thread_pool.h"

namespace arelu {
namespace {

// The decomposition depends only on the layout, never on threads or ISA.
//
// Row mode (channels == 1, or inner >= kRowMin, e.g. NCHW): every (outer,
// channel) row is cut into pieces of kPiece elements; each piece yields one
// canonical 16-lane sum per parameter, and pieces are combined per channel
// in (outer, piece) order.
//
// Period mode (small inner, e.g. NHWC): the channel pattern repeats every
// Q = channels * inner elements. A super-row of U = k * Q >= kMinSlots
// elements (see make_plan) is the unit; slot j of a super-row always has the same channel.
// A group of super-rows accumulates slot by slot (vectorizes across slots),
// folds its slots into per-channel partials in slot order, and groups are
// combined in order.
//
// kRowMin: rows of 64 elements or more (an 8x8 map and up, NCHW) take row
// mode. Measured per-channel / scalar-parameter backward time, one thread,
// C = 32-512 (bench/RESULTS.md, fifth session): row mode 1.5-2.1x from
// inner 64 (a 16-lane tail per row costs a whole group), 3-5.7x below it;
// period mode 1.7-3.8x below 64 but up to 6.5x at C = 512 and inner 100-196,
// where the slot accumulators are as large as the data.
constexpr size_t kPiece = 16384;
constexpr size_t kRowMin = 64;
constexpr size_t kRowMinWide = 48, kRowsFromSlots = 2048;  // see make_plan
// Tile mode (backward only; per-channel with kTileMin <= inner <= kPiece / 2:
// NCHW maps from 4x4 to 90x90): channel c's rows, in order, in pieces of
// R = kPiece / inner whole rows; a piece's elements in order are summed in
// 16 lanes by position (element t of the piece's row j in lane
// (j * inner + t) % 16), folded as a one-channel piece is, and a channel's
// pieces combine in order. So a channel's piece sums as if its R rows were
// copied side by side into one array of scalar-parameter backward. Row
// mode folded every row (a 14x14 map: 1.4x the scalar-parameter time), and
// period mode kept an accumulator per slot across the rows (a 7x7 map with
// 512 channels: 2.6x). The work is split into tiles (a piece's rows x a
// range of channels), each walking its rows in memory order with its
// channels' 16 lanes in a small state buffer. With inner > kPiece / 2 a
// piece is one row (or a 16K part of one): row mode, the same sums.
constexpr size_t kTileMin = 16;
// A tile's channels: at most kTileChannels (their lanes: 256 bytes each,
// in a worker's state buffer). Tiles narrower than the rows took longer:
// 1.03-1.05x row mode's time at 8x8-56x56 maps with 64 channels a tile,
// 0.84-0.97x with whole rows (core-ab, one thread; bench/RESULTS.md,
// "Thirteenth session").
constexpr size_t kTileChannels = 1024;
constexpr size_t kTaskElems = 1 << 15;  // 64K elements make two tasks
// Period mode's units (they fix the sums' bits; bench/RESULTS.md, "Seventh
// session"): super-rows of at least kMinSlots slots (was 256; 64 took
// 0.84-0.98x the backward time with 3-64 NHWC channels, one thread);
// forward, which has no sums, runs rows of at least kMinWideSlots (64 cost
// it 1.09x). A group is at least kGroupElems elements (was 256K, so that
// calls under 512K made one or two tasks), 64 per channel, and
// kMinGroupRows super-rows unless that passes kMaxGroupElems: the rows
// bound keeps the per-group slot fold small beside the group's work.
constexpr size_t kMinSlots = 64;
constexpr size_t kMinWideSlots = 256;
constexpr size_t kGroupElems = 1 << 15;
constexpr size_t kMinGroupRows = 256;
constexpr size_t kMaxGroupElems = 1 << 18;
constexpr size_t kMaxPeriod = 1 << 18;  // bounds the per-thread slot scratch
// A group split by channels (cpu_backward) gives each task at least this
// many channels, and runs of at least this many slots.
constexpr size_t kSplitMinChannels = 8;
constexpr size_t kSplitMinRun = 128;
// From here a backward call's three arrays (12 MiB) are taken to stream from
// memory, not cache: a prefetch hint to the period-mode kernel.
constexpr size_t kFromMemoryElems = 1 << 20;

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// A value-initialised array that lives on the stack up to N elements: small
// calls (the common 1-channel case) then make no heap allocation at all.
template <class T, size_t N>
class SmallArray {
 public:
  explicit SmallArray(size_t n) : n_(n) {
    if (n > N) heap_.reset(new T[n]());
  }
  T* data() { return n_ > N ? heap_.get() : inline_; }
  const T* data() const { return n_ > N ? heap_.get() : inline_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }

 private:
  size_t n_;
  T inline_[N] = {};
  std::unique_ptr<T[]> heap_;
};

struct Plan {
  bool rows = true;
  size_t n = 0, channels = 1, inner = 1;
  // row mode
  size_t pieces_per_row = 0, npieces = 0, pieces_per_task = 1;
  // period mode
  size_t period = 0, slots = 0, super_rows = 0, rows_per_group = 1;
  size_t wide_slots = 0;  // forward's row: a multiple of slots, the slot tables' length
  size_t ntasks = 0;
};

Plan make_plan(const Layout& l) {
  Plan p;
  p.n = l.n;
  p.channels = l.channels;
  p.inner = l.channels == 1 ? std::max<size_t>(l.n, 1) : l.inner;
  const size_t period = p.channels * p.inner;
  // Rows of 48-63 elements (7x7 maps) take row mode too when the period
  // has kRowsFromSlots slots or more: forward on [8, 512, 7, 7] took
  // 0.74-0.79x the time in rows, 0.83x with 64 channels (3136 slots), 0.95x
  // with 48 (2352); 32 channels (1568) took 1.45x, and rows of 16-36
  // elements 1.2-2.3x (core-ab, AB_OP=forward, one thread; bench/RESULTS.md,
  // "Thirteenth session"). (Backward takes tile mode from rows of 16.)
  const bool wide_rows = p.inner >= kRowMinWide && period >= kRowsFromSlots;
  if (p.channels > 1 && p.inner < kRowMin && !wide_rows) {
    // A super-row is a whole number of periods, a multiple of 16 slots when
    // that stays small (every vector then starts on the same slot pattern
    // and there is no scalar tail), and at least kMinSlots long.
    const size_t lcm16 = period * (16 / std::gcd(period, size_t(16)));
    size_t slots = lcm16 <= kMaxPeriod ? lcm16 : period;
    while (slots < kMinSlots) slots *= 2;
    if (slots <= kMaxPeriod) {
      p.rows = false;
      p.period = period;
      p.slots = slots;
      p.wide_slots = slots;
      while (p.wide_slots < kMinWideSlots && 2 * p.wide_slots <= kMaxPeriod) p.wide_slots *= 2;
      p.super_rows = ceil_div(l.n, p.slots);
      p.rows_per_group = std::max<size_t>({1, kGroupElems / p.slots, 64 * p.channels / p.slots,
                                           std::min(kMinGroupRows, kMaxGroupElems / p.slots)});
      p.ntasks = ceil_div(p.super_rows, p.rows_per_group);
      return p;
    }
  }
  if (l.n == 0) return p;
  p.pieces_per_row = ceil_div(p.inner, kPiece);
  p.npieces = (l.n / p.inner) * p.pieces_per_row;
  p.pieces_per_task = std::max<size_t>(1, kTaskElems / std::min(p.inner, kPiece));
  p.ntasks = ceil_div(p.npieces, p.pieces_per_task);
  return p;
}

struct Piece {
  size_t start, len, channel;
};

// Pieces id, id + 1, ... in order, with divisions only at the start (perf on
// a 16K-element NCHW call, 64 rows of 256: the driver's own share of the
// call went from 7.5% to 5% without the per-piece divisions).
class PieceWalker {
 public:
  PieceWalker(const Plan& p, size_t id)
      : p_(p), row_(id / p.pieces_per_row), k_(id % p.pieces_per_row), channel_(row_ % p.channels) {}
  Piece piece() const {
    const size_t off = k_ * kPiece;
    return {row_ * p_.inner + off, std::min(kPiece, p_.inner - off), channel_};
  }
  size_t channel() const { return channel_; }
  void next() {
    if (++k_ != p_.pieces_per_row) return;
    k_ = 0;
    ++row_;
    if (++channel_ == p_.channels) channel_ = 0;
  }

 private:
  const Plan& p_;
  size_t row_, k_, channel_;
};

// 64-byte cache lines: kLine<T> values of T fill one, and line_aligned(p)
// is the first line boundary at or after p (p + kLine<T> - 1 at most).
template <class T>
constexpr size_t kLine = 64 / sizeof(T);
template <class T>
T* line_aligned(T* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<T*>((a + 63) & ~uintptr_t(63));
}

// Slot tables for period mode: float32 coefficients and channel per slot.
// The coefficient tables start on 64-byte lines (one buffer, a then b):
// the kernels load them a vector at a time beside x, and a table at a
// malloc's 16-byte alignment would split every other 32-byte load across
// two lines.
struct SlotTables {
  std::vector<float> storage;
  size_t len = 0, a_off = 0, b_off = 0;
  std::vector<uint32_t> channel;
  bool finite = true;  // every a and b finite: the kernels' fast forward applies
  const float* a() const { return storage.data() + a_off; }
  const float* b() const { return storage.data() + b_off; }
};

SlotTables make_slots(const Plan& p, const Coeffs* co) {
  // b starts 1 KiB past a's end: with b right after a, [8, 512, 7, 7]
  // (tables of 100352 bytes, b 2 KiB past a modulo 4 KiB) took 1.04-1.10x
  // the backward time of separately allocated tables; with the gap 0.97-1.02x
  // (bench/kernel-ab/core-ab.sh, one thread).
  constexpr size_t kTableGap = 1024 / sizeof(float);
  SlotTables t;
  t.len = p.wide_slots;
  const size_t padded = ceil_div(t.len, kLine<float>) * kLine<float>;
  t.storage.resize(2 * padded + kTableGap + kLine<float>);
  t.a_off = line_aligned(t.storage.data()) - t.storage.data();
  t.b_off = t.a_off + padded + kTableGap;
  float* a = t.storage.data() + t.a_off;
  float* b = t.storage.data() + t.b_off;
  t.channel.resize(t.len);
  for (size_t j = 0; j < t.len; ++j) {
    const size_t c = (j % p.period) / p.inner;
    t.channel[j] = static_cast<uint32_t>(c);
    a[j] = co[c].a;
    b[j] = co[c].b;
  }
  for (size_t c = 0; c < p.channels; ++c)
    if (!std::isfinite(co[c].a) || !std::isfinite(co[c].b)) t.finite = false;
  return t;
}

// Reused from call to call, so that a per-channel call in steady state
// makes no heap allocation and no exp: the coefficients of the last
// per-channel parameters its workspace saw (keyed by their bits: equal bits,
// equal coefficients), the slot tables made from them, and the partial-sum
// buffers. A call leases a workspace from a pool for its duration (the
// pool's workers read it while the calling thread waits in run_tasks); the
// pool hands back the most recently returned one, so a thread that calls
// again gets its own workspace back. (Not thread_local: a thread_local with
// a destructor needs __cxa_thread_atexit_impl, GLIBC_2.18, above the
// prebuilt binaries' glibc floor.) Buffers past kKeepBytes are released
// when a lease ends. The limit was 1 MiB, which a layer with many channels
// passes: then every call rebuilt its coefficients (an exp per channel) and
// faulted its buffers back in, and a [64, 65536] per-feature backward took
// 2.2-2.3x the time it takes with its workspace kept (13.7 ms against 6.3,
// one thread; bench/RESULTS.md, "Sixth session"). A workspace keeps what its
// largest per-channel call used, up to 16 MiB per buffer.
constexpr size_t kKeepBytes = 1 << 24;

struct Workspace {
  CoeffCache co;
  size_t slot_period = 0, slot_inner = 0;  // plan of `st`; 0: none made from `co`
  SlotTables st;
  std::vector<double> sums, partial, scratch;
};

template <class T>
void release_if_large(std::vector<T>& v) {
  if (v.capacity() * sizeof(T) > kKeepBytes) std::vector<T>().swap(v);
}

void release_large(Workspace& ws) {
  release_if_large(ws.sums);
  release_if_large(ws.partial);
  release_if_large(ws.scratch);
  if (ws.co.co.capacity() * sizeof(Coeffs) > kKeepBytes) {
    ws = Workspace();
  } else if (ws.st.storage.capacity() * sizeof(float) > 2 * kKeepBytes) {
    ws.st = SlotTables();
    ws.slot_period = ws.slot_inner = 0;
  }
}

class WorkspacePool {
 public:
  std::unique_ptr<Workspace> take() {
    std::lock_guard<std::mutex> lock(m_);
    if (free_.empty()) return std::unique_ptr<Workspace>(new Workspace());
    std::unique_ptr<Workspace> w = std::move(free_.back());
    free_.pop_back();
    return w;
  }
  void give(std::unique_ptr<Workspace> w) {
    std::lock_guard<std::mutex> lock(m_);
    free_.push_back(std::move(w));
  }

 private:
  std::mutex m_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

WorkspacePool& workspace_pool() {
  static WorkspacePool pool;
  return pool;
}

std::atomic<unsigned long long> g_coefficient_builds{0};

// The coefficients of every channel, from the workspace when its last
// per-channel call had the same parameter bits.
const Coeffs* channel_coeffs(Workspace& ws, size_t channels, const float* alpha, const float* beta) {
  if (ws.co.update(channels, alpha, beta)) {
    ws.slot_period = ws.slot_inner = 0;
    g_coefficient_builds.fetch_add(1, std::memory_order_relaxed);
  }
  return ws.co.co.data();
}

const SlotTables& slot_tables(Workspace& ws, const Plan& p) {
  if (ws.slot_period != p.period || ws.slot_inner != p.inner || ws.st.len != p.wide_slots) {
    ws.st = make_slots(p, ws.co.co.data());
    ws.slot_period = p.period;
    ws.slot_inner = p.inner;
  }
  return ws.st;
}

// kB channels' runs of `inner` slots side by side (fold_slots), from
// acc_a/acc_b (one copy of the period) into part[c0 ..], part[C + c0 ..].
// kB is a compile-time count for whole blocks: the sums then live in
// registers, and the copies in and out are moves (with a count known only
// at run time GCC made each a `rep movsq`, whose start-up cost made these
// copies 40% of a [1, 512, 2] call; bench/RESULTS.md, "Fourteenth
// session"). nb < kB (the last block) takes the run-time loops.
template <size_t kB>
void fold_runs(const double* acc_a, const double* acc_b, double* part, size_t C, size_t inner, size_t c0,
               size_t nb) {
  const double* ra = acc_a + c0 * inner;
  const double* rb = acc_b + c0 * inner;
  if (nb == kB) {
    double sa[kB], sb[kB];
    for (size_t c = 0; c < kB; ++c) {
      sa[c] = part[c0 + c];
      sb[c] = part[C + c0 + c];
    }
    for (size_t t = 0; t < inner; ++t)
      for (size_t c = 0; c < kB; ++c) {
        sa[c] += ra[c * inner + t];
        sb[c] += rb[c * inner + t];
      }
    for (size_t c = 0; c < kB; ++c) {
      part[c0 + c] = sa[c];
      part[C + c0 + c] = sb[c];
    }
    return;
  }
  for (size_t c = 0; c < nb; ++c) {
    double a = part[c0 + c], b = part[C + c0 + c];
    for (size_t t = 0; t < inner; ++t) {
      a += ra[c * inner + t];
      b += rb[c * inner + t];
    }
    part[c0 + c] = a;
    part[C + c0 + c] = b;
  }
}

// Period mode: each slot's two sums fold into its channel's partials
// (part[c], part[C + c]) in slot order. Slot j has channel
// (j % period) / inner, so a super-row is `slots / period` copies of the
// period, each a run of `inner` slots per channel. Adding a run straight
// into part[c] slot by slot is a chain of store-to-load round trips (it
// made a [1, 64, 2, 8] call 5x, and [8, 512, 7, 7] 4x, the uniform one).
// Both loops below add the same terms to each part[c] in the same order
// (copy by copy, slot by slot), so the bits are those of that plain loop
// (which NHWC, inner 1, keeps: its consecutive slots are different channels):
// with 8 channels or more, 8 channels' runs side by side in registers
// (consecutive additions go to different channels and overlap, and each
// run is read in order); with fewer, a run at a time in registers. Only
// channels [c_begin, c_end) are folded: a task of a call split by channels
// (cpu_backward) owns those, and its scratch holds only their slots.
void fold_slots(const Plan& p, const uint32_t* channel, const double* acc_a, const double* acc_b, double* part,
                size_t c_begin, size_t c_end) {
  const size_t C = p.channels, inner = p.inner;
  constexpr size_t kB = 8;
  if (inner == 1) {
    // NHWC: slot j has channel j % C (a super-row is a whole number of
    // periods, see make_plan). With 8 channels or more, copy by copy and
    // channel by channel: the same additions in the same order as slot by
    // slot, contiguous and with no table lookup (0.76-0.81x the time of a
    // 256-1024 element call with 64 channels; with 3 channels the short
    // inner loop cost 13%).
    if (C >= kB) {
      for (size_t j = 0; j < p.slots; j += C)
        for (size_t c = c_begin; c < c_end; ++c) {
          part[c] += acc_a[j + c];
          part[C + c] += acc_b[j + c];
        }
    } else {
      for (size_t j = 0; j < p.slots; ++j)
        if (channel[j] >= c_begin && channel[j] < c_end) {
          part[channel[j]] += acc_a[j];
          part[C + channel[j]] += acc_b[j];
        }
    }
    return;
  }
  if (C >= kB) {
    for (size_t k = 0; k < p.slots; k += p.period) {
      size_t c0 = c_begin;
      for (; c0 + kB <= c_end; c0 += kB) fold_runs<kB>(acc_a + k, acc_b + k, part, C, inner, c0, kB);
      if (c0 < c_end) fold_runs<kB>(acc_a + k, acc_b + k, part, C, inner, c0, c_end - c0);
    }
    return;
  }
  for (size_t j = 0; j < p.slots;) {
    const uint32_t c = channel[j];
    if (c < c_begin || c >= c_end) {  // another task's channel
      while (j < p.slots && channel[j] == c) ++j;
      continue;
    }
    double sa = part[c], sb = part[C + c];
    for (; j < p.slots && channel[j] == c; ++j) {
      sa += acc_a[j];
      sb += acc_b[j];
    }
    part[c] = sa;
    part[C + c] = sb;
  }
}

// Of rows [r0, r1) of `len` elements (super-rows, or forward's wide rows),
// how many are whole: the kernels take those in one call; the array's last
// row may be shorter (a whole number of periods), and then it gets a call
// of its own.
size_t full_rows(const Plan& p, size_t len, size_t r0, size_t r1) {
  return std::min(r1, p.n / len) - r0;
}

// A zeroed buffer of n values from the workspace.
double* zeroed(std::vector<double>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  std::fill_n(v.data(), n, 0.0);
  return v.data();
}

// A buffer of at least n values from the workspace, contents unspecified.
double* sized(std::vector<double>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// One call's coefficients: with one channel on the stack; with several from
// a workspace leased for the call (returned to the pool at the end).
class CallCoeffs {
 public:
  CallCoeffs(size_t channels, const float* alpha, const float* beta)
      : ws_(channels > 1 ? workspace_pool().take() : nullptr) {
    co_ = ws_ ? channel_coeffs(*ws_, channels, alpha, beta) : &(one_ = make_coeffs(alpha[0], beta[0]));
  }
  ~CallCoeffs() {
    if (!ws_) return;
    release_large(*ws_);
    workspace_pool().give(std::move(ws_));
  }
  CallCoeffs(const CallCoeffs&) = delete;
  CallCoeffs& operator=(const CallCoeffs&) = delete;
  const Coeffs* get() const { return co_; }
  Workspace* workspace() const { return ws_.get(); }  // null with one channel

 private:
  std::unique_ptr<Workspace> ws_;
  Coeffs one_;
  const Coeffs* co_;
};

int max_threads_for(size_t n, size_t serial_below, size_t two_thread_idle) {
  ThreadPool& pool = ThreadPool::instance();
  if (n < serial_below) return 1;
  const int threads = pool.threads();
  return pool.awake() || n >= idle_serial_below(two_thread_idle, serial_below, threads) ? threads : 1;
}

// Marks the end of a call that could use the pool (see arelu_cpu.h): the
// next one, if it follows soon, finds the pool awake.
class PoolCall {
 public:
  PoolCall(size_t n, size_t serial_below) : note_(n >= serial_below) {}
  ~PoolCall() {
    if (note_) ThreadPool::instance().note_call();
  }
  PoolCall(const PoolCall&) = delete;
  PoolCall& operator=(const PoolCall&) = delete;

 private:
  bool note_;
};

template <class F>
void run_tasks(size_t ntasks, int max_threads, F& body) {
  ThreadPool::instance().run(
      ntasks, max_threads,
      [](void* ctx, size_t task, int worker) { (*static_cast<F*>(ctx))(task, worker); }, &body);
}

}  // namespace

std::string check_layout(const Layout& l) {
  if (l.channels == 0) return "channels must be at least 1";
  if (l.channels > 1 && l.inner == 0) return "inner must be at least 1";
  if (l.channels > 1) {
    const size_t period = l.channels * l.inner;
    if (period / l.inner != l.channels) return "channels * inner overflows";
    if (l.n % period != 0) return "length is not a multiple of channels * inner";
  }
  if (l.channels > UINT32_MAX) return "too many channels";
  return "";
}

void cpu_forward(const float* x, float* y, const Layout& layout, const float* alpha,
                 const float* beta) {
  const Plan p = make_plan(layout);
  if (p.ntasks == 0) return;
  const CpuKernels& k = current_kernels();
  const CallCoeffs coeffs(p.channels, alpha, beta);
  const Coeffs* co = coeffs.get();
  Workspace* ws = coeffs.workspace();
  const PoolCall pool_call(p.n, kSerialBelowForward);
  const int threads = max_threads_for(p.n, kSerialBelowForward, kIdleSerialBelowForward);
  if (p.rows) {
    auto body = [&](size_t task, int) {
      const size_t first = task * p.pieces_per_task;
      const size_t end = std::min(p.npieces, first + p.pieces_per_task);
      if (p.pieces_per_row == 1) {  // whole rows: one call for the task's rows
        k.forward_rows(x + first * p.inner, y + first * p.inner, p.inner, end - first, co, first % p.channels,
                       p.channels);
        return;
      }
      PieceWalker w(p, first);
      for (size_t id = first; id < end; ++id, w.next()) {
        const Piece pc = w.piece();
        k.forward_uniform(x + pc.start, y + pc.start, pc.len, co[pc.channel].a, co[pc.channel].b);
      }
    };
    run_tasks(p.ntasks, threads, body);
    return;
  }
  const SlotTables& st = slot_tables(*ws, p);
  // Forward has no sums, so neither its tasks nor its rows need be
  // backward's: tasks of about kTaskElems (threads split calls smaller than
  // a group) in rows of wide_slots. A task's whole rows go to the kernel
  // as one flat run of super-rows of p.slots (which divides wide_slots):
  // AVX-512 then holds the coefficients of up to 128 slots in registers,
  // and the flat loop of the other ISAs took 0.86-0.91x the time with 64
  // NHWC channels that way (AVX2 on the Zen 4 VM; bench/RESULTS.md,
  // "Eleventh session"). Rows of 64 slots in calls of their own had taken
  // 1.09-1.10x the time of 256, before the flat loop.
  const size_t W = p.wide_slots, wide_rows = ceil_div(p.n, W);
  const size_t rows_per_task = std::max<size_t>(1, kTaskElems / W);
  auto body = [&](size_t task, int) {
    const size_t r0 = task * rows_per_task;
    const size_t r1 = std::min(wide_rows, r0 + rows_per_task);
    const size_t full = full_rows(p, W, r0, r1);
    const size_t off = r0 * W;
    if (full > 0)
      k.forward_varying(x + off, y + off, p.slots, full * (W / p.slots), p.slots, st.a(), st.b(), st.finite);
    if (full < r1 - r0) {
      const size_t last = (r1 - 1) * W;
      k.forward_varying(x + last, y + last, p.n - last, 1, W, st.a(), st.b(), st.finite);
    }
  };
  run_tasks(ceil_div(wide_rows, rows_per_task), threads, body);
}

void cpu_backward(const float* x, const float* g, float* dx, const Layout& layout,
                  const float* alpha, const float* beta, double* dalpha, double* dbeta) {
  const Plan p = make_plan(layout);
  const size_t C = p.channels;
  const CallCoeffs coeffs(C, alpha, beta);
  const Coeffs* co = coeffs.get();
  Workspace* ws = coeffs.workspace();
  double one_sums[2] = {0.0, 0.0};
  double* sum_a = ws != nullptr ? zeroed(ws->sums, 2 * C) : one_sums;
  double* sum_b = sum_a + C;
  const CpuKernels& k = current_kernels();
  const PoolCall pool_call(p.n, kSerialBelowBackward);
  const int threads = max_threads_for(p.n, kSerialBelowBackward, kIdleSerialBelowBackward);

  // One row per channel (outer 1): each row is a piece, as in row mode,
  // which takes it without the state buffer (tiles took 1.08-1.10x its time
  // on [1, 64, 32, 8] and [1, 64, 32, 32]).
  if (C > 1 && p.inner >= kTileMin && p.inner <= kPiece / 2 && p.n > C * p.inner) {
    const size_t period = C * p.inner, outer = p.n / period;
    const size_t R = std::min(outer, kPiece / p.inner);  // rows per piece
    const size_t pieces = ceil_div(outer, R);
    // Tiles as wide as the rows (up to kTileChannels), and with several
    // threads at least one per thread: when a call has fewer pieces than
    // threads its rows are split by channels (two per thread took longer
    // with an 8x8 map of 64 channels: 45-55 us against 36-43 for row mode,
    // 2 threads; one per thread 36 us).
    const size_t wanted = threads > 1 ? ceil_div(static_cast<size_t>(threads), pieces) : 1;
    const size_t per_tile = ceil_div(C, std::min(C, std::max(ceil_div(C, kTileChannels), wanted)));
    const size_t ranges = ceil_div(C, per_tile);
    // Every piece writes its two partials ([piece][channel]): no zeroing needed.
    double* partial = sized(ws->partial, 2 * C * pieces);
    const size_t per_worker = ceil_div(2 * kLanes * per_tile, kLine<double>) * kLine<double>;
    double* scratch = line_aligned(sized(ws->scratch, per_worker * static_cast<size_t>(threads) + kLine<double>));
    auto body = [&](size_t task, int worker) {
      const size_t piece = task / ranges, c0 = task % ranges * per_tile, nch = std::min(per_tile, C - c0);
      const size_t r0 = piece * R, rows = std::min(R, outer - r0);
      double* state = &scratch[per_worker * static_cast<size_t>(worker)];
      const size_t o = r0 * period + c0 * p.inner;
      k.backward_tile(x + o, g + o, dx + o, p.inner, nch, rows, period, co + c0, state,
                      &partial[2 * (piece * C + c0)]);
    };
    run_tasks(pieces * ranges, threads, body);
    for (size_t piece = 0; piece < pieces; ++piece)
      for (size_t c = 0; c < C; ++c) {
        sum_a[c] += partial[2 * (piece * C + c)];
        sum_b[c] += partial[2 * (piece * C + c) + 1];
      }
  } else if (p.ntasks > 0 && p.rows) {
    // Every piece writes its two partials: no zeroing needed.
    SmallArray<double, 8> local(ws != nullptr ? 0 : 2 * p.npieces);
    double* partial = ws != nullptr ? sized(ws->partial, 2 * p.npieces) : local.data();
    auto body = [&](size_t task, int) {
      const size_t first = task * p.pieces_per_task;
      const size_t end = std::min(p.npieces, first + p.pieces_per_task);
      if (p.pieces_per_row == 1) {  // whole rows: one call for the task's rows
        const size_t o = first * p.inner;
        k.backward_rows(x + o, g + o, dx + o, p.inner, end - first, co, first % p.channels, p.channels,
                        &partial[2 * first]);
        return;
      }
      PieceWalker w(p, first);
      for (size_t id = first; id < end; ++id, w.next()) {
        const Piece pc = w.piece();
        k.backward_uniform(x + pc.start, g + pc.start, dx + pc.start, pc.len, co[pc.channel].a,
                           co[pc.channel].b, &partial[2 * id]);
      }
    };
    run_tasks(p.ntasks, threads, body);
    PieceWalker w(p, 0);
    for (size_t id = 0; id < p.npieces; ++id, w.next()) {
      sum_a[w.channel()] += partial[2 * id];
      sum_b[w.channel()] += partial[2 * id + 1];
    }
  } else if (p.ntasks > 0) {
    const SlotTables& st = slot_tables(*ws, p);
    double* partial = zeroed(ws->partial, 2 * C * p.ntasks);
    // Each worker's accumulators (zeroed per task) on cache lines of their
    // own: workers store them every few rows, and a line shared by two
    // workers' regions (the vector's base is only 16-byte aligned) would
    // pass from core to core on every such store.
    const size_t per_worker = ceil_div(2 * p.slots, kLine<double>) * kLine<double>;
    double* scratch = line_aligned(sized(ws->scratch, per_worker * static_cast<size_t>(threads) + kLine<double>));
    const bool from_memory = p.n >= kFromMemoryElems;
    // With fewer than two groups per thread, each group is split by
    // channels into `parts` tasks (two per thread in all): equal groups
    // balance only when their count is a multiple of the threads (a
    // [8, 7, 7, 512] call is a 128K and a 68K group: 2 threads took 1.15x
    // the time of the channel split that one 256K group used to get). A
    // channel's slots and its fold are then one task's, taken in the same
    // order as unsplit, so the bits do not change; a part's slots are one
    // run per copy of the period in each super-row. Runs shorter than
    // kSplitMinRun slots are not worth it: two tasks over the same rows,
    // each reading every other 128 bytes (NHWC, 64 channels), took 1.56-1.61x
    // the time of one on one thread, and two threads then barely gained
    // (0.92-0.96x). With 256-512 NHWC channels (runs of 512 bytes and up)
    // two threads take 0.72x the unsplit time, on a 7x7 map at 512 channels
    // 0.53x (medians; bench/RESULTS.md, "Sixth session").
    size_t parts = 1;
    if (threads > 1 && p.ntasks < 2 * static_cast<size_t>(threads))
      parts = std::min(ceil_div(2 * static_cast<size_t>(threads), p.ntasks),
                       std::min(C / kSplitMinChannels, C * p.inner / kSplitMinRun));
    if (parts == 0) parts = 1;
    auto chan_begin = [&](size_t part) {
      if (part == parts) return C;
      const size_t c = part * C / parts;
      return C >= 16 * parts ? c - c % 16 : c;  // whole vectors of NHWC slots
    };
    auto body = [&](size_t task, int worker) {
      const size_t group = task / parts, part = task % parts;
      const size_t c0 = chan_begin(part), c1 = chan_begin(part + 1);
      double* acc_a = &scratch[per_worker * static_cast<size_t>(worker)];
      double* acc_b = acc_a + p.slots;
      // The part's slots: a run of `len` slots from `first` in every copy
      // of the period (`period` apart).
      const size_t first = c0 * p.inner, len = (c1 - c0) * p.inner;
      const size_t r0 = group * p.rows_per_group;
      const size_t r1 = std::min(p.super_rows, r0 + p.rows_per_group);
      const size_t full = full_rows(p, p.slots, r0, r1);
      // The task's first kernel call starts its accumulators at +0 (fresh)
      // when it covers every slot (whole super-rows): no zeroing pass over
      // them, and no load of zeros: NCHW 7x7 maps of 512 channels (super-rows
      // of 25088 slots, 400 KB of accumulators) took 0.90x the time with 4
      // rows, 0.95x with 8 (core-ab, one thread; bench/RESULTS.md,
      // "Thirteenth session").
      if (full == 0) {  // only the short last super-row: slots past it are folded too
        if (parts == 1) {
          std::fill(acc_a, acc_a + 2 * p.slots, 0.0);
        } else {
          for (size_t j = first; j < p.slots; j += p.period) {
            std::fill(acc_a + j, acc_a + j + len, 0.0);
            std::fill(acc_b + j, acc_b + j + len, 0.0);
          }
        }
      }
      auto rows = [&](size_t off, size_t nrows, size_t slots, bool fresh) {
        if (parts == 1)
          k.backward_varying(x + off, g + off, dx + off, slots, 1, 0, nrows, p.slots, st.a(), st.b(),
                             acc_a, acc_b, from_memory, fresh);
        else
          k.backward_varying(x + off + first, g + off + first, dx + off + first, len, slots / p.period, p.period,
                             nrows, p.slots, st.a() + first, st.b() + first, acc_a + first,
                             acc_b + first, from_memory, fresh);
      };
      if (full > 0) rows(r0 * p.slots, full, p.slots, true);
      if (full < r1 - r0) {
        const size_t last = (r1 - 1) * p.slots;
        rows(last, 1, p.n - last, false);
      }
      fold_slots(p, st.channel.data(), acc_a, acc_b, &partial[2 * C * group], c0, c1);
    };
    run_tasks(p.ntasks * parts, threads, body);
    for (size_t t = 0; t < p.ntasks; ++t)
      for (size_t c = 0; c < C; ++c) {
        sum_a[c] += partial[2 * C * t + c];
        sum_b[c] += partial[2 * C * t + C + c];
      }
  }
  for (size_t c = 0; c < C; ++c) {
    dalpha[c] = finish_dalpha(co[c], sum_a[c]);
    dbeta[c] = finish_dbeta(co[c], sum_b[c]);
  }
}

void cpu_parallel_copy(void* dst, const void* src, size_t bytes) {
  constexpr size_t kChunk = 1 << 18;
  const size_t ntasks = (bytes + kChunk - 1) / kChunk;
  auto body = [&](size_t task, int) {
    const size_t off = task * kChunk;
    std::memcpy(static_cast<char*>(dst) + off, static_cast<const char*>(src) + off,
                std::min(kChunk, bytes - off));
  };
  const PoolCall pool_call(bytes / 4, kSerialBelowForward);
  run_tasks(ntasks, max_threads_for(bytes / 4, kSerialBelowForward, kIdleSerialBelowForward), body);
}

size_t idle_serial_below(size_t two_thread_threshold, size_t serial_below, int threads) {
  if (threads <= 2) return std::max(two_thread_threshold, serial_below);
  const size_t t = static_cast<size_t>(threads);
  return std::max(two_thread_threshold / (2 * (t - 1)) * t, serial_below);
}
size_t cpu_idle_serial_below_forward() {
  return idle_serial_below(kIdleSerialBelowForward, kSerialBelowForward, ThreadPool::instance().threads());
}
size_t cpu_idle_serial_below_backward() {
  return idle_serial_below(kIdleSerialBelowBackward, kSerialBelowBackward, ThreadPool::instance().threads());
}

int cpu_threads() { return ThreadPool::instance().threads(); }
unsigned long long cpu_parallel_jobs() { return ThreadPool::instance().parallel_jobs(); }
unsigned long long cpu_coefficient_builds() { return g_coefficient_builds.load(std::memory_order_relaxed); }
int cpu_spin_us() { return spin_us(); }
void cpu_set_threads(int n) { ThreadPool::instance().set_threads(n); }

}  // namespace arelu
