// Continuous-batching simulation on the shared discrete-event engine (src/sim).
//
// Each replica (each of its pp batch streams with pipeline parallelism) runs iteration-level
// scheduling (Orca, OSDI '22): at every iteration it forms a batch under a token budget
// (max_batch_tokens) and a sequence cap (max_batch), as vLLM's scheduler does:
//   1. running sequences that are decoding get one token each; a sequence that needs a new KV
//      block when none is free preempts the most recently admitted sequence, whose blocks are
//      freed and whose tokens are recomputed later (vLLM recompute preemption, SOSP '23 §4.5);
//   2. running sequences part-way through their prompt get the next chunk (chunked prefill,
//      Sarathi-Serve, OSDI '24);
//   3. waiting requests are admitted first-come first-served while the token budget, the
//      sequence cap and the free blocks allow: admission reserves the blocks of the whole
//      prompt and keeps a 1 % watermark free (vLLM v0 BlockSpaceManager.can_allocate).
// The iteration's duration comes from InferenceCost. Tokens appear at the end of the iteration
// that computes them. With disaggregation, prefill replicas hand each request, after its first
// token, to the least-loaded decode replica once its KV cache has been transferred.
#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "sim/rng.hpp"
#include "wanka/error.hpp"
#include "wanka/serve.hpp"
#include "wanka/sim.hpp"

namespace wanka {

namespace {

enum class Role { kMixed, kPrefill, kDecode };

struct Seq {
  std::uint32_t req = 0;
  std::int32_t need = 0;    // tokens to prefill: the prompt, or prompt + generated after preemption
  std::int32_t done = 0;    // tokens whose KV is in the cache
  std::int32_t gen = 0;     // tokens generated
  std::int32_t out = 0;     // tokens to generate
  std::int32_t blocks = 0;  // KV blocks held
  std::int32_t sched = 0;   // tokens computed in the current iteration
  std::int32_t rank = 0;    // attention-DP rank holding its KV cache (0 without attention DP)
};

// Limits on the simulator's work, so that no input runs for more than about half a minute on a
// 2-core machine: an iteration costs about 0.13 us at batch 1 (10,000 requests of 4,096 output
// tokens at max_batch 1: 4.1e7 iterations in 5.2 s) and a sequence-step about 9 ns (100,000
// requests of 4,096 tokens at the default batch: 4.1e8 in 3.7 s), measured on the idle
// machine (docs/model.md §17.2). The two add up: the bound is on their combined time,
// kIterationNs x iterations + kSequenceStepNs x sequence-steps <= kMaxWorkNs (about 27 s), so
// that a run near both limits cannot take twice as long (1e7 default requests took 134 s on a
// loaded machine before stopping).
constexpr double kIterationNs = 130, kSequenceStepNs = 9;
constexpr double kMaxWorkNs = 2.7e10;
constexpr double kMaxIterations = kMaxWorkNs / kIterationNs;       // 2.1e8 at batch 1
constexpr double kMaxSequenceSteps = kMaxWorkNs / kSequenceStepNs;  // 3e9 with nothing else
constexpr double kDraftStepExtra = 0.5;
double work_ns(double iterations, double sequence_steps) { return kIterationNs * iterations + kSequenceStepNs * sequence_steps; }

struct Tracker {  // per-request timestamps (ns)
  std::vector<SimTime> arrival, first, finish, admitted;
};

class Instance;

// Replicas (batch streams) ordered by outstanding requests, ties by index: dispatch goes to the
// least-loaded one in O(log n), the same choice as a scan for the first minimum.
struct Pool {
  std::vector<Instance*> members;
  std::set<std::pair<std::size_t, std::uint32_t>> by_load;
  Instance* least() const { return members[by_load.begin()->second]; }
};

struct Shared {
  const std::vector<RequestSpec>* requests = nullptr;
  Tracker t;
  Pool prefill_pool, decode_pool;  // mixed replicas are in prefill_pool only
  std::uint32_t decode_dispatch = 0;                 // engine id of the decode dispatcher
  const InferenceCost* cost = nullptr;
  long preemptions = 0;
  std::int64_t iterations = 0;
  double batch_sum = 0;
  double work_steps = 0;  // sequence-steps weighted by their cost (kDraftStepExtra), for the work limit
  bool cross_domain_transfer = true;
  // Speculative decoding: the drafts' acceptance, the draws, and the counts of verification
  // passes and of the tokens they emitted.
  double spec_accept = 0;
  sim::Rng spec_rng{0};
  double spec_steps = 0, spec_tokens = 0;
};

class Instance : public sim::Process {
 public:
  // `ranks` attention-DP ranks (1 without attention DP) split the blocks evenly: each holds the
  // KV cache of the sequences assigned to it.
  Instance(Shared& sh, Role role, long blocks, int ranks, const ServingConfig& sv)
      : sh_(sh), role_(role), total_blocks_(blocks), free_blocks_(blocks),
        watermark_(static_cast<long>(0.01 * double(blocks / ranks))), max_batch_(sv.max_batch),
        budget_(sv.max_batch_tokens), block_(sv.kv_block_tokens), spec_k_(sv.speculative.tokens), ranks_(ranks),
        rank_free_(static_cast<std::size_t>(ranks), blocks / ranks), rank_seqs_(static_cast<std::size_t>(ranks), 0) {}

  void set_id(std::uint32_t id) { id_ = id; }
  void join(Pool& pool) {
    pool_ = &pool;
    pool_index_ = static_cast<std::uint32_t>(pool.members.size());
    pool.members.push_back(this);
    pool.by_load.insert({0, pool_index_});
  }
  std::size_t outstanding() const { return running_.size() + waiting_.size(); }

  void enqueue(sim::Engine& e, const Seq& s) {
    waiting_.push_back(s);
    update_load();
    if (!busy_) {
      busy_ = true;  // start at this time, after every arrival of the same instant
      e.schedule(e.now(), id_, 0);
    }
  }

  void on_event(sim::Engine& e, std::uint64_t) override {
    if (in_iteration_) {
      finish_iteration(e);
      update_load();
    }
    start_iteration(e);
  }

  double used_block_seconds() const { return used_block_s_; }
  long peak_blocks() const { return peak_blocks_; }
  long total_blocks() const { return total_blocks_; }

 private:
  long blocks_for(long tokens) const { return (tokens + block_ - 1) / block_; }

  void update_load() {
    const std::size_t now = outstanding();
    if (now == load_) return;
    pool_->by_load.erase({load_, pool_index_});
    load_ = now;
    pool_->by_load.insert({load_, pool_index_});
  }

  void release(const Seq& v) {
    free_blocks_ += v.blocks;
    rank_free_[std::size_t(v.rank)] += v.blocks;
    --rank_seqs_[std::size_t(v.rank)];
  }

  // Preempts running_[j] (recompute: its blocks are freed, its tokens recomputed later).
  void preempt_at(std::size_t j) {
    Seq v = running_[j];
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(j));
    release(v);
    v.blocks = 0;
    v.need = static_cast<std::int32_t>((*sh_.requests)[v.req].input) + v.gen;
    v.done = 0;
    v.sched = 0;
    waiting_.push_front(v);
    ++sh_.preemptions;
  }

  // Forms one iteration's batch. Token budget per scheduler: one per replica stream, or one per
  // attention-DP rank (TensorRT-LLM and SGLang run a scheduler with its own max_num_tokens and
  // max batch on every rank). kDp = false keeps the single budget in a register.
  template <bool kDp>
  BatchShape form_batch(sim::Engine& e) {
    long budget1 = budget_;
    if constexpr (kDp) std::fill(rank_budget_.begin(), rank_budget_.end(), budget_);
    auto budget_of = [&](std::size_t r) -> long& {
      if constexpr (kDp) {
        return rank_budget_[r];
      } else {
        (void)r;
        return budget1;
      }
    };
    BatchShape b;
    // 1. decodes
    for (std::size_t i = 0; i < running_.size(); ++i) {
      Seq& s = running_[i];
      if (s.done < s.need) continue;
      long& budget = budget_of(std::size_t(s.rank));
      if (budget == 0) {
        if constexpr (!kDp) break;
        continue;
      }
      // The last token, and with speculative decoding up to spec_k drafts, no more than the
      // output has left (drafts past it are not proposed) nor the budget allows.
      long q = 1;
      if (spec_k_ > 0) q = std::max(1L, std::min({long(spec_k_) + 1, long(s.out) - long(s.gen), budget}));
      // One more token needs a new block exactly when the held ones are full (blocks >=
      // ceil(done / block) always holds); a multiply instead of a division per sequence.
      const long more = q == 1 ? (long(s.done) + 1 > long(s.blocks) * block_ ? 1 : 0)
                               : std::max(0L, blocks_for(long(s.done) + q) - long(s.blocks));
      long& rank_free = rank_free_[std::size_t(s.rank)];
      bool self = false;
      while (more > rank_free) {
        // Preempt the most recently admitted sequence on the same rank (the last one without
        // attention DP); if that is this sequence, preempt it.
        std::size_t j = running_.size() - 1;
        while (j > i && running_[j].rank != s.rank) --j;
        if (j == i) {
          self = true;
          break;
        }
        preempt_at(j);
      }
      if (self) {
        preempt_at(i);
        if constexpr (!kDp) break;
        --i;  // the next sequence moved into slot i (wraps to 0 through size_t when i is 0)
        continue;
      }
      free_blocks_ -= more;
      rank_free -= more;
      s.blocks += static_cast<std::int32_t>(more);
      s.sched = static_cast<std::int32_t>(q);
      budget -= q;
    }
    // 2. prompt chunks of admitted sequences
    for (auto& s : running_) {
      long& budget = budget_of(std::size_t(s.rank));
      if (s.done >= s.need || budget == 0) continue;
      s.sched = static_cast<std::int32_t>(std::min<long>(s.need - s.done, budget));
      budget -= s.sched;
    }
    // 3. admissions
    while (!waiting_.empty()) {
      // The scheduler with token budget and a free batch slot left (with attention DP: of
      // those ranks, the one with the most free blocks, the first such); the sequence's KV
      // cache must fit in that rank's blocks.
      std::size_t r = 0;
      if constexpr (kDp) {
        r = rank_budget_.size();
        for (std::size_t k = 0; k < rank_budget_.size(); ++k) {
          if (rank_budget_[k] > 0 && rank_seqs_[k] < max_batch_ && (r == rank_budget_.size() || rank_free_[k] > rank_free_[r])) r = k;
        }
        if (r == rank_budget_.size()) break;
      } else {
        if (budget1 <= 0 || rank_seqs_[0] >= max_batch_) break;
      }
      long& budget = budget_of(r);
      Seq& s = waiting_.front();
      const long need_blocks = blocks_for(s.done >= s.need ? long(s.done) + 1 : long(s.need));
      if (need_blocks > rank_free_[r] - watermark_ && !(rank_seqs_[r] == 0 && need_blocks <= rank_free_[r])) break;
      free_blocks_ -= need_blocks;
      rank_free_[r] -= need_blocks;
      ++rank_seqs_[r];
      s.rank = static_cast<std::int32_t>(r);
      s.blocks = static_cast<std::int32_t>(need_blocks);
      s.sched = static_cast<std::int32_t>(std::min<long>(s.need - s.done, budget));
      if (s.done >= s.need) s.sched = 1;  // handed-over decode: KV already present
      budget -= s.sched;
      if (sh_.t.admitted[s.req] < 0) sh_.t.admitted[s.req] = e.now();
      running_.push_back(s);
      waiting_.pop_front();
    }
    if constexpr (kDp) std::fill(per_rank_.begin(), per_rank_.end(), BatchShape{});
    for (const auto& s : running_) {
      if (s.sched == 0) continue;
      const double q = s.sched, c = s.done;
      const double pairs = q * (c + (q + 1.0) / 2.0);
      const bool decoding = s.done >= s.need, row = s.done + s.sched >= s.need;
      // A verification pass samples at every position: 1 + drafts rows.
      const double rows = decoding ? q : (row ? 1.0 : 0.0);
      b.tokens += q;
      b.seqs += 1;
      b.kv_tokens += c + q;
      if (decoding) b.decode_kv_tokens += c + q;
      b.attn_pairs += pairs;
      b.attn_full_pairs += q * c;
      b.logits_rows += rows;
      if (decoding && s.sched > 1) {
        b.draft_seqs += 1;
        b.draft_kv_tokens += c;
      }
      if constexpr (kDp) {
        BatchShape& x = per_rank_[std::size_t(s.rank)];
        x.tokens += q;
        x.kv_tokens += c + q;
        if (decoding) x.decode_kv_tokens += c + q;
        x.attn_pairs += pairs;
        x.attn_full_pairs += q * c;
        x.logits_rows += rows;
      }
    }
    if constexpr (kDp) {
      // The busiest rank, per quantity; the causal and the non-causal pairs separately (their
      // maxima may come from different ranks: the sum bounds any one rank's attention).
      double causal = 0;
      for (const auto& x : per_rank_) {
        b.rank_tokens = std::max(b.rank_tokens, x.tokens);
        b.rank_kv = std::max(b.rank_kv, x.kv_tokens);
        b.rank_decode_kv = std::max(b.rank_decode_kv, x.decode_kv_tokens);
        causal = std::max(causal, x.attn_pairs - x.attn_full_pairs);
        b.rank_full_pairs = std::max(b.rank_full_pairs, x.attn_full_pairs);
        b.rank_rows = std::max(b.rank_rows, x.logits_rows);
      }
      b.rank_pairs = causal + b.rank_full_pairs;
    }
    return b;
  }

  void start_iteration(sim::Engine& e) {
    const BatchShape b = ranks_ > 1 ? form_batch<true>(e) : form_batch<false>(e);
    if (b.seqs == 0) {
      busy_ = false;
      in_iteration_ = false;
      if (!running_.empty() || !waiting_.empty()) {
        // Nothing fits (cannot happen: capacity is checked up front); avoid a silent stall.
        throw std::logic_error("serving simulator: a request cannot be scheduled");
      }
      return;
    }
    const Seconds dt = sh_.cost->iteration_time(b);
    const SimTime step = std::max<SimTime>(1, to_sim_time(dt));
    const long used = total_blocks_ - free_blocks_;
    used_block_s_ += double(used) * double(step) * 1e-9;
    peak_blocks_ = std::max(peak_blocks_, used);
    ++sh_.iterations;
    sh_.batch_sum += b.seqs;
    // A drafting sequence-step (its acceptances drawn) costs about 1.4x a plain one (100,000
    // requests of 1,000 tokens at k = 4 and acceptance 0: 2.3 s against 1.7 s without drafts).
    sh_.work_steps += b.seqs + kDraftStepExtra * b.draft_seqs;
    if (work_ns(double(sh_.iterations), sh_.work_steps) > kMaxWorkNs) {
      throw InputError("serving.requests",
                       fmt::format("the simulation passed its work limit ({:.3g} iterations and {:.3g} sequence-steps; "
                                   "{:.0e} iterations alone, {:.0e} sequence-steps alone): simulate fewer requests, or, "
                                   "if a batch is held small by the KV cache or preemptions, give the KV cache more room",
                                   double(sh_.iterations), sh_.work_steps, kMaxIterations, kMaxSequenceSteps));
    }
    in_iteration_ = true;
    busy_ = true;
    e.schedule(e.now() + step, id_, 0);
  }

  void finish_iteration(sim::Engine& e) {
    in_iteration_ = false;
    std::size_t w = 0;
    for (std::size_t i = 0; i < running_.size(); ++i) {
      Seq s = running_[i];
      bool keep = true;
      if (s.sched > 0) {
        // A decoding sequence emits its token, or with drafts 1 + the accepted ones: each
        // accepted with probability spec_accept while the ones before it were (the first
        // rejected is replaced by the target's token); only their KV stays.
        const bool decoding = s.done >= s.need;
        std::int32_t emitted = 1;
        if (decoding && s.sched > 1) {
          while (emitted < s.sched && sh_.spec_rng.uniform() < sh_.spec_accept) ++emitted;
          sh_.spec_steps += 1;
          sh_.spec_tokens += emitted;
        }
        s.done += decoding ? emitted : s.sched;
        s.sched = 0;
        if (s.done >= s.need) {
          s.gen += emitted;
          if (sh_.t.first[s.req] < 0) sh_.t.first[s.req] = e.now();
          if (s.gen >= s.out) {
            sh_.t.finish[s.req] = e.now();
            release(s);
            keep = false;
          } else if (role_ == Role::kPrefill) {
            release(s);
            keep = false;
            hand_over(e, s);
          }
        }
      }
      if (keep) running_[w++] = s;
    }
    running_.resize(w);
  }

  void hand_over(sim::Engine& e, const Seq& s) {
    // The request's KV cache (done tokens) moves to a decode replica; the decode dispatcher
    // receives it when the transfer completes (payload: request index).
    const Seconds t = sh_.cost->kv_transfer_time(double(s.done), sh_.cross_domain_transfer);
    e.schedule(e.now() + to_sim_time(t), sh_.decode_dispatch, s.req);
  }

  Shared& sh_;
  Role role_;
  std::uint32_t id_ = 0;
  Pool* pool_ = nullptr;
  std::uint32_t pool_index_ = 0;
  std::size_t load_ = 0;
  long total_blocks_, free_blocks_, watermark_, max_batch_, budget_, block_;
  int spec_k_;
  int ranks_;
  std::vector<long> rank_free_;   // free blocks per attention-DP rank (one entry without it)
  std::vector<long> rank_seqs_;   // running sequences per rank
  // Attention DP only (form_batch<true>): tokens left this iteration and the batch, per rank.
  std::vector<long> rank_budget_ = std::vector<long>(ranks_ > 1 ? std::size_t(ranks_) : 0, 0);
  std::vector<BatchShape> per_rank_ = std::vector<BatchShape>(ranks_ > 1 ? std::size_t(ranks_) : 0);
  std::deque<Seq> waiting_;
  std::vector<Seq> running_;
  bool busy_ = false, in_iteration_ = false;
  double used_block_s_ = 0;
  long peak_blocks_ = 0;
};

// Arrivals: every request arriving at the same instant is dispatched in one event, then the
// next arrival time is scheduled.
class Arrivals : public sim::Process {
 public:
  explicit Arrivals(Shared& sh) : sh_(sh) {}
  void set_id(std::uint32_t id) { id_ = id; }
  void on_event(sim::Engine& e, std::uint64_t) override {
    const auto& rq = *sh_.requests;
    const SimTime now = e.now();
    while (next_ < rq.size() && sh_.t.arrival[next_] <= now) {
      const RequestSpec& r = rq[next_];
      Seq s;
      s.req = static_cast<std::uint32_t>(next_);
      s.need = static_cast<std::int32_t>(r.input);
      s.out = static_cast<std::int32_t>(r.output);
      sh_.prefill_pool.least()->enqueue(e, s);
      ++next_;
    }
    if (next_ < rq.size()) e.schedule(sh_.t.arrival[next_], id_, 0);
  }

 private:
  Shared& sh_;
  std::uint32_t id_ = 0;
  std::size_t next_ = 0;
};

class DecodeDispatch : public sim::Process {
 public:
  explicit DecodeDispatch(Shared& sh) : sh_(sh) {}
  void on_event(sim::Engine& e, std::uint64_t payload) override {
    const auto req = static_cast<std::uint32_t>(payload);
    const RequestSpec& r = (*sh_.requests)[req];
    Seq s;
    s.req = req;
    s.need = static_cast<std::int32_t>(r.input);
    s.done = static_cast<std::int32_t>(r.input);
    s.gen = 1;
    s.out = static_cast<std::int32_t>(r.output);
    sh_.decode_pool.least()->enqueue(e, s);
  }

 private:
  Shared& sh_;
};

// Linear-interpolation percentiles (NumPy's default) of `v` (sorted in place).
LatencyPercentiles percentiles(std::vector<double>& v) {
  LatencyPercentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q / 100.0 * double(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
  };
  p.p50 = at(50);
  p.p90 = at(90);
  p.p99 = at(99);
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / double(v.size());
  return p;
}

}  // namespace

std::string fit_message(const ServeScenario& s, const InferenceCost& cost) {
  const auto& g = s.base.cluster.gpu;
  return fmt::format(
      "{} does not fit on {} GPU(s) of {} per replica (tp {} x pp {}): {:.1f} GiB of {} weights and {:.1f} GiB of "
      "activation workspace per GPU {}; {}"
      "or quantize the weights (serving.weight_precision)",
      s.base.model.name, cost.gpus(), g.name, cost.tp(), cost.pp(), cost.weight_bytes_per_gpu() / kGiB,
      weight_precision_name(s.serving), cost.workspace_bytes_per_gpu() / kGiB,
      fmt::format(fmt::runtime(cost.kv_capacity_bytes_per_gpu() > 0
                                   ? "leave {0:.1f} GiB of the {1:.0f} % x {2:.0f} GiB usable for the KV cache"
                                   : "exceed the {1:.0f} % x {2:.0f} GiB usable by {0:.1f} GiB, leaving nothing for the KV cache"),
                  std::abs(cost.kv_capacity_bytes_per_gpu()) / kGiB, 100 * s.serving.gpu_memory_utilization, g.hbm_gib),
      (cost.draft_weight_bytes_per_gpu() > 0
           ? fmt::format("the speculative draft ({}) holds {:.1f} GiB of the weights: a smaller draft, ", s.serving.speculative.draft,
                         cost.draft_weight_bytes_per_gpu() / kGiB)
           : std::string()) +
          (s.serving.attention_dp ? "with attention DP every GPU holds whole attention weights: raise tp (the experts' share), "
                                  : "raise tp or pp, "));
}

std::vector<std::string> serve_notes(const ServeScenario& s, const ServeResult& r) {
  std::vector<std::string> out;
  const ModelSpec& m = s.base.model;
  // The last output token is sampled, not fed back: a request occupies input + output - 1 positions.
  if (m.max_seq_len > 0 && r.longest_request - 1 > m.max_seq_len) {
    out.push_back(fmt::format("requests reach {} positions (input + output - 1), beyond {}'s context of {} "
                              "(model.max_seq_len): served only with RoPE scaling or a longer-context variant",
                              r.longest_request - 1, m.name, m.max_seq_len));
  }
  const auto& d = s.serving.speculative.draft_model;
  if (s.serving.speculative.tokens > 0 && d && d->max_seq_len > 0 && r.longest_request - 1 > d->max_seq_len) {
    out.push_back(fmt::format("requests reach {} positions, beyond the draft {}'s context of {}", r.longest_request - 1, d->name,
                              d->max_seq_len));
  }
  return out;
}

double expected_tokens_per_step(const SpeculativeConfig& sp) {
  const double a = sp.acceptance, k = sp.tokens;
  return a >= 1 ? k + 1 : (1 - std::pow(a, k + 1)) / (1 - a);
}

ServeResult simulate_serving(const ServeScenario& s) { return simulate_serving(s, make_requests(s.serving)); }

ServeResult simulate_serving(const ServeScenario& s, const std::vector<RequestSpec>& requests) {
  validate_serve_split(s);
  const auto& sv = s.serving;
  const auto& p = s.base.parallel;
  const InferenceCost cost(s.base.model, s.base.cluster, p.tp, p.pp, p.ep, sv);
  const long replicas = s.replicas();
  const long streams = p.pp;  // vLLM virtual engines: pp batch streams share the replica's KV cache
  const long blocks_per_stream = cost.kv_blocks() / streams;
  if (cost.kv_capacity_bytes_per_gpu() <= 0 || blocks_per_stream < 1) {
    // When the activation workspace outweighs the weights, the batch limits that size it are
    // what does not fit: named, the larger of its two terms.
    if (cost.workspace_bytes_per_gpu() > cost.weight_bytes_per_gpu()) {
      const double ta = sv.attention_dp ? 1.0 : double(p.tp);
      const bool seqs = double(sv.max_batch) * double(s.base.model.vocab) / ta * 4.0 > 0.5 * cost.workspace_bytes_per_gpu();
      throw InputError(seqs ? "serving.max_batch" : "serving.max_batch_tokens",
                       fmt::format("{} {} sizes an activation workspace of {:.1f} GiB per GPU, which with {:.1f} GiB of weights "
                                   "leaves nothing for the KV cache in {:.0f} % x {:.0f} GiB: lower it",
                                   seqs ? "max_batch" : "max_batch_tokens", seqs ? sv.max_batch : sv.max_batch_tokens,
                                   cost.workspace_bytes_per_gpu() / kGiB, cost.weight_bytes_per_gpu() / kGiB,
                                   100 * sv.gpu_memory_utilization, s.base.cluster.gpu.hbm_gib));
    }
    throw InputError("parallel", fit_message(s, cost));
  }
  long longest = 0;
  double inputs = 0, outputs = 0;
  for (const auto& r : requests) {
    longest = std::max(longest, r.input + r.output);
    inputs += double(r.input);
    outputs += double(r.output);
  }
  const double tokens = inputs + outputs;
  // Bounds that keep every run finite in time and memory (a bad input must not hang).
  if (tokens > 1e11) throw InputError("serving.requests", fmt::format("{:.3g} tokens in all requests: more than the 1e11 a simulation handles", tokens));
  // The simulator's work: iterations summed over its instances (replicas and pp streams each
  // iterate on their own share), and sequence-steps (every sequence of every iteration; each
  // output token is one). An instance's iteration decodes at most max_batch sequences and
  // prefills at most max_batch_tokens per scheduler (per rank with attention DP), so it needs at
  // least max(outputs / max_batch, inputs / max_batch_tokens) / ranks iterations. Refused up
  // front when those lower bounds pass the work limit (kMaxWorkNs), and stopped at run time
  // when the counts do (online arrivals, a batch held small by the KV cache, preemptions).
  // With speculative decoding a sequence-step emits (1 - a^(k+1)) / (1 - a) tokens on average.
  const double ranks = sv.attention_dp ? double(p.tp) : 1.0;
  const double per_step = sv.speculative.tokens > 0 ? expected_tokens_per_step(sv.speculative) : 1.0;
  const double by_batch = outputs / per_step / double(sv.max_batch) / ranks, by_tokens = inputs / double(sv.max_batch_tokens) / ranks;
  const double min_iterations = std::max(by_batch, by_tokens);
  const double min_steps = outputs / per_step * (sv.speculative.tokens > 0 ? 1.0 + kDraftStepExtra : 1.0);
  if (work_ns(min_iterations, min_steps) > kMaxWorkNs) {
    if (work_ns(min_iterations, 0) > 0.5 * kMaxWorkNs) {
      throw InputError(by_batch >= by_tokens ? "serving.max_batch" : "serving.max_batch_tokens",
                       fmt::format("these requests need at least {:.3g} scheduler iterations and {:.3g} sequence-steps, more "
                                   "than a simulation handles ({:.0e} iterations alone): raise the limit or simulate fewer requests",
                                   min_iterations, min_steps, kMaxIterations));
    }
    throw InputError("serving.requests", fmt::format("{:.3g} sequence-steps ({:.3g} output tokens) and at least {:.3g} iterations: "
                                                     "more than a simulation handles ({:.0e} sequence-steps alone); simulate fewer requests",
                                                     min_steps, outputs, min_iterations, kMaxSequenceSteps));
  }
  if (!requests.empty() && requests.back().arrival_s > 1e9) {
    throw InputError("serving.arrival_rate_per_s", fmt::format("the requests arrive over {:.3g} s, more than 1e9 s", requests.back().arrival_s));
  }
  const long seq_blocks = cost.sequence_blocks() / streams;
  if (seq_blocks * sv.kv_block_tokens < longest) {
    throw InputError("serving", sv.attention_dp
                                    ? "a request of " + std::to_string(longest) + " tokens needs more KV cache than one GPU holds with attention DP (" +
                                          std::to_string(seq_blocks * sv.kv_block_tokens) +
                                          " tokens); lower kv_precision, quantize the weights, or shorten the requests"
                                    : "a request of " + std::to_string(longest) + " tokens needs more KV cache than a replica holds (" +
                                          std::to_string(seq_blocks * sv.kv_block_tokens) +
                                          " tokens per batch stream); raise tp or pp, lower kv_precision, or shorten the requests");
  }

  Shared sh;
  sh.requests = &requests;
  sh.cost = &cost;
  sh.spec_accept = sv.speculative.acceptance;
  sh.spec_rng = sim::Rng{sv.seed ^ 0x5DEECE66DULL};  // a stream of its own: the requests' draws stay the same
  const std::size_t n = requests.size();
  sh.t.arrival.resize(n);
  sh.t.first.assign(n, -1);
  sh.t.finish.assign(n, -1);
  sh.t.admitted.assign(n, -1);
  for (std::size_t i = 0; i < n; ++i) sh.t.arrival[i] = to_sim_time(Seconds(requests[i].arrival_s));

  sim::Engine engine;
  std::vector<std::unique_ptr<Instance>> inst;
  const long prefill_replicas = sv.disaggregation.prefill_replicas;
  // Dispatch goes to the least-loaded instance of a pool, the first in pool order among equals,
  // and at most n requests are ever outstanding: a pool's instances past its first n never
  // receive one. They are not built (a fleet of 1e7 GPUs serving a few requests took 42 s and
  // 10.7 GB); occupancy is averaged over every instance, the unbuilt ones empty.
  const long pool_cap = std::max<long>(1, static_cast<long>(std::min<std::size_t>(n, std::size_t(1) << 40)));
  long in_prefill = 0, in_decode = 0;
  for (long r = 0; r < replicas; ++r) {
    const Role role = prefill_replicas == 0 ? Role::kMixed : (r < prefill_replicas ? Role::kPrefill : Role::kDecode);
    for (long k = 0; k < streams; ++k) {
      long& built = role == Role::kDecode ? in_decode : in_prefill;
      if (built >= pool_cap) break;
      ++built;
      inst.push_back(std::make_unique<Instance>(sh, role, blocks_per_stream, sv.attention_dp ? p.tp : 1, sv));
      inst.back()->set_id(engine.add(inst.back().get()));
      inst.back()->join(role == Role::kDecode ? sh.decode_pool : sh.prefill_pool);
    }
  }
  // KV moves over NVLink when a prefill and a decode replica share a scale-up domain.
  sh.cross_domain_transfer = long(p.tp) * p.pp * 2 > std::max(1, s.base.cluster.scale_up_domain);
  Arrivals arrivals(sh);
  const std::uint32_t arrivals_id = engine.add(&arrivals);
  arrivals.set_id(arrivals_id);
  DecodeDispatch dd(sh);
  sh.decode_dispatch = engine.add(&dd);
  if (n > 0) engine.schedule(sh.t.arrival[0], arrivals_id, 0);
  engine.run();

  ServeResult res;
  res.requests = static_cast<long>(n);
  res.replicas = replicas;
  res.prefill_replicas = prefill_replicas;
  res.gpus = replicas * cost.gpus();
  res.preemptions = sh.preemptions;
  res.iterations = sh.iterations;
  res.longest_request = longest;
  res.spec_steps = sh.spec_steps;
  res.spec_tokens = sh.spec_tokens;
  res.weight_bytes_per_gpu = cost.weight_bytes_per_gpu();
  res.kv_bytes_per_token = cost.kv_bytes_per_token();
  res.kv_bytes_per_token_stored = cost.kv_bytes_per_token_per_gpu() * double(p.pp) * (sv.attention_dp ? 1.0 : double(p.tp));
  res.kv_blocks = cost.kv_blocks();
  res.kv_capacity_tokens = double(cost.kv_blocks()) * double(sv.kv_block_tokens);
  std::vector<double> ttft, tpot, e2e, queue;
  ttft.reserve(n);
  e2e.reserve(n);
  tpot.reserve(n);
  queue.reserve(n);
  SimTime last = 0;
  double in_tok = 0, out_tok = 0;
  long attained = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (sh.t.finish[i] < 0) continue;
    ++res.completed;
    last = std::max(last, sh.t.finish[i]);
    const double a = double(sh.t.arrival[i]) * 1e-9, f = double(sh.t.first[i]) * 1e-9, d = double(sh.t.finish[i]) * 1e-9;
    ttft.push_back(f - a);
    e2e.push_back(d - a);
    queue.push_back(double(sh.t.admitted[i]) * 1e-9 - a);
    const double tp = requests[i].output > 1 ? (d - f) / double(requests[i].output - 1) : 0.0;
    if (requests[i].output > 1) tpot.push_back(tp);
    in_tok += double(requests[i].input);
    out_tok += double(requests[i].output);
    const bool ok = (sv.slo.ttft_s <= 0 || f - a <= sv.slo.ttft_s) && (sv.slo.tpot_s <= 0 || tp <= sv.slo.tpot_s);
    attained += ok ? 1 : 0;
  }
  const double first_arrival = n > 0 ? double(sh.t.arrival[0]) * 1e-9 : 0.0;
  res.makespan_s = std::max(1e-9, double(last) * 1e-9 - first_arrival);
  res.requests_per_s = double(res.completed) / res.makespan_s;
  res.input_tokens_per_s = in_tok / res.makespan_s;
  res.output_tokens_per_s = out_tok / res.makespan_s;
  res.output_tokens_per_s_per_gpu = res.output_tokens_per_s / double(res.gpus);
  res.ttft_s = percentiles(ttft);
  res.tpot_s = percentiles(tpot);
  res.e2e_s = percentiles(e2e);
  res.queue_s = percentiles(queue);
  res.slo_attainment = n > 0 ? double(attained) / double(n) : 1.0;
  res.goodput_requests_per_s = double(attained) / res.makespan_s;
  res.slo_met = (sv.slo.ttft_s <= 0 || res.ttft_s.at(sv.slo.percentile) <= sv.slo.ttft_s) &&
                (sv.slo.tpot_s <= 0 || tpot.empty() || res.tpot_s.at(sv.slo.percentile) <= sv.slo.tpot_s);
  double used = 0, peak = 0;
  for (const auto& x : inst) {
    used += x->used_block_seconds() / double(x->total_blocks());
    peak = std::max(peak, double(x->peak_blocks()) / double(x->total_blocks()));
  }
  res.kv_occupancy_mean = used / (double(replicas) * double(streams)) / res.makespan_s;
  res.kv_occupancy_peak = peak;
  res.batch_mean = sh.iterations > 0 ? sh.batch_sum / double(sh.iterations) : 0.0;
  // One decode iteration at the mean batch, each sequence half-way through its output.
  if (n > 0) {
    const double ctx = (in_tok + out_tok / 2.0) / double(std::max(1L, res.completed));
    const double bsz = std::max(1.0, res.batch_mean);
    // With speculative decoding (when any step drafted), a verification pass of 1 + drafts
    // tokens and the drafts.
    const double q = 1.0 + (res.spec_steps > 0 ? sv.speculative.tokens : 0);
    BatchShape b{bsz * q, bsz, bsz * q, bsz * (ctx + q), bsz * q * (ctx + (q + 1) / 2)};
    b.attn_full_pairs = bsz * q * ctx;  // each new token against its cached context
    b.decode_kv_tokens = b.kv_tokens;  // every sequence decodes (rank_* unset: an even spread with attention DP)
    if (q > 1) {
      b.draft_seqs = bsz;
      b.draft_kv_tokens = bsz * ctx;
    }
    res.decode_step_s = cost.iteration_time(b).value;
  }
  return res;
}

}  // namespace wanka
