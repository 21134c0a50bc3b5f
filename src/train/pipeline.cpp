#include "wanka/pipeline.hpp"

#include <algorithm>
#include <stdexcept>

#include "wanka/sim.hpp"

namespace wanka {

namespace {

struct Task {
  std::uint32_t mb;
  std::uint16_t chunk;
  bool backward;
};

// Forwards a rank issues before its first backward (Megatron-LM schedules.py).
long warmup_forwards(int p, int v, long m, int r) {
  const long total = m * v;
  if (v == 1) return std::min<long>(p - r - 1, m);  // PipeDream-Flush 1F1B
  if (m == p) return total;
  return std::min<long>(static_cast<long>(p - r - 1) * 2 + static_cast<long>(v - 1) * p, total);
}

// Per-rank issue order, as Megatron-LM's schedules.py issues it: `warmup` forwards, then
// alternating forward / backward, then the remaining backwards. Task n of a rank, computed on the
// fly (no per-rank order is stored).
struct IssueOrder {
  int p, v;
  long total;  // m * v tasks of each kind per rank
  Task fwd_task(long k) const {
    const long pv = static_cast<long>(p) * v;
    const long group = k / pv, in_group = k % pv;
    return Task{static_cast<std::uint32_t>(group * p + in_group % p), static_cast<std::uint16_t>(in_group / p), false};
  }
  Task bwd_task(long k) const {
    Task t = fwd_task(k);
    t.chunk = static_cast<std::uint16_t>(v - 1 - t.chunk);
    t.backward = true;
    return t;
  }
  Task at(long warmup, long n) const {
    if (n < warmup) return fwd_task(n);
    const long steady_end = warmup + 2 * (total - warmup);
    if (n < steady_end) {
      const long j = n - warmup;
      return j % 2 == 0 ? fwd_task(warmup + j / 2) : bwd_task(j / 2);
    }
    return bwd_task(n - total);
  }
};

class PipelineSim final : public sim::Process {
 public:
  explicit PipelineSim(const PipelineSpec& s)
      : s_(s), G_(s.ranks * s.chunks), order_{s.ranks, s.chunks, s.micro_batches * s.chunks},
        tasks_(2 * s.micro_batches * s.chunks) {
    const std::size_t p = static_cast<std::size_t>(s.ranks);
    warmup_.resize(p);
    cur_.resize(p);
    for (int r = 0; r < s.ranks; ++r) {
      warmup_[r] = warmup_forwards(s.ranks, s.chunks, s.micro_batches, r);
      cur_[r] = order_.at(warmup_[r], 0);
    }
    next_.assign(p, 0);
    busy_flag_.assign(p, 0);
    wake_at_.assign(p, -1);
    const std::size_t cells = static_cast<std::size_t>(s.micro_batches) * G_;
    f_done_.assign(cells, -1);
    b_done_.assign(cells, -1);
    res_.finish.assign(p, 0);
    res_.busy.assign(p, 0);
    res_.blocked.assign(p, 0);
    res_.last_backward.assign(p, 0);
    res_.first_forward.assign(p, 0);
  }

  PipelineResult run() {
    id_ = engine_.add(this);
    for (int r = 0; r < s_.ranks; ++r) try_start(r);
    res_.events = engine_.run();
    for (int r = 0; r < s_.ranks; ++r) {
      if (next_[r] != tasks_) throw std::logic_error("pipeline schedule deadlocked");
      res_.makespan = std::max(res_.makespan, res_.finish[r]);
    }
    return std::move(res_);
  }

  void on_event(sim::Engine&, std::uint64_t payload) override {
    const int r = static_cast<int>(payload >> 1);
    if (payload & 1) {  // wake-up: a dependency's transfer has arrived
      if (wake_at_[r] == engine_.now()) wake_at_[r] = -1;
      try_start(r);
      return;
    }
    finish(r);
  }

 private:
  int stage(int r, int chunk) const { return chunk * s_.ranks + r; }
  std::size_t cell(std::uint32_t mb, int g) const { return static_cast<std::size_t>(mb) * G_ + g; }
  int rank_of(int g) const { return g % s_.ranks; }

  // Duration of a task including, when sends are not overlapped, the blocking send.
  SimTime send_time(const Task& t, int g) const {
    if (s_.overlap_p2p) return 0;
    if (!t.backward) return g + 1 < G_ ? s_.p2p[g] : 0;
    return g > 0 ? s_.p2p[g - 1] : 0;
  }

  void try_start(int r) {
    if (busy_flag_[r] || next_[r] >= tasks_) return;
    const Task& t = cur_[r];
    const int g = stage(r, t.chunk);
    SimTime ready = 0;
    if (!t.backward) {
      if (g > 0) {
        const SimTime d = f_done_[cell(t.mb, g - 1)];
        if (d < 0) return;  // the producer will poke us
        ready = d + (s_.overlap_p2p ? s_.p2p[g - 1] : 0);
      }
    } else {
      if (g + 1 < G_) {
        const SimTime d = b_done_[cell(t.mb, g + 1)];
        if (d < 0) return;
        ready = d + (s_.overlap_p2p ? s_.p2p[g] : 0);
      } else {
        const SimTime d = f_done_[cell(t.mb, g)];
        if (d < 0) return;
        ready = d;
      }
    }
    const SimTime now = engine_.now();
    if (ready > now) {
      if (wake_at_[r] != ready) {
        wake_at_[r] = ready;
        engine_.schedule(ready, id_, (static_cast<std::uint64_t>(r) << 1) | 1);
      }
      return;
    }
    busy_flag_[r] = 1;
    const SimTime compute = t.backward ? s_.bwd[g] : s_.fwd[g];
    const SimTime send = send_time(t, g);
    res_.busy[r] += compute;
    res_.blocked[r] += send;
    if (!t.backward) {
      if (t.mb == 0) res_.first_forward[r] += compute;
    } else if (t.mb + 1 == static_cast<std::uint32_t>(s_.micro_batches)) {
      res_.last_backward[r] += compute;
    }
    engine_.schedule(now + compute + send, id_, static_cast<std::uint64_t>(r) << 1);
  }

  void finish(int r) {
    const Task t = cur_[r];
    const int g = stage(r, t.chunk);
    const SimTime now = engine_.now();
    busy_flag_[r] = 0;
    if (++next_[r] < tasks_) cur_[r] = order_.at(warmup_[r], next_[r]);
    res_.finish[r] = now;
    if (!t.backward) {
      f_done_[cell(t.mb, g)] = now;
    } else {
      b_done_[cell(t.mb, g)] = now;
    }
    try_start(r);
    // Poke the rank that consumes this result.
    if (!t.backward && g + 1 < G_) try_start(rank_of(g + 1));
    if (t.backward && g > 0) try_start(rank_of(g - 1));
  }

  const PipelineSpec& s_;
  const int G_;
  sim::Engine engine_;
  std::uint32_t id_ = 0;
  const IssueOrder order_;
  const long tasks_;             // per rank: m * v forwards and as many backwards
  std::vector<long> warmup_;     // per rank
  std::vector<Task> cur_;        // per rank: its task at next_
  std::vector<long> next_;
  std::vector<char> busy_flag_;  // not vector<bool>: read on every event
  std::vector<SimTime> wake_at_;
  std::vector<SimTime> f_done_, b_done_;
  PipelineResult res_;
};

}  // namespace

PipelineResult simulate_pipeline(const PipelineSpec& spec) {
  const std::size_t G = static_cast<std::size_t>(spec.ranks) * spec.chunks;
  if (spec.ranks < 1 || spec.chunks < 1 || spec.micro_batches < 1 || spec.fwd.size() != G || spec.bwd.size() != G ||
      spec.p2p.size() != G || spec.activation_bytes.size() != G) {
    throw std::invalid_argument("simulate_pipeline: inconsistent spec");
  }
  if (spec.chunks > 1 && spec.micro_batches % spec.ranks != 0) {
    throw std::invalid_argument("simulate_pipeline: interleaving needs micro_batches % ranks == 0");
  }
  PipelineSim sim(spec);
  PipelineResult r = sim.run();
  for (const ActivationPeak& a : activation_peaks(spec)) {
    r.peak_activation_bytes.push_back(a.bytes);
    r.peak_in_flight.push_back(a.in_flight);
  }
  return r;
}

std::vector<ActivationPeak> activation_peaks(const PipelineSpec& s) {
  // A rank runs its tasks one after another in the issue order above, so its live set (a
  // forward adds its stage's activations, the matching backward frees them) depends on that
  // order only, not on timing. In the steady phase every forward is followed by a backward,
  // so the number in flight stays at warmup + 1, and the live bytes after steady step i,
  //   live(i) = F(w + i + 1) - B(i)   (F, B: bytes of the first n forwards / backwards),
  // repeat with the period of the chunk pattern (p*v steps). Within a period they change
  // linearly between the steps where the forward's or the backward's chunk changes (every p
  // steps each), so the peak is at one of those breakpoints or at the ends: O(v) per rank.
  const int p = s.ranks, v = s.chunks;
  const long m = s.micro_batches, total = m * v, period = static_cast<long>(p) * v;
  std::vector<ActivationPeak> out(static_cast<std::size_t>(p));
  std::vector<double> cum_f(static_cast<std::size_t>(v) + 1), cum_b(static_cast<std::size_t>(v) + 1);
  for (int r = 0; r < p; ++r) {
    auto a = [&](long chunk) { return s.activation_bytes[static_cast<std::size_t>(chunk * p + r)]; };
    // Forward k runs chunk (k mod pv)/p; backward k runs chunk v-1-(k mod pv)/p.
    auto fill = [&] {
      for (int c = 0; c < v; ++c) {
        cum_f[c + 1] = cum_f[c] + a(c);
        cum_b[c + 1] = cum_b[c] + a(v - 1 - c);
      }
    };
    auto sum = [&](const std::vector<double>& cum, bool rev, long n) {  // first n forwards/backwards
      const long q = n / period, j = n % period, c = j / p;
      const double part = double(p) * cum[c] + double(j % p) * (c < v ? a(rev ? v - 1 - c : c) : 0.0);
      return double(q) * double(p) * cum[v] + part;
    };
    const long w = warmup_forwards(p, v, m, r);
    ActivationPeak pk;
    bool uniform = true;
    for (int c = 1; c < v && uniform; ++c) uniform = a(c) == a(0);
    if (uniform) {  // every chunk alike (always so for v = 1): min(w + 1, m v) chunks alive at the peak
      const long n = std::min<long>(w + 1, total);
      pk.bytes = double(n) * a(0);
      pk.in_flight = static_cast<int>(n);
    } else if (w >= total) {
      fill();
      pk.bytes = sum(cum_f, false, total);
      pk.in_flight = static_cast<int>(total);
    } else {
      fill();
      const long steps = std::min(total - w, period);
      // live(i) at the steps where a chunk changes: i = k p (backward side, B(i) = p cum_b[k])
      // and i = off + k p (forward side, w + i + 1 = multiple of p), each with its predecessor.
      auto live = [&](long i) { return sum(cum_f, false, w + i + 1) - sum(cum_b, true, i); };
      pk.bytes = std::max(live(0), live(steps - 1));
      const long off = ((-(w + 1)) % p + p) % p;
      for (long b = p; b < steps; b += p) pk.bytes = std::max({pk.bytes, live(b), live(b - 1)});
      for (long b = off; b < steps; b += p) {
        if (b > 0) pk.bytes = std::max({pk.bytes, live(b), live(b - 1)});
      }
      pk.in_flight = static_cast<int>(w + 1);
    }
    if (pk.bytes <= 0) pk = ActivationPeak{};
    out[static_cast<std::size_t>(r)] = pk;
  }
  return out;
}

void activation_peak_bounds(const PipelineSpec& s, std::vector<ActivationPeak>& lo, std::vector<ActivationPeak>& hi) {
  // In the steady phase exactly min(w + 1, m v) chunks are alive (see activation_peaks), so the
  // peak lies between that many of the rank's smallest and of its largest chunk.
  const int p = s.ranks, v = s.chunks;
  lo.resize(static_cast<std::size_t>(p));
  hi.resize(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    double mn = s.activation_bytes[static_cast<std::size_t>(r)], mx = mn;
    for (int c = 1; c < v; ++c) {
      const double a = s.activation_bytes[static_cast<std::size_t>(c * p + r)];
      mn = std::min(mn, a);
      mx = std::max(mx, a);
    }
    const long n = peak_live_chunks(p, v, s.micro_batches, r);
    lo[r] = ActivationPeak{double(n) * mn, static_cast<int>(n)};
    hi[r] = ActivationPeak{double(n) * mx, static_cast<int>(n)};
  }
}

long peak_live_chunks(int p, int v, long m, int r) { return std::min<long>(warmup_forwards(p, v, m, r) + 1, m * v); }

}  // namespace wanka
