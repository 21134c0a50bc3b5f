#include "wanka/plan.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "train/step_model.hpp"
#include "wanka/accelerator.hpp"
#include "wanka/error.hpp"

#include <fmt/format.h>

namespace wanka {

const char* to_string(Objective o) {
  switch (o) {
    case Objective::kTime: return "time";
    case Objective::kCost: return "cost";
    case Objective::kEnergy: return "energy";
  }
  return "?";
}

std::optional<Objective> parse_objective(const std::string& s) {
  if (s == "time") return Objective::kTime;
  if (s == "cost") return Objective::kCost;
  if (s == "energy") return Objective::kEnergy;
  return std::nullopt;
}

namespace {

// Relative slack on lower bounds: the pipeline simulation rounds each task to whole
// nanoseconds, so a simulated time may undercut the bound by a few ns per task.
constexpr double kBoundSlack = 1e-3;
// Splits simulated between two updates of the pruning bounds. Fixed (not per thread) so that
// what gets simulated, and hence every count in the result, is independent of the thread count.
constexpr std::size_t kBatch = 32;
// The time/headroom Pareto front keeps a slower split only if it frees at least this share of
// the GPU's memory more than every faster one: finer steps are noise, not a choice.
constexpr double kFrontStep = 0.01;
// rank_split: step times within this fraction of each other are ties.
constexpr double kRankTolerance = 0.01;
// ... and only splits within this factor of the best step time: a split several times slower
// is not a memory/time trade anyone makes.
constexpr double kFrontWindow = 1.5;

// Price used for the cost objective when the cluster has none: ranks by GPU-hours.
double price_or_one(const ClusterConfig& c) { return c.price_per_gpu_hour_usd > 0 ? c.price_per_gpu_hour_usd : 1.0; }

double cost_per_second(const Scenario& s) { return double(s.cluster.num_gpus) * price_or_one(s.cluster) / 3600.0; }

// Cluster power (W) at a given busy fraction, PUE included.
double cluster_power_w(const Scenario& s, double busy_frac) {
  return double(s.cluster.num_gpus) * detail::power_w_per_gpu(s.cluster, busy_frac) * s.cluster.pue;
}

struct Candidate {
  std::uint64_t order = 0;  // enumeration index: the deterministic tie-break
  int tp = 1, cp = 1, pp = 1, vpp = 1, ep = 1, micro_batch = 1, zero = 0;
  int first_layers = -1, last_layers = -1;  // parallel.first/last_stage_layers (-1: the even share)
  unsigned modules = kRecomputeCoreAttn;  // recompute_modules (selective); here it fills the padding before dp
  std::int64_t dp = 1;
  Recompute recompute = Recompute::kNone;
  bool sp = false;
  CpComm cp_comm = CpComm::kP2p;
  bool rough = false;     // lb_time is a share of the ring twin's (an a2a twin): refined before simulating
  float twin_share = -1;  // a ring split with an a2a twin not listed yet: the twin's bound / this bound (>= 0)
  double peak_bytes = 0;  // lower bound on the peak memory per GPU (exact when near capacity)
  double lb_time = 0;  // lower bound on the step time
  double lb_obj = 0;   // lower bound on the objective
};

// ": reason count, ..." for the three most frequent reasons a split was invalid.
std::string invalid_reasons(const std::map<std::string, std::uint64_t>& by_reason) {
  std::vector<std::pair<std::uint64_t, std::string>> v;
  for (const auto& [why, n] : by_reason) {
    if (n > 0) v.emplace_back(n, why);
  }
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < 3; ++i) out += (i ? ", " : ": ") + v[i].second + " " + std::to_string(v[i].first);
  return out;
}

bool same_but_zero(const Candidate& a, const Candidate& b) {
  return std::tie(a.tp, a.cp, a.pp, a.vpp, a.first_layers, a.last_layers, a.ep, a.dp, a.micro_batch, a.recompute,
                  a.modules, a.sp, a.cp_comm) ==
         std::tie(b.tp, b.cp, b.pp, b.vpp, b.first_layers, b.last_layers, b.ep, b.dp, b.micro_batch, b.recompute,
                  b.modules, b.sp, b.cp_comm);
}

void apply(const Candidate& c, Scenario& s) {
  s.parallel.tp = c.tp;
  s.parallel.cp = c.cp;
  s.parallel.cp_comm_type = c.cp_comm;
  s.parallel.pp = c.pp;
  s.parallel.vpp = c.vpp;
  s.parallel.first_stage_layers = c.first_layers;
  s.parallel.last_stage_layers = c.last_layers;
  s.parallel.ep = c.ep;
  s.parallel.dp = c.dp;
  s.parallel.micro_batch = c.micro_batch;
  s.parallel.zero = c.zero;
  s.parallel.recompute = c.recompute;
  s.parallel.recompute_modules = c.modules;
  s.parallel.sequence_parallel = c.sp;
  s.cluster.num_gpus = static_cast<std::int64_t>(c.tp) * c.cp * c.pp * c.dp;
}

// One thread's reusable state: a scenario to mutate, the accelerator and a cache of per-layer
// costs keyed by what they depend on.
class Worker {
 public:
  explicit Worker(const Scenario& base)
      : s_(base), acc_(base.cluster.gpu, base.training.precision, base.training.attention, attention_head_dim(base.model)) {}

  Scenario& scenario() { return s_; }
  const Accelerator& acc() const { return acc_; }

  // The full estimate of a candidate split (pipeline simulated). Splits that differ only in
  // what leaves the schedule alone (ZeRO 1 versus 2, which shard the same collectives) have the
  // same pipeline spec: the last few simulations are kept and reused when the spec is equal.
  Estimate estimate(const Candidate& c) {
    apply(c, s_);
    detail::StepModel st;
    detail::build_step(s_, costs(), st);
    for (const auto& [spec, result] : recent_) {
      if (same_pipeline(spec, st.ps)) return detail::finish_estimate(s_, acc_, st, &result);
    }
    PipelineResult pr = simulate_pipeline(st.ps);
    Estimate e = detail::finish_estimate(s_, acc_, st, &pr);
    if (recent_.size() == kRecent) recent_.erase(recent_.begin());
    recent_.emplace_back(st.ps, std::move(pr));
    return e;
  }

  std::shared_ptr<const detail::LayerCosts> costs() {
    const auto& p = s_.parallel;
    const Key k{p.tp, p.cp * 2 + (p.cp_comm_type == CpComm::kA2a ? 1 : 0), p.ep, p.micro_batch,
                static_cast<int>(p.recompute) | static_cast<int>(p.recompute_modules << 2),
                p.sequence_parallel};
    auto it = cache_.find(k);
    if (it != cache_.end()) return it->second;
    auto lc = std::make_shared<const detail::LayerCosts>(detail::layer_costs(s_, acc_, detail::make_fabric(s_.cluster)));
    cache_.emplace(k, lc);
    return lc;
  }

 private:
  using Key = std::tuple<int, int, int, int, int, bool>;
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      std::size_t h = 1469598103934665603ull;
      auto mix = [&](std::size_t v) { h = (h ^ v) * 1099511628211ull; };
      mix(std::size_t(std::get<0>(k)));
      mix(std::size_t(std::get<1>(k)));
      mix(std::size_t(std::get<2>(k)));
      mix(std::size_t(std::get<3>(k)));
      mix(std::size_t(std::get<4>(k)));
      mix(std::size_t(std::get<5>(k)));
      return h;
    }
  };
  static bool same_pipeline(const PipelineSpec& a, const PipelineSpec& b) {
    return a.ranks == b.ranks && a.chunks == b.chunks && a.micro_batches == b.micro_batches &&
           a.overlap_p2p == b.overlap_p2p && a.fwd == b.fwd && a.bwd == b.bwd && a.p2p == b.p2p &&
           a.activation_bytes == b.activation_bytes;
  }
  static constexpr std::size_t kRecent = 4;
  std::vector<std::pair<PipelineSpec, PipelineResult>> recent_;
  Scenario s_;
  Accelerator acc_;
  std::unordered_map<Key, std::shared_ptr<const detail::LayerCosts>, KeyHash> cache_;
};

// The divisors of n up to cap, ascending, by trial division up to sqrt(n): a global batch of
// 1e9 sequences is 31,623 trials, not 1e9 per layout.
std::vector<int> divisors(std::int64_t n, std::int64_t cap) {
  std::vector<int> lo, hi;
  for (std::int64_t i = 1; i * i <= n && i <= cap; ++i) {
    if (n % i != 0) continue;
    lo.push_back(static_cast<int>(i));
    const std::int64_t j = n / i;
    if (j != i && j <= cap) hi.push_back(static_cast<int>(j));
  }
  lo.insert(lo.end(), hi.rbegin(), hi.rend());
  return lo;
}

template <class T>
bool contains(const std::vector<T>& sorted, const T& v) {
  if constexpr (std::is_same_v<T, bool>) return std::find(sorted.begin(), sorted.end(), v) != sorted.end();
  else return std::binary_search(sorted.begin(), sorted.end(), v);
}

// The values of `all` (the structurally possible ones of a dimension, in enumeration order)
// that `only` lists (all of them when it is empty), less `except`. A pinned value outside `all`
// could never be valid: leaving it out keeps a huge pinned range (--micro-batch 1..100000) from
// being enumerated one invalid split at a time. `only` and `except` are sorted (Search's copy).
template <class T>
std::vector<T> allowed(const Dim<T>& d, const std::vector<T>& all) {
  std::vector<T> out;
  for (const T& v : all) {
    if ((d.only.empty() || contains(d.only, v)) && !contains(d.except, v)) out.push_back(v);
  }
  return out;
}

template <class T>
void sort_dim(Dim<T>& d) {
  if constexpr (!std::is_same_v<T, bool>) {
    std::sort(d.only.begin(), d.only.end());
    std::sort(d.except.begin(), d.except.end());
  }
}

// The search space with its value lists sorted (allowed() searches them).
PlanSpace sorted_space(PlanSpace sp) {
  sort_dim(sp.tp); sort_dim(sp.pp); sort_dim(sp.vpp); sort_dim(sp.cp); sort_dim(sp.ep);
  sort_dim(sp.micro_batch); sort_dim(sp.zero); sort_dim(sp.recompute); sort_dim(sp.cp_comm);
  return sp;
}

// A pinned global dimension none of whose allowed values is possible: the error names it.
template <class T>
void require_some(const std::vector<T>& values, const Dim<T>& d, const char* field, const std::string& rule) {
  if (values.empty() && !(d.only.empty() && d.except.empty())) {
    throw InputError(field, "the pins and --exclude leave no possible value (" + rule + ")");
  }
}

// The (tp, cp, pp) triples: the outer unit of parallel work. With cp > 1, `ring` and `ulysses`
// say which CP exchanges are searched: p2p, a2a, or both (the a2a split as the ring split's twin).
struct Layout {
  int tp, cp, pp;
  bool ring = true, ulysses = false;
};

class Search {
 public:
  // skip_no_faster_twins: leave out a2a twins proved no faster than their ring split (the planner;
  // rank_split keeps them: no faster than the ring split, they may still beat a given split).
  Search(const Scenario& base, const PlanOptions& opt, bool skip_no_faster_twins = true)
      : base_(base), opt_(opt), space_(sorted_space(opt.space)), capacity_(base.cluster.gpu.hbm_capacity().value),
        skip_no_faster_twins_(skip_no_faster_twins) {
    base_.parallel.allow_uneven_stages = !opt.space.even_stages;
    const auto& m = base_.model;
    const auto& t = base_.training;
    const std::int64_t n = base_.cluster.num_gpus;
    const auto& sp = space_;
    // tp: divisors of the heads (Megatron splits heads), up to the cluster.
    std::vector<int> tps;
    for (int d : divisors(m.heads, n)) tps.push_back(d);
    tps = allowed(sp.tp, tps);
    require_some(tps, sp.tp, "parallel.tp",
                 fmt::format("tp divides the {} heads of {} and is at most the {} GPUs", m.heads, m.name, n));
    std::vector<int> cps{1};
    for (std::int64_t c = 2; c <= n && 2 * c <= t.seq_len; ++c) {
      if (t.seq_len % (2 * c) == 0) cps.push_back(static_cast<int>(c));
    }
    cps = allowed(sp.cp, cps);
    require_some(cps, sp.cp, "parallel.cp",
                 fmt::format("cp is 1 or divides half the {}-token sequence, at most the {} GPUs", t.seq_len, n));
    // The CP exchange: the base scenario's unless the space names some (PlanSpace::cp_comm);
    // a2a only where cp divides the heads per TP rank. Without CP there is no exchange (one
    // layout, whatever the pin).
    const std::vector<CpComm> comms = sp.cp_comm.only.empty() && sp.cp_comm.except.empty()
                                          ? std::vector<CpComm>{base_.parallel.cp_comm_type}
                                          : allowed(sp.cp_comm, {CpComm::kP2p, CpComm::kA2a});
    for (int tp : tps) {
      for (int cp : cps) {
        const double tc = double(tp) * double(cp);
        if (tc > double(n)) continue;
        std::vector<int> pps;
        for (long pp = 1; pp <= m.layers && double(pp) * tc <= double(n); ++pp) pps.push_back(static_cast<int>(pp));
        pps = allowed(sp.pp, pps);
        const auto has = [&](CpComm cc) { return std::find(comms.begin(), comms.end(), cc) != comms.end(); };
        const bool ring = cp == 1 || has(CpComm::kP2p);
        // Searched alone, a2a layouts whose heads cp does not divide are enumerated (and counted
        // invalid, cp-heads); beside the ring they are left out.
        const bool ulysses = cp > 1 && has(CpComm::kA2a) && (!ring || ulysses_heads_divide(m, tp, cp));
        if (!ring && !ulysses) continue;
        for (int pp : pps) {
          if (double(pp) * tc <= double(n)) layouts_.push_back({tp, cp, pp, ring, ulysses});
        }
      }
    }
    if (m.is_moe()) {
      for (int d : divisors(m.moe.experts, n)) eps_.push_back(d);
    } else {
      eps_ = {1};
    }
    eps_ = allowed(sp.ep, eps_);
    require_some(eps_, sp.ep, "parallel.ep",
                 m.is_moe() ? fmt::format("ep divides the {} experts of {}", m.moe.experts, m.name)
                            : m.name + " is dense: ep is 1");
    // Recompute choices: none, full, and selective with the scenario's modules (default core
    // attention). Unless the input names modules (PlanSpace::recompute_modules_given, or modules
    // other than the default), MoE and MLA models also get the memory-saving set of
    // Megatron-Core's MoE recipes and DeepSeek-V3 (norms, MLA up-projections, expert
    // activations: docs/model.md §3.6, §14).
    for (Recompute r : allowed(sp.recompute, {Recompute::kNone, Recompute::kSelective, Recompute::kFull})) {
      if (r != Recompute::kSelective) {
        rcs_.push_back({r, kRecomputeCoreAttn});
        continue;
      }
      const unsigned given = base_.parallel.recompute_modules;
      rcs_.push_back({r, given});
      if (!sp.recompute_modules_given && given == kRecomputeCoreAttn && (m.is_moe() || m.mla)) {
        rcs_.push_back({r, kRecomputeLayernorm | (m.mla ? unsigned(kRecomputeMlaUpProj) : 0u) |
                               (m.is_moe() ? unsigned(kRecomputeMoeAct) : 0u)});
      }
    }
    // The last pipeline stage also runs the output layer and loss, and the multi-token-prediction
    // modules with the head again (docs/model.md §3.9): in layers' worth of model FLOPs per
    // token, e = (6 V h (1 + D) + 12 D h^2) / l + D, l the mean layer's FLOPs. Megatron-LM evens
    // it out with --decoder-last-pipeline-num-layers (DeepSeek-V3's module sits with the head;
    // Llama 3 405B lightened its first and last stages, Dubey et al. 2024 §3.3.2). Unless the
    // scenario gives edge counts or the search keeps stages even (--even-stages), it also tries
    // the last stage with 1 .. min(2, round(e)) layers fewer than the even share: none when
    // e < 0.5 (GPT-3 175B: 0.33, Turing-530B: 0.20; Llama 3 405B at 8K: 0.61, Llama 3 8B at 8K:
    // 1.84, DeepSeek-V3: 3.6). Two at most, because the FLOP ratio overstates what the head
    // costs in time (its GEMMs run near peak, the layers also communicate): DeepSeek-V3's best
    // PP16 placement is 2 layers lighter (§3.9), not 3.
    if (bp_edges_free()) {
      const ModelCounts mc = count_model(m, t.seq_len);
      const double h = double(m.hidden), D = double(m.mtp_layers);
      const double head = 6.0 * double(m.vocab) * h * (1.0 + D) + 12.0 * D * h * h;
      const double layer = (mc.flops_per_token - head) / double(m.layers + m.mtp_layers);
      if (layer > 0) lighter_last_ = static_cast<int>(std::min(2.0, std::floor(head / layer + D + 0.5)));
    }
  }

  bool bp_edges_free() const { return base_.parallel.first_stage_layers < 0 && base_.parallel.last_stage_layers < 0; }

  // The last-stage layer counts searched for `stages` global stages: the scenario's (or the even
  // share, -1), then the lighter ones (lighter_last_) whose layout check_split would accept.
  std::vector<int> edge_variants(long stages) const {
    std::vector<int> out{base_.parallel.last_stage_layers};
    if (stages < 2 || lighter_last_ == 0 || !bp_edges_free() || space_.even_stages) return out;
    const long layers = base_.model.layers;
    const long even = stage_layout(layers, stages, -1, -1).layers_of(stages - 1);
    for (long j = 1; j <= lighter_last_ && even - j >= 0; ++j) {
      // A lighter last stage is an uneven layout: --even-stages searches none (above).
      if (stage_layout(layers, stages, -1, static_cast<int>(even - j)).issue != SplitIssue::kStageLayers) {
        out.push_back(static_cast<int>(even - j));
      }
    }
    return out;
  }

  // Largest data-parallel size for the layout that divides the global batch, fills whole nodes
  // and leaves at most max_idle_fraction of the GPUs idle; 0 if none.
  std::int64_t data_parallel(const Layout& l) const {
    const std::int64_t n = base_.cluster.num_gpus, node = base_.cluster.gpus_per_node;
    const std::int64_t mp = static_cast<std::int64_t>(l.tp) * l.cp * l.pp;
    const double min_used = double(n) * (1.0 - opt_.max_idle_fraction) - 1e-9;
    for (std::int64_t dp = n / mp; dp >= 1; --dp) {
      const std::int64_t used = dp * mp;
      if (double(used) < min_used) break;
      if (base_.training.global_batch % dp != 0) continue;
      if (used > node && used % node != 0) continue;
      return dp;
    }
    return 0;
  }

  // Phase 1 for one layout: enumerate its splits, check them, compute exact memory and the
  // bounds. Appends fitting candidates to `out` and counts the rest.
  struct Counts {
    std::uint64_t candidates = 0, invalid = 0, oom = 0, dominated = 0;
    std::uint64_t twins = 0;  // fitting a2a twins carried by their ring split (Candidate::twin_share)
    std::map<std::string, std::uint64_t> by_reason;
    // Per SplitIssue while enumerating (a string-keyed map per invalid split is too slow);
    // folded into by_reason at the end.
    std::array<std::uint64_t, static_cast<std::size_t>(SplitIssue::kSimLimit) + 1> by_issue{};
    void fold() {
      for (std::size_t i = 1; i < by_issue.size(); ++i) {
        if (by_issue[i]) by_reason[to_string(static_cast<SplitIssue>(i))] += by_issue[i];
        by_issue[i] = 0;
      }
    }
  };

  void enumerate(std::size_t li, Worker& w, std::vector<Candidate>& out, Counts& cnt, bool memory_only,
                 const std::atomic<bool>* stop) const {
    const Layout& l = layouts_[li];
    const auto& m = base_.model;
    const auto& sp = space_;
    const std::int64_t dp = data_parallel(l);
    std::vector<int> vpps;
    if (l.pp == 1) {
      vpps = {1};
    } else {
      // Even stages: the (free) stages' share divides; impossible edge counts are left to
      // check_split, which counts them.
      const auto& bp = base_.parallel;
      for (long v = 1; v * l.pp <= m.layers; ++v) {
        if (!sp.even_stages ||
            stage_layout(m.layers, v * l.pp, bp.first_stage_layers, bp.last_stage_layers).issue != SplitIssue::kUnevenStages) {
          vpps.push_back(static_cast<int>(v));
        }
      }
    }
    vpps = allowed(sp.vpp, vpps);
    const std::vector<bool> sps = allowed(sp.sequence_parallel, l.tp > 1 ? std::vector<bool>{true, false}
                                                                          : std::vector<bool>{false});
    std::vector<int> zeros = allowed(sp.zero, dp > 1 ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{0});
    const std::int64_t per_dp = dp > 0 ? base_.training.global_batch / dp : base_.training.global_batch;
    std::vector<int> mbs = allowed(sp.micro_batch, divisors(per_dp, per_dp));
    std::sort(mbs.begin(), mbs.end());
    // Each split is built with its own exchange (the ring when both are searched); with both, its
    // a2a twin shares that validity, memory and (scaled) bound (ulysses_ratio).
    const bool twins = l.ring && l.ulysses;
    const std::uint64_t per_split = twins ? 2 : 1;
    const CpComm own = l.cp == 1 ? base_.parallel.cp_comm_type : l.ring ? CpComm::kP2p : CpComm::kA2a;
    // (virtual stages, last-stage layers) pairs: the even share, and lighter last stages.
    std::vector<std::pair<int, int>> stagings;
    for (int v : vpps) {
      for (int last : edge_variants(static_cast<long>(v) * l.pp)) stagings.emplace_back(v, last);
    }
    const std::uint64_t inner =
        std::uint64_t(eps_.size()) * stagings.size() * sps.size() * rcs_.size() * mbs.size() * zeros.size() * per_split;
    if (dp == 0) {
      cnt.candidates += inner;
      cnt.invalid += inner;
      cnt.by_reason["idle-gpus"] += inner;
      return;
    }
    Scenario& s = w.scenario();
    std::uint64_t k = 0;
    const std::uint64_t base_order = std::uint64_t(li) << 32;
    // a2a/ring ratios (ulysses_ratio) per (sp, recompute, micro-batch, ZeRO-3 hidden) of one ep:
    // they do not depend on the virtual stages. Negative: not computed yet.
    std::vector<double> rho_cache;
    for (int ep : eps_) {
      if (l.ulysses) rho_cache.assign(sps.size() * rcs_.size() * mbs.size() * 2, -1.0);
      for (const auto& [v, last] : stagings) {
        for (std::size_t spi = 0; spi < sps.size(); ++spi) {
          const bool spv = sps[spi];
          for (std::size_t rci = 0; rci < rcs_.size(); ++rci) {
            const RecomputeChoice& rch = rcs_[rci];
            const Recompute rc = rch.recompute;
            // Memory grows with the micro-batch (activations and transients scale with it; the
            // live count falls no faster than 1/mb: see docs/model.md), so once a ZeRO stage is
            // out of memory it stays so for every larger micro-batch: those are counted without
            // being built.
            bool oom_from[4] = {false, false, false, false};
            for (std::size_t mbi = 0; mbi < mbs.size(); ++mbi) {
              const int mb = mbs[mbi];
              // ZeRO changes neither validity nor activations, and stages 0-2 not even the
              // stage times: build once for them (and again for ZeRO-3's per-layer gathers).
              bool built = false, built3 = false;
              detail::StepBound bound_2{-1, -1};  // ZeRO-2's bound, computed with ZeRO-1's
              std::vector<ActivationPeak> lo, hi, exact;
              // Validity does not depend on the ZeRO stage (check_split never reads it): one
              // check for all of them.
              SplitIssue issue = SplitIssue::kOk;
              bool checked = false;
              for (int z : zeros) {
                if (stop && stop->load(std::memory_order_relaxed)) return;
                Candidate c;
                c.order = base_order + k;
                k += 2;
                c.tp = l.tp; c.cp = l.cp; c.pp = l.pp; c.vpp = v; c.ep = ep; c.dp = dp;
                c.first_layers = base_.parallel.first_stage_layers;
                c.last_layers = last;
                c.cp_comm = own;  // without CP: the scenario's label
                c.micro_batch = mb; c.zero = z; c.recompute = rc; c.modules = rch.modules; c.sp = spv;
                cnt.candidates += per_split;
                if (!checked) {
                  apply(c, s);
                  issue = check_split(s);
                  checked = true;
                }
                if (issue != SplitIssue::kOk) {
                  cnt.invalid += per_split;
                  cnt.by_issue[static_cast<std::size_t>(issue)] += per_split;
                  continue;
                }
                s.parallel.zero = z;
                if (oom_from[z]) {
                  cnt.oom += per_split;
                  continue;
                }
                detail::StepModel& st = z == 3 ? step3_ : step_;
                bool& ready = z == 3 ? built3 : built;
                if (!ready) {
                  detail::build_step(s, w.costs(), st, /*full=*/false);
                  if (lo.empty()) {
                    lo.resize(static_cast<std::size_t>(l.pp));
                    hi.resize(static_cast<std::size_t>(l.pp));
                    for (int r = 0; r < l.pp; ++r) {
                      const long live_chunks = peak_live_chunks(l.pp, v, st.micro, r);
                      const auto& rk = st.rank[static_cast<std::size_t>(r)];
                      lo[r] = ActivationPeak{double(live_chunks) * rk.act_min, static_cast<int>(live_chunks)};
                      hi[r] = ActivationPeak{double(live_chunks) * rk.act_max, static_cast<int>(live_chunks)};
                    }
                  }
                  ready = true;
                }
                // Exact peaks only when the bounds leave the verdict open; otherwise the lower
                // bound (an upper bound on headroom, safe for pruning) is kept: plans report the
                // simulated, exact figure.
                c.peak_bytes = detail::peak_memory_bytes(s, st, lo);
                if (c.peak_bytes <= capacity_ && detail::peak_memory_bytes(s, st, hi) > capacity_) {
                  if (exact.empty()) {
                    detail::complete_stage_arrays(st);
                    exact = activation_peaks(st.ps);
                  }
                  c.peak_bytes = detail::peak_memory_bytes(s, st, exact);
                }
                if (c.peak_bytes > capacity_) {
                  cnt.oom += per_split;
                  oom_from[z] = true;
                  continue;
                }
                detail::StepBound bound;
                if (!memory_only) {
                  // ZeRO 1 and 2 share the pipeline and the collectives: both bounds in one pass.
                  if (z == 1) {
                    std::tie(bound, bound_2) = detail::step_time_bounds_zero12(s, w.acc(), st);
                  } else {
                    bound = z == 2 && bound_2.time >= 0 ? bound_2 : detail::step_time_bound(s, w.acc(), st);
                  }
                  c.lb_time = bound.time;
                  c.lb_obj = objective_lower_bound(s, c.lb_time, &st);
                }
                if (twins && !memory_only) {
                  // The a2a twin (same memory): skipped when provably no faster than the ring
                  // split, else bounded by rho x this split's monotone bound (ulysses_ratio).
                  const bool zero3_hidden = z == 3 && base_.parallel.overlap.zero3;
                  double& r = rho_cache[((spi * rcs_.size() + rci) * mbs.size() + mbi) * 2 + (zero3_hidden ? 1 : 0)];
                  if (r < 0) r = ulysses_ratio(w, zero3_hidden);
                  if (r >= 1.0 && ulysses_skip_sound(s, st, z) && skip_no_faster_twins_) {
                    ++cnt.dominated;
                  } else {
                    // The twin's bound: rho x the monotone part of this one (ulysses_ratio), kept
                    // as a share of this bound, rounded down.
                    const double share = c.lb_time > 0 ? std::min(r, 1.0) * bound.monotone / c.lb_time : 0.0;
                    c.twin_share = static_cast<float>(share);
                    if (double(c.twin_share) > share) c.twin_share = std::nextafter(c.twin_share, 0.0f);
                    ++cnt.twins;
                  }
                }
                out.push_back(c);
              }
            }
          }
        }
      }
    }
  }

  // rho >= 1 (ulysses_ratio) makes the a2a split no faster than its ring twin when its step time
  // cannot fall as its tasks lengthen: not with the energy objective (it reads the compute
  // share), not with ZeRO-3 gathers hidden behind compute, and, with the data-parallel reduction
  // overlapped, only if the ring split hides it entirely on every rank (then so does the longer
  // a2a split): an exposed tail shrinks as the backward it overlaps grows, which can outpace the
  // makespan's growth (ZeRO-2's m reductions, interleaved chunks whose last backwards are not
  // back to back).
  bool ulysses_skip_sound(const Scenario& s, const detail::StepModel& st, int zero) const {
    if (opt_.objective == Objective::kEnergy || (zero == 3 && base_.parallel.overlap.zero3)) return false;
    return !s.parallel.overlap.dp || detail::dp_tail_hidden(s, st);
  }

  // A Ulysses (a2a) split differs from its ring (p2p) twin only in its layers' attention and CP
  // exchange: the same validity (cp dividing the heads is checked per layout), memory, pipeline
  // transfers, data-parallel collectives and optimizer. Returns rho, the smallest ratio of an a2a
  // to a ring pipeline task, so that rho x the ring split's monotone bound is a bound for the a2a
  // split (docs/model.md §14):
  // - pipeline tasks last their layers' totals plus fixed edge, transfer and ZeRO-3 terms, so rho
  //   is the smallest ratio of a2a to ring layer totals (forward and backward, dense and MoE);
  //   the bound's monotone part (every rank's own chain and tail, StepBound) does not decrease
  //   when tasks lengthen (a rank's busy time grows by m times what its tails can lose) and
  //   scaling every task by rho <= 1 scales it by at least rho (the tails only grow), so rho x
  //   the ring split's monotone part <= the a2a bound <= the a2a step time (the rank-0 drain term
  //   can fall when tasks lengthen, its tail shrinking while another rank sets the drain);
  // - with ZeRO-3 gathers hidden behind compute (`zero3_hidden`) a task lasts its communication
  //   plus max(compute, gathers) plus its recomputation, so every component's ratio counts.
  static double ulysses_ratio(Worker& w, bool zero3_hidden) {
    Scenario& s = w.scenario();
    s.parallel.cp_comm_type = CpComm::kA2a;
    const std::shared_ptr<const detail::LayerCosts> a2a = w.costs();
    s.parallel.cp_comm_type = CpComm::kP2p;
    const std::shared_ptr<const detail::LayerCosts> ring = w.costs();
    double rho = std::numeric_limits<double>::infinity();
    auto ratio = [&](double x, double y) {  // y = 0: x >= rho x y holds for any rho (costs are >= 0)
      if (y > 0) rho = std::min(rho, x / y);
    };
    auto phase = [&](const detail::Cost& x, const detail::Cost& y) {
      if (!zero3_hidden) return ratio(x.total(), y.total());
      ratio(x.comp, y.comp);
      ratio(x.tp, y.tp);
      ratio(x.cp, y.cp);
      ratio(x.ep, y.ep);
      ratio(x.dp, y.dp);
    };
    phase(a2a->dense_c.f, ring->dense_c.f);
    phase(a2a->dense_c.b, ring->dense_c.b);
    phase(a2a->moe_c.f, ring->moe_c.f);
    phase(a2a->moe_c.b, ring->moe_c.b);
    if (zero3_hidden) {
      // A backward lasts recomputation + communication + max(compute before recomputation, gathers).
      ratio(a2a->dense_b_comp, ring->dense_b_comp);
      ratio(a2a->moe_b_comp, ring->moe_b_comp);
      ratio(a2a->dense_c.b.comp - a2a->dense_b_comp, ring->dense_c.b.comp - ring->dense_b_comp);
      ratio(a2a->moe_c.b.comp - a2a->moe_b_comp, ring->moe_c.b.comp - ring->moe_b_comp);
    }
    return rho;
  }

  // The a2a twin a ring split carries: the same split with the Ulysses exchange, bounded by its
  // share of the ring split's bound (its own bound is computed before it is simulated).
  Candidate a_twin(const Candidate& ring) const {
    Candidate t = ring;
    const double share = double(ring.twin_share);
    t.order = ring.order + 1;
    t.cp_comm = CpComm::kA2a;
    t.twin_share = -1;
    t.rough = true;
    t.lb_time = share * ring.lb_time;
    // Time and cost are linear in the time bound; energy's computing term is the ring split's,
    // not the twin's: the twin keeps the idle-power part, linear in time.
    if (opt_.objective == Objective::kEnergy) {
      const double gpus = double(ring.tp) * ring.cp * ring.pp * double(ring.dp);
      t.lb_obj = t.lb_time * gpus * detail::power_w_per_gpu(base_.cluster, 0.0) * base_.cluster.pue;
    } else {
      t.lb_obj = share * ring.lb_obj;
    }
    return t;
  }

  // A lower bound on the objective of a split whose step time is at least t. Energy per step is
  // t P(0) + (P(1) - P(0)) min(C, t) (power linear in the computing share C / t, clamped at 1;
  // estimate.cpp, docs/model.md §11), C the ranks' mean computing time per step, known from the
  // stages without simulating (RankSummary::comp), and rising in t; without `st`, C >= 0.
  double objective_lower_bound(const Scenario& s, double t, const detail::StepModel* st = nullptr) const {
    switch (opt_.objective) {
      case Objective::kTime: return t;
      case Objective::kCost: return t * cost_per_second(s);
      case Objective::kEnergy: {
        double busy = 0;
        if (st) {
          for (const auto& rk : st->rank) busy += rk.comp;
          // Summed in another order than the estimate's: a hair low, to stay a bound.
          busy *= double(st->micro) / double(st->rank.size()) * (1.0 - 1e-9);
        }
        const double idle = cluster_power_w(s, 0.0);
        return t * idle + (cluster_power_w(s, 1.0) - idle) * std::min(busy, t);
      }
    }
    return t;
  }

  // Layout indices, largest expected enumeration first (virtual-stage choices x micro-batch
  // choices; none without a data-parallel size), so that the last items handed out to the
  // threads are small ones. Results are kept per layout, so the order changes no output.
  std::vector<std::size_t> work_order() const {
    std::vector<std::pair<std::uint64_t, std::size_t>> w(layouts_.size());
    for (std::size_t i = 0; i < layouts_.size(); ++i) {
      const Layout& l = layouts_[i];
      const std::int64_t dp = data_parallel(l);
      // Pipelined layouts: their virtual-stage counts, each with its lighter last stages.
      const std::uint64_t lighter = bp_edges_free() && !space_.even_stages ? std::uint64_t(lighter_last_) : 0;
      const std::uint64_t vpps = l.pp == 1 ? 1 : std::uint64_t(base_.model.layers / l.pp) * (1 + lighter);
      const std::uint64_t mbs = dp > 0 ? divisors(base_.training.global_batch / dp, base_.training.global_batch / dp).size() : 0;
      w[i] = {vpps * mbs * (l.ring && l.ulysses ? 2 : 1), i};
    }
    std::stable_sort(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::size_t> order(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) order[i] = w[i].second;
    return order;
  }

  const std::vector<Layout>& layouts() const { return layouts_; }
  const Scenario& base() const { return base_; }

 private:
  Scenario base_;
  const PlanOptions& opt_;
  PlanSpace space_;  // opt_.space with its value lists sorted
  double capacity_;
  bool skip_no_faster_twins_;
  std::vector<Layout> layouts_;
  std::vector<int> eps_;
  struct RecomputeChoice {
    Recompute recompute;
    unsigned modules;
  };
  std::vector<RecomputeChoice> rcs_;
  int lighter_last_ = 0;  // lighter last stages searched beside the even share (edge_variants)
  static thread_local detail::StepModel step_, step3_;
};

thread_local detail::StepModel Search::step_;
thread_local detail::StepModel Search::step3_;

int thread_count(const PlanOptions& opt) {
  int n = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(n, 1, 64);
}

// Runs body(worker_index, item) for items [0, n) on `threads` threads (the caller is one of
// them), handing out items dynamically; calls progress from the calling thread.
template <class F>
void parallel_for(std::size_t n, int threads, F&& body, const std::function<void(double)>& progress = {}) {
  std::atomic<std::size_t> next{0}, done{0};
  // The first exception of any thread stops the hand-out and is rethrown after the join (one
  // escaping a thread would terminate the process).
  std::exception_ptr error;
  std::mutex error_mutex;
  auto fail = [&] {
    const std::lock_guard<std::mutex> lock(error_mutex);
    if (!error) error = std::current_exception();
    next.store(n, std::memory_order_relaxed);
  };
  auto run = [&](int wi) {
    try {
      for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
        body(wi, i);
        done.fetch_add(1, std::memory_order_relaxed);
      }
    } catch (...) {
      fail();
    }
  };
  std::vector<std::thread> pool;
  const int extra = static_cast<int>(std::min<std::size_t>(std::size_t(threads), std::max<std::size_t>(n, 1))) - 1;
  for (int t = 0; t < extra; ++t) pool.emplace_back(run, t + 1);
  if (progress) {
    // The calling thread works too, reporting between items.
    try {
      auto last = std::chrono::steady_clock::now();
      for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
        body(0, i);
        done.fetch_add(1, std::memory_order_relaxed);
        const auto now = std::chrono::steady_clock::now();
        if (now - last > std::chrono::milliseconds(100)) {
          progress(double(done.load()) / double(n));
          last = now;
        }
      }
    } catch (...) {
      fail();
    }
  } else {
    run(0);
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

struct Phase1 {
  std::vector<Candidate> fitting;  // in enumeration order
  Search::Counts counts;
};

Phase1 run_phase1(const Search& search, int threads, bool memory_only, const std::function<void(double)>& progress,
                  double progress_share) {
  const auto& layouts = search.layouts();
  std::vector<std::vector<Candidate>> per_layout(layouts.size());
  std::vector<Search::Counts> counts(static_cast<std::size_t>(threads));
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(search.base()));
  std::atomic<bool> found{false};
  const std::vector<std::size_t> order = search.work_order();
  parallel_for(
      layouts.size(), threads,
      [&](int wi, std::size_t i) {
        const std::size_t li = order[i];
        if (memory_only && found.load(std::memory_order_relaxed)) return;
        search.enumerate(li, *workers[wi], per_layout[li], counts[wi], memory_only, memory_only ? &found : nullptr);
        if (memory_only && !per_layout[li].empty()) found.store(true);
      },
      progress ? std::function<void(double)>([&](double f) { progress(f * progress_share); }) : std::function<void(double)>{});
  Phase1 r;
  std::size_t total = 0;
  for (const auto& v : per_layout) total += v.size();
  r.fitting.reserve(total);
  for (auto& v : per_layout) {
    r.fitting.insert(r.fitting.end(), v.begin(), v.end());
    std::vector<Candidate>().swap(v);
  }
  for (auto& c : counts) {
    c.fold();
    r.counts.candidates += c.candidates;
    r.counts.invalid += c.invalid;
    r.counts.oom += c.oom;
    r.counts.dominated += c.dominated;
    r.counts.twins += c.twins;
    for (const auto& [k, v] : c.by_reason) r.counts.by_reason[k] += v;
  }
  return r;
}

struct Evaluated {
  std::size_t cand;  // index into the fitting list
  Estimate est;
  double obj = 0;
  double headroom = 0;
  double cost = 0;  // USD (or GPU-hours without a price) per step
};

}  // namespace

double objective_value(Objective o, const Scenario& s, const Estimate& e) {
  const double t = e.step_time.value;
  switch (o) {
    case Objective::kTime: return t;
    case Objective::kCost: return t * cost_per_second(s);
    case Objective::kEnergy: return t * cluster_power_w(s, e.compute_fraction);
  }
  return t;
}

double optimizer_floor_bytes(const ModelSpec& m, std::int64_t gpus) {
  const ModelCounts mc = count_model(m, 1);
  return 12.0 * (mc.params_total + mc.params_mtp) / double(std::max<std::int64_t>(1, gpus));
}

PlanResult plan(const Scenario& base, const PlanOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.top < 1) throw InputError("--top", "must be at least 1");
  if (!(opt.max_idle_fraction >= 0 && opt.max_idle_fraction < 1)) {
    throw InputError("--max-idle", "must be in [0, 1)");
  }
  // Nothing fits when the optimizer state alone overflows every GPU: said at once (a model of
  // 1e5 layers was searched for minutes to find it out).
  if (const double floor = optimizer_floor_bytes(base.model, base.cluster.num_gpus);
      floor > base.cluster.gpu.hbm_capacity().value) {
    PlanResult res;
    res.num_gpus = base.cluster.num_gpus;
    res.objective = opt.objective;
    res.optimizer_floor_bytes = floor;
    return res;
  }
  const Search search(base, opt);
  const int threads = thread_count(opt);
  Phase1 p1 = run_phase1(search, threads, false, opt.progress, 0.7);

  PlanResult res;
  res.num_gpus = base.cluster.num_gpus;
  res.objective = opt.objective;
  res.threads = threads;
  res.candidates = p1.counts.candidates;
  res.invalid = p1.counts.invalid;
  res.invalid_by_reason = p1.counts.by_reason;
  res.oom = p1.counts.oom;
  res.dominated = p1.counts.dominated;
  res.fitting = p1.fitting.size() + p1.counts.twins;
  if (res.candidates == 0) {
    throw InputError("parallel", "the pins and --exclude leave no split of " + base.model.name + " on " +
                                     std::to_string(base.cluster.num_gpus) +
                                     " GPUs to try (a pinned micro-batch must divide the sequences per data-parallel group, "
                                     "pp x vpp stay within the layers, ZeRO > 0 needs data parallelism)");
  }
  if (res.candidates == res.invalid) {
    throw InputError("parallel", "no valid split of " + base.model.name + " on " + std::to_string(base.cluster.num_gpus) +
                                     " GPUs within the pinned dimensions (" + std::to_string(res.candidates) +
                                     " combinations tried, all invalid" + invalid_reasons(res.invalid_by_reason) +
                                     "); relax the pins, --exclude or --max-idle");
  }

  // Phase 2: simulate in order of the objective's lower bound, in fixed-size batches; skip a
  // split when k simulated splits already beat its bound and, for each front, a simulated split
  // faster than its time bound has at least its memory headroom and one costs at most its cost
  // bound (so it is on no list).
  std::vector<Candidate>& fit = p1.fitting;
  const double capacity = base.cluster.gpu.hbm_capacity().value;
  const double front_step = kFrontStep * capacity;
  std::vector<Evaluated> done;
  std::vector<double> objs;                            // simulated objective values, sorted
  std::vector<std::pair<double, double>> front_time;   // (time, prefix max headroom), sorted by time
  std::vector<std::pair<double, double>> front_cost;   // (time, prefix min cost per step), sorted by time
  // Cost per step of a split's GPUs (idle ones are not charged) over t seconds.
  const double usd_per_gpu_s = price_or_one(base.cluster) / 3600.0;
  auto cost_of = [&](const Candidate& c, double t) { return t * double(std::int64_t(c.tp) * c.cp * c.pp * c.dp) * usd_per_gpu_s; };
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(search.base()));
  const std::size_t k = static_cast<std::size_t>(opt.top);
  auto simulate = [&](std::size_t ci, int wi) {
    Worker& w = *workers[wi];
    Evaluated e;
    e.cand = ci;
    e.est = w.estimate(fit[ci]);
    e.obj = objective_value(opt.objective, w.scenario(), e.est);
    e.headroom = capacity - e.est.memory.peak_bytes_per_gpu.value;
    e.cost = cost_of(fit[ci], e.est.step_time.value);
    return e;
  };
  auto by_bound = [&](std::size_t a, std::size_t b) {
    return std::tie(fit[a].lb_obj, fit[a].order) < std::tie(fit[b].lb_obj, fit[b].order);
  };
  // The (time, most headroom so far) and (time, least cost so far) staircases of the simulated splits.
  auto rebuild_front = [&] {
    std::vector<std::pair<double, double>> pts, costs;
    pts.reserve(done.size());
    costs.reserve(done.size());
    for (const auto& e : done) {
      pts.emplace_back(e.est.step_time.value, e.headroom);
      costs.emplace_back(e.est.step_time.value, e.cost);
    }
    std::sort(pts.begin(), pts.end());
    std::sort(costs.begin(), costs.end());
    double best = -std::numeric_limits<double>::infinity(), least = std::numeric_limits<double>::infinity();
    for (auto& p : pts) {
      best = std::max(best, p.second);
      p.second = best;
    }
    for (auto& p : costs) {
      least = std::min(least, p.second);
      p.second = least;
    }
    front_time = std::move(pts);
    front_cost = std::move(costs);
  };
  std::vector<std::size_t> order(fit.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // The a2a twins carried by ring splits (Candidate::twin_share), appended to `fit` and `order`
  // when `keep` accepts them, else counted as bounded.
  auto list_twins = [&](auto keep) {
    std::vector<Candidate> twins;
    for (std::size_t i : order) {
      if (fit[i].twin_share < 0) continue;
      Candidate t = search.a_twin(fit[i]);
      if (keep(t)) twins.push_back(t);
      else ++res.bounded;
    }
    for (Candidate& t : twins) {
      order.push_back(fit.size());
      fit.push_back(t);
    }
  };
  if (!opt.exhaustive && order.size() + p1.counts.twins > 4 * kBatch) {
    // Before sorting everything: simulate the k splits with the smallest bounds. The k-th of
    // them bounds the final k-th best from above and their fastest bounds the best time, so
    // a split whose bounds exceed both can be neither listed nor on the front: drop it now.
    const std::size_t seeds = std::min(k, order.size());
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(seeds - 1), order.end(), by_bound);
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(seeds), by_bound);
    std::vector<Evaluated> seed(seeds);
    parallel_for(seeds, threads, [&](int wi, std::size_t i) { seed[i] = simulate(order[i], wi); });
    double kth_ub = 0, best_t = std::numeric_limits<double>::infinity();
    for (const auto& e : seed) {
      kth_ub = std::max(kth_ub, e.obj);
      best_t = std::min(best_t, e.est.step_time.value);
    }
    const double window_ub = kFrontWindow * best_t;
    auto may_matter = [&](const Candidate& c) {
      return c.lb_obj * (1 - kBoundSlack) <= kth_ub || c.lb_time * (1 - kBoundSlack) <= window_ub;
    };
    list_twins(may_matter);
    // The seeds count as simulated: the first batch is then pruned against them.
    std::vector<std::size_t> kept;
    for (std::size_t j = 0; j < order.size(); ++j) {
      if (j < seeds) continue;
      if (may_matter(fit[order[j]])) kept.push_back(order[j]);
      else ++res.bounded;
    }
    order = std::move(kept);
    for (auto& e : seed) {
      objs.insert(std::upper_bound(objs.begin(), objs.end(), e.obj), e.obj);
      done.push_back(std::move(e));
    }
    rebuild_front();
  } else {
    list_twins([](const Candidate&) { return true; });
  }
  std::sort(order.begin(), order.end(), by_bound);
  detail::StepModel refine_step;
  std::size_t pos = 0;
  while (pos < order.size()) {
    const double kth = objs.size() >= k ? objs[k - 1] : std::numeric_limits<double>::infinity();
    const double window = front_time.empty() ? std::numeric_limits<double>::infinity() : kFrontWindow * front_time.front().first;
    std::vector<std::size_t> batch;
    // Whether a split with these bounds can be neither listed nor on the front.
    auto outside = [&](const Candidate& c, double lb_obj, double lb_time) {
      if (opt.exhaustive || lb_obj * (1 - kBoundSlack) <= kth) return false;
      const double headroom = capacity - c.peak_bytes;
      const double t = lb_time * (1 - kBoundSlack);
      // Largest headroom and least cost among simulated splits with time <= t. A split with no
      // more headroom than some faster split and costing no less than some faster split is on
      // neither front, and neither is anything it would have beaten (dominance is transitive; a
      // tolerance here would not be, so none is used).
      if (t > window) return true;
      const auto key = std::make_pair(t, std::numeric_limits<double>::infinity());
      auto it = std::upper_bound(front_time.begin(), front_time.end(), key);
      if (it == front_time.begin() || std::prev(it)->second < headroom) return false;
      auto ic = std::upper_bound(front_cost.begin(), front_cost.end(), key);
      return ic != front_cost.begin() && std::prev(ic)->second <= cost_of(c, t);
    };
    for (; pos < order.size() && batch.size() < kBatch; ++pos) {
      const Candidate& c = fit[order[pos]];
      if (outside(c, c.lb_obj, c.lb_time)) {
        ++res.bounded;
        continue;
      }
      if (c.rough && !opt.exhaustive) {
        // An a2a twin's bound is a share of its ring twin's: its own (built here, on the calling
        // thread's worker while no batch runs) may settle it without simulating.
        Worker& w = *workers[0];
        Scenario& s = w.scenario();
        apply(c, s);
        detail::build_step(s, w.costs(), refine_step, /*full=*/false);
        const double t = detail::step_time_lower_bound(s, w.acc(), refine_step);
        if (outside(c, search.objective_lower_bound(s, t, &refine_step), t)) {
          ++res.bounded;
          continue;
        }
      }
      batch.push_back(order[pos]);
    }
    if (batch.empty()) break;
    std::vector<Evaluated> out(batch.size());
    // Neighbours in bound order that differ only in the ZeRO stage share a pipeline: hand them to
    // one worker together so that its last simulation is reused (Worker::estimate).
    std::vector<std::size_t> group_start;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i == 0 || !same_but_zero(fit[batch[i]], fit[batch[i - 1]])) group_start.push_back(i);
    }
    group_start.push_back(batch.size());
    parallel_for(group_start.size() - 1, threads, [&](int wi, std::size_t gi) {
      for (std::size_t i = group_start[gi]; i < group_start[gi + 1]; ++i) out[i] = simulate(batch[i], wi);
    });
    for (auto& e : out) {
      objs.insert(std::upper_bound(objs.begin(), objs.end(), e.obj), e.obj);
      done.push_back(std::move(e));
    }
    rebuild_front();
    if (opt.progress) opt.progress(0.7 + 0.3 * double(pos) / double(std::max<std::size_t>(order.size(), 1)));
  }
  res.evaluated = done.size();

  auto entry = [&](const Evaluated& e) {
    PlanEntry pe;
    pe.scenario = search.base();
    apply(fit[e.cand], pe.scenario);
    pe.estimate = e.est;
    pe.objective = e.obj;
    pe.headroom_bytes = e.headroom;
    pe.gpus_idle = base.cluster.num_gpus - pe.scenario.cluster.num_gpus;
    return pe;
  };
  std::vector<std::size_t> rank(done.size());
  for (std::size_t i = 0; i < rank.size(); ++i) rank[i] = i;
  std::sort(rank.begin(), rank.end(), [&](std::size_t a, std::size_t b) {
    return std::make_tuple(done[a].obj, fit[done[a].cand].order) < std::make_tuple(done[b].obj, fit[done[b].cand].order);
  });
  for (std::size_t i = 0; i < rank.size() && i < k; ++i) res.plans.push_back(entry(done[rank[i]]));
  // Pareto front: fastest first, each with more headroom (by front_step) than every faster split.
  std::sort(rank.begin(), rank.end(), [&](std::size_t a, std::size_t b) {
    return std::make_tuple(done[a].est.step_time.value, -done[a].headroom, fit[done[a].cand].order) <
           std::make_tuple(done[b].est.step_time.value, -done[b].headroom, fit[done[b].cand].order);
  });
  // A split is on the front if it frees front_step more headroom than every faster split. Every
  // split not dominated (faster and at least as much headroom) by a simulated one was simulated,
  // and a skipped split's dominator is faster than anything the skipped one is faster than, so
  // the largest headroom among faster splits is the same as in an exhaustive search.
  double best = -std::numeric_limits<double>::infinity();
  for (std::size_t i : rank) {
    if (done[i].est.step_time.value > kFrontWindow * done[rank.front()].est.step_time.value) break;
    if (done[i].headroom > best + front_step) res.pareto.push_back(entry(done[i]));
    best = std::max(best, done[i].headroom);
  }
  // Time/cost front: fastest first, each at least kFrontStep cheaper than every faster split
  // (exact for the same reason: a skipped split has a simulated faster one at most its cost).
  std::sort(rank.begin(), rank.end(), [&](std::size_t a, std::size_t b) {
    return std::make_tuple(done[a].est.step_time.value, done[a].cost, fit[done[a].cand].order) <
           std::make_tuple(done[b].est.step_time.value, done[b].cost, fit[done[b].cand].order);
  });
  double least = std::numeric_limits<double>::infinity();
  for (std::size_t i : rank) {
    if (done[i].est.step_time.value > kFrontWindow * done[rank.front()].est.step_time.value) break;
    if (done[i].cost < least * (1 - kFrontStep)) res.cost_front.push_back(entry(done[i]));
    least = std::min(least, done[i].cost);
  }
  res.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

std::optional<std::int64_t> smallest_fitting_gpus(const Scenario& base, const PlanOptions& opt) {
  const int threads = thread_count(opt);
  const std::int64_t node = std::max(1, base.cluster.gpus_per_node);
  // Any split counts, however many of the GPUs it leaves idle: then a split that fits on n GPUs
  // also fits on more (its data-parallel size can only grow, and memory per GPU with it only
  // shrink), so the sizes that fit are a half-line and bisection finds its start. The split
  // found there uses all of its GPUs (it would fit on fewer otherwise), so wanka plan finds it
  // at that size with the default --max-idle.
  PlanOptions o = opt;
  o.max_idle_fraction = 0.999;
  const double capacity = base.cluster.gpu.hbm_capacity().value;
  if (optimizer_floor_bytes(base.model, 10'000'000) > capacity) return std::nullopt;
  auto fits = [&](std::int64_t gpus) {
    if (optimizer_floor_bytes(base.model, gpus) > capacity) return false;
    Scenario s = base;
    s.cluster.num_gpus = gpus;
    const Search search(s, o);
    return !run_phase1(search, threads, true, {}, 1.0).fitting.empty();
  };
  if (fits(node)) {  // within one node: any GPU count
    std::int64_t lo = 0, hi = node;
    while (hi - lo > 1) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? hi : lo) = mid;
    }
    return hi;
  }
  std::int64_t hi = 2;  // whole nodes beyond one
  while (!fits(hi * node)) {
    if (double(hi) * double(node) >= 1e7) return std::nullopt;
    hi *= 2;
  }
  std::int64_t lo = hi / 2;  // does not fit
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid * node) ? hi : lo) = mid;
  }
  return hi * node;
}

DeadlineResult solve_deadline(const Scenario& base, double days, const PlanOptions& opt) {
  if (!(days > 0 && days <= 1e6)) throw InputError("--days", "must be in (0, 1e6]");
  if (!(base.training.tokens > 0 || base.training.flops > 0)) {
    throw InputError("training.tokens", "the reverse solve needs the run length: give --tokens or --flops");
  }
  const std::int64_t node = std::max(1, base.cluster.gpus_per_node);
  DeadlineResult out;
  PlanOptions o = opt;
  o.objective = Objective::kTime;
  std::map<std::int64_t, std::pair<double, PlanResult>> seen;  // nodes -> (days, plan)
  // A plan's days and cost, with failures (opt.rerank) divided by its expected ETTR.
  const auto goodput = [](const PlanEntry& e) { return e.expected_ettr > 0 ? e.expected_ettr : 1.0; };
  const auto days_of = [&](const PlanEntry& e) { return e.estimate.run.days / goodput(e); };
  // The cluster is what is bought or rented: its GPUs cost the same whether the split uses all of
  // them or leaves some idle (736 GPUs were priced as the 704 their best split used).
  const auto cost_of = [&](const PlanEntry& e, std::int64_t cluster_gpus) {
    return e.estimate.run.cost_usd / goodput(e) * double(cluster_gpus) / double(std::max<std::int64_t>(1, e.scenario.cluster.num_gpus));
  };
  auto eval = [&](std::int64_t nodes) -> double {
    if (auto it = seen.find(nodes); it != seen.end()) return it->second.first;
    Scenario s = base;
    s.cluster.num_gpus = nodes * node;
    double d = std::numeric_limits<double>::infinity();
    PlanResult r;
    try {
      r = plan(s, o);
      if (opt.rerank) opt.rerank(r);
      if (!r.plans.empty()) d = days_of(r.plans.front());
    } catch (const InputError&) {
      // no valid split at this size (e.g. the batch does not divide, or with failures no
      // checkpoint fits or no plan makes progress): treat as not meeting it
      r.plans.clear();
    }
    DeadlineStep st{nodes * node, d, r.plans.empty() ? 0.0 : cost_of(r.plans.front(), nodes * node)};
    out.tried.push_back(st);
    seen.emplace(nodes, std::make_pair(d, std::move(r)));
    return d;
  };
  const auto first = smallest_fitting_gpus(base, opt);
  if (!first) throw InputError("model", base.model.name + " fits on no cluster of " + base.cluster.gpu.name + " up to 1e7 GPUs");
  // Cluster sizes are whole nodes, doubling from a power of two at or above the smallest
  // fitting size; the bisection stops at 1/32 of the size (about 3 %): sizes people buy.
  std::int64_t hi = 1;
  while (hi * node < *first) hi *= 2;
  std::int64_t lo = 0;
  double best = std::numeric_limits<double>::infinity();
  std::int64_t best_nodes = hi;
  int stalls = 0;
  while (eval(hi) > days) {
    const double d = seen.at(hi).first;
    if (d < best * 0.97) {
      best = d;
      best_nodes = hi;
      stalls = 0;
    } else if (++stalls >= 2) {
      break;  // doubling twice did not help: adding GPUs no longer pays off
    }
    lo = hi;
    if (double(hi) * 2.0 * double(node) > 1e7) break;
    hi *= 2;
  }
  if (seen.at(hi).first > days) {
    throw InputError("--days", fmt::format("no cluster of {} meets {:g} days for {}: the fastest found is {:.3g} days on {} GPUs, "
                                           "and adding GPUs stops paying off (the global batch limits data parallelism; "
                                           "raise training.global_batch)",
                                           base.cluster.gpu.name, days, base.model.name, best, best_nodes * node));
  }
  const std::int64_t step = std::max<std::int64_t>(1, hi / 32);
  while (hi - lo > step) {  // smallest size that meets the deadline, between a failing lo and a passing hi
    const std::int64_t mid = lo + (hi - lo) / 2 / step * step;
    if (mid <= lo) break;
    (eval(mid) <= days ? hi : lo) = mid;
  }
  std::int64_t pick = hi;
  if (opt.objective == Objective::kCost) {
    // Larger sizes can be cheaper (a batch that splits better, a shorter run): try multiples of
    // the smallest passing size, then take the cheapest of every size tried that meets the
    // deadline, those the doubling and the bisection visited included (smallest on ties).
    for (double f : {1.25, 1.5, 2.0, 3.0, 4.0}) eval(static_cast<std::int64_t>(std::llround(double(hi) * f)));
    double cheapest = std::numeric_limits<double>::infinity();
    for (const auto& [nodes, tried] : seen) {
      if (tried.first > days || tried.second.plans.empty()) continue;
      const double c = cost_of(tried.second.plans.front(), nodes * node);
      if (c < cheapest) {
        cheapest = c;
        pick = nodes;
      }
    }
  }
  out.num_gpus = pick * node;
  if (opt.objective == Objective::kTime) {
    out.plan = std::move(seen.at(pick).second);
  } else {
    Scenario s = base;
    s.cluster.num_gpus = out.num_gpus;
    out.plan = plan(s, opt);  // ranked by the requested objective
    if (opt.rerank) opt.rerank(out.plan);
  }
  return out;
}

ScaleResult scale_curve(const Scenario& base, const std::vector<std::int64_t>& counts, const PlanOptions& opt,
                        bool scale_batch) {
  const auto t0 = std::chrono::steady_clock::now();
  if (counts.empty()) throw InputError("--counts", "no GPU counts given");
  ScaleResult out;
  PlanOptions o = opt;
  o.top = 1;
  const std::function<void(double)> progress = opt.progress;
  std::optional<InputError> first_error;
  double ref = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    Scenario s = base;
    s.cluster.num_gpus = counts[i];
    if (scale_batch) {
      const double b = double(base.training.global_batch) * double(counts[i]) / double(counts.front());
      s.training.global_batch = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(b)));
    }
    if (progress) {
      o.progress = [&, i](double f) { progress((double(i) + f) / double(counts.size())); };
    }
    ScalePoint pt;
    pt.num_gpus = counts[i];
    pt.global_batch = s.training.global_batch;
    try {
      // The scaled batch keeps the scenario's bound on training.global_batch.
      if (s.training.global_batch > 1'000'000'000) {
        throw InputError("training.global_batch", fmt::format("{} sequences at this size (scaled with the GPUs): more than 1e9",
                                                              s.training.global_batch));
      }
      const PlanResult r = plan(s, o);
      pt.evaluated = r.evaluated;
      pt.candidates = r.candidates;
      if (r.plans.empty()) {
        pt.note = "no split fits in memory";
      } else {
        pt.feasible = true;
        pt.best = r.plans.front();
        const auto& e = pt.best.estimate;
        const auto& b = e.breakdown;
        pt.comm_share = (b.tp_comm + b.cp_comm + b.ep_comm + b.pp_comm + b.dp_comm).value / e.step_time.value;
        if (ref == 0) ref = e.tokens_per_s_per_gpu;
        pt.scaling_efficiency = e.tokens_per_s_per_gpu / ref;
        if (out.network_bound_from == 0 && pt.comm_share > kNetworkBoundShare) out.network_bound_from = counts[i];
      }
    } catch (const InputError& e) {
      pt.note = e.what();
      if (!first_error) first_error = e;
    }
    out.points.push_back(std::move(pt));
  }
  // A curve without a single feasible point answers nothing: the problem is the input (pins
  // that exclude every split, a model that fits at none of the counts), as plan says.
  if (std::none_of(out.points.begin(), out.points.end(), [](const ScalePoint& p) { return p.feasible; })) {
    if (first_error) throw *first_error;
    throw InputError("cluster.num_gpus", fmt::format("{} fits in memory at none of the counts (up to {} GPUs)", base.model.name,
                                                     counts.back()));
  }
  out.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

SplitRank rank_split(const Scenario& split, double top_fraction, const PlanOptions& opt) {
  SplitRank out;
  out.step_time = estimate(split).step_time.value;
  // "Faster" means faster by more than kRankTolerance: closer than that is a tie at the
  // resolution of the model.
  const double bar = out.step_time * (1 - kRankTolerance);
  const Search search(split, opt, /*skip_no_faster_twins=*/false);
  const int threads = thread_count(opt);
  Phase1 p1 = run_phase1(search, threads, false, {}, 1.0);
  // With both CP exchanges searched, the a2a twins (bounded from their ring split) count too.
  std::vector<Candidate>& fit = p1.fitting;
  const std::size_t carried = fit.size();
  for (std::size_t i = 0; i < carried; ++i) {
    if (fit[i].twin_share >= 0) fit.push_back(search.a_twin(fit[i]));
  }
  out.fitting = fit.size();
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < fit.size(); ++i) {
    if (fit[i].lb_time * (1 - kBoundSlack) < bar) order.push_back(i);
  }
  out.faster_bound = order.size();
  const double limit = top_fraction * double(out.fitting);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(fit[a].lb_time, fit[a].order) < std::tie(fit[b].lb_time, fit[b].order);
  });
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(search.base()));
  out.best_time = out.step_time;
  std::size_t pos = 0;
  // Settled when the faster count reaches the limit (not in the top) or when even counting every
  // split not yet simulated as faster stays below it (in the top).
  while (pos < order.size() && double(out.faster) < limit && double(out.faster + (order.size() - pos)) >= limit) {
    const std::size_t n = std::min(kBatch, order.size() - pos);
    std::vector<double> times(n);
    parallel_for(n, threads,
                 [&](int wi, std::size_t i) { times[i] = workers[wi]->estimate(fit[order[pos + i]]).step_time.value; });
    for (double t : times) {
      out.faster += t < bar ? 1 : 0;
      out.best_time = std::min(out.best_time, t);
    }
    pos += n;
    out.simulated += n;
  }
  out.exact = pos == order.size();
  out.in_top = double(out.exact ? out.faster : out.faster + (order.size() - pos)) < limit;
  return out;
}

}  // namespace wanka
