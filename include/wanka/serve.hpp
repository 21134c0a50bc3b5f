// LLM serving (issue 5): the cost of one forward pass of a batch (prefill and decode), a
// continuous-batching simulator on the shared discrete-event engine, and capacity planning.
//
// Sources: Kwon et al. 2023 (vLLM / PagedAttention, SOSP '23) for the paged KV cache, block
// admission and recompute preemption; Yu et al. 2022 (Orca, OSDI '22) for iteration-level
// scheduling; Agrawal et al. 2024 (Sarathi-Serve, OSDI '24) for chunked prefill under a token
// budget; Zhong et al. 2024 (DistServe, OSDI '24) and Patel et al. 2024 (Splitwise, ISCA '24)
// for prefill/decode disaggregation and goodput under an SLO. Details in docs/model.md.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wanka/catalog.hpp"
#include "wanka/collective.hpp"
#include "wanka/scenario.hpp"
#include "wanka/units.hpp"

namespace wanka {

// A request length: fixed, or drawn from a distribution (clamped to [min, max]).
struct LengthDist {
  enum class Kind { kFixed, kUniform, kNormal, kLognormal, kExponential };
  Kind kind = Kind::kFixed;
  double mean = 128;   // fixed value, or the distribution's mean
  double stddev = 0;   // normal, lognormal
  long min = 1, max = 0;  // bounds (uniform: the range); max 0 = unbounded (4 x mean for sampling)
  long upper() const;     // the largest value a draw can take
};
const char* to_string(LengthDist::Kind k);

struct SloConfig {
  double ttft_s = 0;         // 0: no target
  double tpot_s = 0;
  double percentile = 90;    // the SLO holds when this percentile of TTFT and of TPOT meet it
};

// Prefill/decode disaggregation (DistServe, Splitwise): of the deployment's replicas,
// `prefill_replicas` only prefill and the rest only decode; each request's KV cache moves from
// its prefill replica to a decode replica over the scale-out network (or NVLink inside a domain).
struct DisaggregationConfig {
  int prefill_replicas = 0;  // 0: colocated (every replica prefills and decodes)
};

// Speculative decoding (Leviathan et al. 2023, "Fast Inference from Transformers via
// Speculative Decoding", ICML; Chen et al. 2023): every decode iteration a draft proposes
// `tokens` tokens per sequence, one after the other, and the target model verifies them with the
// sequence's last token in one pass of tokens + 1 query positions; the first rejected draft is
// replaced by the target's own token, so an iteration emits 1 to tokens + 1 tokens. Each draft is
// accepted with probability `acceptance` while the ones before it were (the i.i.d. assumption of
// Leviathan et al. §3.1): (1 - a^(k+1)) / (1 - a) tokens per iteration on average. The draft is
// the model's multi-token-prediction module (DeepSeek-V3, arXiv 2412.19437 §2.2 and §5.4.3: one
// transformer block, a 2h x h projection and the shared output head, run once per draft token)
// or a smaller model of the same vocabulary on the same GPUs.
struct SpeculativeConfig {
  int tokens = 0;            // drafts per iteration; 0: off
  double acceptance = 0.8;   // probability each draft is accepted, given the ones before it were
  std::string draft = "mtp"; // "mtp", or a model name (catalog or scenario `models:`)
  std::optional<ModelSpec> draft_model;  // the named draft, resolved at parse time (mtp: unset)
};

// Tokens a verification step emits on average with every draft proposed:
// (1 - a^(k+1)) / (1 - a) (Leviathan et al. 2023, eq. 1), k + 1 at a = 1.
double expected_tokens_per_step(const SpeculativeConfig& sp);

// Capacity planning (`capacity:` block or `serve --plan` flags).
struct CapacityConfig {
  double users = 0;                       // active users
  double requests_per_user_per_hour = 0;  // 0 with fleet_gpus: solve for the highest rate
  std::int64_t fleet_gpus = 0;            // 0: size the fleet; else the reverse question
  double peak_to_mean = 1.0;              // busiest-hour load over the average
  int max_gpus_per_replica = 64;
};

struct ServingConfig {
  LengthDist input_len{LengthDist::Kind::kFixed, 512};
  LengthDist output_len{LengthDist::Kind::kFixed, 128};
  long requests = 1000;
  double arrival_rate_per_s = 0;  // Poisson; 0 with offline
  bool offline = true;            // every request at t = 0
  std::string trace;              // file: CSV arrival_s,input,output; Azure LLM CSV; Mooncake JSONL
  double trace_time_scale = 1.0;  // multiply trace inter-arrival times (0.5 = twice the load)
  long max_batch = 256;           // running sequences per batch stream: a replica, or each of its pp streams (vLLM max_num_seqs)
  bool max_batch_given = false;   // set in the input: serve --plan keeps it instead of searching {16, ..., 512}
  long max_batch_tokens = 8192;   // tokens per iteration (chunked-prefill budget)
  long kv_block_tokens = 16;
  Precision weight_precision = Precision::kBf16;
  Precision kv_precision = Precision::kBf16;
  bool int4_weights = false;      // weight-only int4 (AWQ/GPTQ): 0.5 B/weight, 16-bit math
  double gpu_memory_utilization = 0.9;
  // How the KV pool is sized: vLLM takes gpu_memory_utilization of the whole HBM and gives the
  // KV cache what weights and activations leave; TensorRT-LLM gives the KV cache that fraction
  // of the memory left after weights and activations (KvCacheConfig.free_gpu_memory_fraction).
  enum class KvPoolRule { kVllm, kTensorRtLlm };
  KvPoolRule kv_pool = KvPoolRule::kVllm;
  // How the decode attention kernel reads a GQA/MQA cache. Current kernels (TensorRT-LLM's XQA,
  // FlashAttention/FlashInfer, vLLM's paged attention) load each KV head once for its group of
  // query heads; TensorRT-LLM's masked multi-head attention kernel before XQA (v0.5, v0.6) runs
  // one thread block per query head, each loading its group's KV head: heads/kv_heads times the
  // bytes (docs/model.md §17.1).
  enum class DecodeKvReads { kPerKvHead, kPerQueryHead };
  DecodeKvReads decode_kv_reads = DecodeKvReads::kPerKvHead;
  // Attention data parallelism inside a replica (TensorRT-LLM enable_attention_dp, SGLang
  // --enable-dp-attention): each of the replica's tp GPUs runs attention, norms, dense FFN
  // layers, shared experts and logits for its own share of the sequences with whole weights and
  // whole KV heads, and the routed experts are expert-parallel (ep = tp) over all the tokens;
  // no TP all-reduce, an all-to-all dispatch and combine per MoE layer. MoE models only.
  bool attention_dp = false;
  bool attention_dp_given = false;  // set in the input (else `serve --plan` searches both layouts for MoE models)
  SloConfig slo;
  SpeculativeConfig speculative;
  DisaggregationConfig disaggregation;
  std::uint64_t seed = 1;
  std::optional<CapacityConfig> capacity;
};

// A serving scenario: the training scenario's model and cluster, `parallel` {tp, pp, ep} per
// replica (replicas = num_gpus / (tp x pp)), and the serving block.
struct ServeScenario {
  Scenario base;
  ServingConfig serving;
  std::vector<std::string> parallel_given;  // parallel keys the input set (pinned when planning)
  long replicas() const { return static_cast<long>(base.cluster.num_gpus / (long(base.parallel.tp) * base.parallel.pp)); }
};

// The built-in serving scenario (`wanka serve` without a file).
const char* default_serve_scenario_yaml();
// Parse a scenario with a `serving:` block (defaults when absent); InputError naming the field.
ServeScenario parse_serve_scenario(const std::string& text, const std::string& origin,
                                   const std::vector<Override>& overrides = {},
                                   const Catalog& catalog = Catalog::builtin());
std::string weight_precision_name(const ServingConfig& sv);  // "bf16", "fp8", "int4", ...
// Checks tp/pp/ep against the model and cluster (serving rules, not training's).
void validate_serve_split(const ServeScenario& s);

// ---------------------------------------------------------------- cost of one forward pass

// One iteration's batch as the cost model sees it (aggregated over its sequences).
struct BatchShape {
  double tokens = 0;       // new tokens computed (prefill chunks + one per decoding sequence)
  double seqs = 0;         // sequences in the batch
  double logits_rows = 0;  // sequences that produce a token this iteration
  double kv_tokens = 0;    // sum over sequences of the KV length attended to (context + new)
  double attn_pairs = 0;   // sum over sequences of q * (c + (q + 1) / 2): query-key pairs computed
  double decode_kv_tokens = 0;  // the part of kv_tokens read by sequences decoding (q = 1, or 1 + drafts)
  // Speculative decoding: the sequences that draft this iteration and the sum of their contexts
  // (the KV length each draft pass starts from).
  double draft_seqs = 0, draft_kv_tokens = 0;
  // With attention DP, the busiest rank's part of each quantity above (the maximum over the
  // ranks the sequences are assigned to). 0: not given; the cost model then assumes sequences
  // spread evenly, ceil(seqs / tp) on the busiest rank.
  double rank_tokens = 0, rank_pairs = 0, rank_kv = 0, rank_decode_kv = 0, rank_rows = 0;
  // Of attn_pairs, those against the cached context, q * c: non-causal (every query sees all of
  // it), costed at the kernel's full-mask rate (docs/model.md §4.2); the rest, q (q + 1) / 2, are
  // the causal block of the new tokens. 0 = all causal. With attention DP rank_full_pairs is the
  // largest rank's non-causal pairs and rank_pairs that plus the largest rank's causal pairs.
  double attn_full_pairs = 0, rank_full_pairs = 0;
};

struct StepBreakdown {
  Seconds gemm_compute, weight_read, expert_read, attention, kv_read, other, tp_comm, ep_comm, pp_comm;
  Seconds draft;  // speculative decoding: the draft passes (all their parts)
  Seconds total;
};

class InferenceCost {
 public:
  // `tp` x `pp` GPUs per replica; `ep` (dividing tp and the experts) shards experts in the TP group.
  InferenceCost(const ModelSpec& m, const ClusterConfig& c, int tp, int pp, int ep, const ServingConfig& sv);

  // KV bytes per token for the whole model: 2 x layers x kv_heads x head_dim x bytes (GQA/MHA);
  // MLA caches one latent of kv_lora_rank + rope dims per layer.
  // The draft's KV cache (speculative decoding) is included in the per-GPU figure, the blocks and
  // the weights; kv_bytes_per_token is the target model's.
  double kv_bytes_per_token() const { return kv_token_model_; }
  double kv_bytes_per_token_per_gpu() const { return kv_token_gpu_; }
  double weight_bytes_per_gpu() const { return weight_gpu_; }   // the fullest pipeline stage (a speculative draft's included)
  double draft_weight_bytes_per_gpu() const { return draft_weight_gpu_; }
  double workspace_bytes_per_gpu() const { return workspace_gpu_; }
  double kv_capacity_bytes_per_gpu() const { return kv_cap_gpu_; }  // may be <= 0: does not fit
  long kv_blocks() const { return kv_blocks_; }                  // per replica (every GPU holds its shard)
  // The most blocks one sequence can hold: the replica's, or one GPU's with attention DP.
  long sequence_blocks() const { return attention_dp_ ? kv_blocks_ / tp_ : kv_blocks_; }
  int tp() const { return tp_; }
  int pp() const { return pp_; }
  int ep() const { return ep_; }
  int gpus() const { return tp_ * pp_; }

  // Time of one iteration of one batch stream. With pp > 1 the replica runs pp streams
  // (vLLM's virtual engines), each iteration passing every stage in turn: pp x the fullest
  // stage's layers, the logits once (last stage) and the stage-to-stage transfers.
  Seconds iteration_time(const BatchShape& b) const;
  StepBreakdown breakdown(const BatchShape& b) const;
  // Time to move `tokens` tokens of KV cache from a prefill to a decode replica.
  Seconds kv_transfer_time(double tokens, bool cross_domain) const;

 private:
  struct Linear {  // a + b * T seconds
    double a = 0, b = 0;
  };
  // The fullest stage's layers (without the logits) and the logits, of one batch.
  StepBreakdown stage(const BatchShape& b) const;
  Seconds logits(const BatchShape& b) const;
  Seconds draft_time(const BatchShape& b) const;

  int tp_, pp_, ep_;
  bool attention_dp_ = false;
  long stage_layers_ = 0, dense_stage_layers_ = 0, moe_stage_layers_ = 0;
  double h_ = 0;
  // per layer on one GPU
  Linear dense_gemm_, moe_fixed_gemm_;  // dense FFN layer; MoE layer without routed experts
  double dense_weight_s_ = 0, moe_fixed_weight_s_ = 0;
  double expert_flop_s_per_token_ = 0;  // routed-expert math per token (top-k, sharded)
  double expert_shard_bytes_s_ = 0;     // reading one local expert's weights
  double local_experts_ = 0, expert_pick_ = 0;  // E / ep; k / E
  MoeSpec moe_{};                               // for the busiest EP rank's load (ep_load_imbalance)
  double attn_flop_s_per_pair_ = 0, attn_full_flop_s_per_pair_ = 0, attn_pairs_per_query_ = 0, kv_read_s_per_token_ = 0, kv_write_s_per_token_ = 0, kv_decode_extra_s_per_token_ = 0;
  // Pairs of prefill queries (causal and against a cached prefix): MLA prefills in its
  // decompressed (MHA) form; equal to the rates above for every other attention.
  double prefill_flop_s_per_pair_ = 0, prefill_full_flop_s_per_pair_ = 0;
  double other_s_per_token_ = 0;
  double moe_act_s_per_token_ = 0;     // routed activations, per token of the batch
  double moe_local_s_per_token_ = 0;   // norms, residuals and shared experts of a MoE layer, per token the GPU serves
  Linear logits_;
  double logits_weight_s_ = 0;
  double t0_ = 0;
  double tp_bytes_per_token_ = 0, ep_bytes_per_token_ = 0, pp_bytes_per_token_ = 0;
  long tp_group_domain_ = 8;
  long pp_cross_hops_ = 0;  // of the pp - 1 stage-to-stage hops, those leaving the scale-up domain
  Fabric fabric_{};
  // Speculative decoding: the draft (the MTP module as a one-layer model, or the draft model)
  // on the replica's TP group, and the drafts per iteration.
  std::shared_ptr<const InferenceCost> draft_;
  int draft_tokens_ = 0;
  double draft_weight_gpu_ = 0;
  Linear mtp_proj_;  // in an MTP draft: the projection of [hidden; next embedding], per pass
  // stage()'s TP/EP collective times by whole token count (-1: not yet computed). A simulation
  // builds its own InferenceCost: not shared between threads.
  static constexpr std::size_t kCommCache = 1 << 16;
  mutable std::vector<std::array<double, 2>> comm_cache_;
  // The busiest EP rank's {rows over the mean, experts used} by whole token count (MoE only).
  mutable std::vector<std::array<double, 2>> moe_cache_;
  double kv_token_model_ = 0, kv_token_gpu_ = 0, kv_token_transfer_ = 0;
  double weight_gpu_ = 0, workspace_gpu_ = 0, kv_cap_gpu_ = 0;
  long kv_blocks_ = 0;
};

// ---------------------------------------------------------------- simulation

struct RequestSpec {
  double arrival_s = 0;
  long input = 0, output = 0;
};

// Requests from the serving block: a trace file, or `requests` draws (Poisson or offline).
// Trace lines that do not parse throw InputError naming file and line.
std::vector<RequestSpec> make_requests(const ServingConfig& sv);
std::vector<RequestSpec> parse_trace(const std::string& text, const std::string& origin);

struct LatencyPercentiles {
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
  // The reported percentile an SLO at percentile q (50, 90 or 99) is checked against.
  double at(double q) const { return q <= 50 ? p50 : q <= 90 ? p90 : p99; }
};

struct ServeResult {
  long requests = 0, completed = 0, preemptions = 0;
  // Speculative decoding: iterations of a drafting sequence, and the tokens they emitted (their
  // ratio: the measured tokens per verification pass).
  double spec_steps = 0, spec_tokens = 0;
  long replicas = 0, gpus = 0, prefill_replicas = 0;
  std::int64_t iterations = 0;
  double makespan_s = 0;
  double requests_per_s = 0, input_tokens_per_s = 0, output_tokens_per_s = 0;
  double output_tokens_per_s_per_gpu = 0;
  LatencyPercentiles ttft_s, tpot_s, e2e_s, queue_s;
  double kv_occupancy_mean = 0, kv_occupancy_peak = 0;  // used / total blocks, time-weighted
  double batch_mean = 0;                                  // sequences per iteration
  double slo_attainment = 0;                              // share of requests meeting both targets
  double goodput_requests_per_s = 0;
  bool slo_met = true;                                    // percentile targets met
  // Deployment facts
  double weight_bytes_per_gpu = 0, kv_bytes_per_token = 0, kv_capacity_tokens = 0;
  // What a replica stores per token: its stages' KV on every TP rank that keeps a copy (KV heads
  // replicated when tp exceeds them; one rank with attention DP), a speculative draft's included.
  double kv_bytes_per_token_stored = 0;
  long kv_blocks = 0;
  double decode_step_s = 0;  // one decode iteration at the mean running batch and context
  long longest_request = 0;  // input + output tokens of the longest request
};

// Notes on a simulated deployment that do not stop it: requests longer than the model's context
// (model.max_seq_len; benchmarks do run past it, e.g. TensorRT-LLM's GPT-J 6B at 2,048 + 2,048
// tokens, but a served model needs RoPE scaling or a longer-context variant for them).
std::vector<std::string> serve_notes(const ServeScenario& s, const ServeResult& r);

// Simulates the deployment; throws InputError when the model does not fit or a request can
// never fit in the KV cache.
ServeResult simulate_serving(const ServeScenario& s, const std::vector<RequestSpec>& requests);
ServeResult simulate_serving(const ServeScenario& s);  // make_requests(s.serving)
// "llama3-405b does not fit on 8 GPU(s) of ... per replica ...": the message for a deployment
// whose weights and workspace leave no KV cache.
std::string fit_message(const ServeScenario& s, const InferenceCost& cost);

// ---------------------------------------------------------------- capacity planning

struct ReplicaOption {
  int tp = 1, pp = 1, ep = 1;
  long max_batch = 0;
  double max_rate_per_s = 0;   // highest Poisson rate per replica meeting the SLO
  ServeResult at_max;          // the simulation at that rate
  bool attention_dp = false;   // attention DP (MoE; max_batch is then per rank)
  // GPUs the replica occupies: tp x pp, or, when tp does not divide the scale-up domain, pp x the
  // domain's GPUs per TP group it holds (D / floor(D / tp)): a TP group stays inside one domain
  // and the GPUs left over (one per 8-GPU node at tp 7) serve no other group.
  double footprint_gpus = 0;
  // Rate confirmed on a 10,000-request run (the answer's option, and any chosen before it was
  // lowered); the others keep their 800-request probes' rate, optimistic at the SLO's edge.
  bool checked = false;
};

struct CapacityResult {
  ReplicaOption best;
  std::vector<ReplicaOption> options;  // every fitting configuration, best first
  double demand_per_s = 0;             // peak requests/s of all users
  double mean_input_tokens = 0, mean_output_tokens = 0;  // per request, as drawn (clamped) and simulated
  long replicas = 0;
  std::int64_t gpus = 0;
  double cost_per_hour_usd = 0, cost_per_month_usd = 0;
  double cost_per_million_output_tokens_usd = 0, cost_per_million_tokens_usd = 0;
  // Reverse question (fleet given)
  double max_requests_per_user_per_hour = 0;  // at `users`
  double max_users = 0;                       // at `requests_per_user_per_hour`
  int configurations = 0, simulations = 0;
};

// Forward (fleet_gpus == 0): the smallest fleet of one replica shape meeting the SLO for the
// users' load, then the cheapest. Reverse: on the given fleet, the highest per-user rate.
// Keys of `s.parallel_given` (tp, pp, ep) are pinned; serving.max_batch is searched unless
// `pin_max_batch`. Throws InputError when nothing fits or no configuration meets the SLO.
CapacityResult plan_capacity(const ServeScenario& s, bool pin_max_batch = false);

}  // namespace wanka
