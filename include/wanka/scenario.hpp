// The scenario contract (DESIGN.md): model, cluster, parallel split and training run, parsed
// from YAML or JSON (plus flag overrides) into a fully resolved, validated value.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wanka/catalog.hpp"

namespace YAML { class Node; }

namespace wanka {

enum class Recompute { kNone, kSelective, kFull };
// Attention kernel: fused flash attention (Dao et al. 2022) or the unfused pre-2022 path that
// materialises the s x s scores (Megatron-LM before --use-flash-attn).
// flash: the accelerator's best fused kernel (cuDNN / FlashAttention-3 on Hopper); flash2:
// FlashAttention-2-class kernels (FA2, Triton), which do not use Hopper's asynchronous tensor
// cores; unfused: the s x s scores materialised (pre-FlashAttention Megatron).
enum class AttentionKernel { kFlash, kUnfused, kFlash2 };
const char* to_string(AttentionKernel a);
// Vocab-parallel cross-entropy over the fp32 logits (docs/model.md §3.8): fused (one pass
// forward, one backward; Megatron-Core's --cross-entropy-loss-fusion and equivalents) or
// unfused, Megatron's _VocabParallelCrossEntropy as separate PyTorch element-wise kernels
// (the Megatron-LM default: the fused loss is opt-in).
enum class CrossEntropyKernel { kFused, kUnfused };
const char* to_string(CrossEntropyKernel c);
// How MoE tokens travel to their experts (docs/model.md §5.2). all_to_all: one copy per (token,
// expert) pair in 16 bits (Megatron-Core's alltoall token dispatcher). deepep: one copy per
// destination GPU inside a node and per destination node across nodes, forwarded over the
// scale-up link on arrival, dispatched in FP8 when training in FP8 (DeepEP; DeepSeek-V3 §3.2.2).
enum class EpDispatcher { kAllToAll, kDeepEp };
const char* to_string(EpDispatcher d);
// How context parallelism exchanges the sequence (Megatron-Core --cp-comm-type; docs/model.md
// §6.3). p2p: the load-balanced ring that passes K,V chunks (ring attention). a2a: DeepSpeed-
// Ulysses (Jacobs et al. 2023, arXiv 2309.14509): all-to-alls turn sequence shards into head
// shards before attention and back after it, so each rank attends over the whole sequence with
// heads/(tp*cp) heads.
enum class CpComm { kP2p, kA2a };
const char* to_string(CpComm c);
const char* to_string(Recompute r);
// What selective recompute discards and recomputes: Megatron-Core's --recompute-modules
// (megatron/training/arguments.py, with --recompute-granularity selective; default core_attn).
// Bits of ParallelConfig::recompute_modules; docs/model.md §3.6, §6.6.
enum RecomputeModule : unsigned {
  kRecomputeCoreAttn = 1u << 0,       // core attention (checkpointed)
  kRecomputeLayernorm = 1u << 1,      // the two pre-norms (output discarded)
  kRecomputeMlaUpProj = 1u << 2,      // MLA up-projections and RoPE (output discarded)
  kRecomputeMoeAct = 1u << 3,         // the experts' activation function (output discarded)
  kRecomputeMlp = 1u << 4,            // the dense MLP (checkpointed)
  kRecomputeMoe = 1u << 5,            // the whole MoE block, dispatch and combine included (checkpointed)
  kRecomputeSharedExperts = 1u << 6,  // the shared experts (checkpointed)
};
// Names in Megatron-Core's spelling, in bit order.
inline constexpr const char* kRecomputeModuleNames[] = {"core_attn", "layernorm", "mla_up_proj", "moe_act",
                                                        "mlp",       "moe",       "shared_experts"};

struct ClusterConfig {
  GpuSpec gpu;                 // resolved spec (catalog entry plus inline overrides)
  std::int64_t num_gpus = 0;
  int gpus_per_node = 8;
  int scale_up_domain = 8;     // GPUs sharing the scale-up fabric (8 for HGX, 72 for NVL72)
  bool scale_up_mesh = false;  // full mesh of peer links (MI300X, Ascend 910B), not a switch
  bool scale_up_nvls = false;  // a switch with NVLink SHARP (in-switch all-reduce)
  double scale_up_gbytes_per_s = 0;  // per GPU, unidirectional
  double nic_gbps = 0;         // scale-out per GPU
  double oversubscription = 1.0;     // fat-tree taper above the leaf (1 = non-blocking)
  std::string topology = "rail-optimized-fat-tree";
  double price_per_gpu_hour_usd = 0;
  double pue = 1.2;
  double node_overhead_w_per_gpu = 0;  // CPUs, NICs, fans, storage, per GPU
};

// What overlaps with what. Defaults follow Megatron-Core's common production flags
// (--overlap-grad-reduce, --overlap-param-gather, p2p overlap); TP comm is exposed. ZeRO-3
// (FSDP) gathers and reduce-scatters are exposed by default: the measured FSDP runs
// (MosaicML Composer FSDP, torchtitan FSDP2) behave as if they were not hidden
// (docs/validation.md, "ZeRO-3 overlap").
struct OverlapConfig {
  bool dp = true;      // DP gradient reduce-scatter/all-reduce with the last backward
  bool zero3 = false;  // ZeRO-3 parameter gathers with compute (prefetch)
  bool tp = false;     // tensor-parallel collectives with GEMMs
  bool pp = true;      // pipeline p2p with compute
  bool cp = true;      // ring-attention KV exchange with attention compute
  bool ep = false;     // MoE all-to-all with expert compute
};

struct ParallelConfig {
  int tp = 1, pp = 1, vpp = 1, cp = 1, ep = 1;
  std::int64_t dp = 1;
  int micro_batch = 1;
  bool sequence_parallel = true;
  Recompute recompute = Recompute::kSelective;
  unsigned recompute_modules = kRecomputeCoreAttn;  // with recompute: selective only
  int zero = 1;
  // ZeRO-3 (FSDP) only: false keeps each layer's gathered parameters from its forward to its
  // backward (PyTorch FSDP SHARD_GRAD_OP, FSDP2 reshard_after_forward=False): no backward
  // re-gather, whole 16-bit weights held (docs/model.md §6.5, §8).
  bool reshard_after_forward = true;
  bool allow_uneven_stages = false;
  // Transformer layers on the first and the last global pipeline stage (-1: the even share),
  // Megatron-LM's --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers
  // (there per pipeline rank; here per global stage, the same with vpp = 1): lightens the
  // stages that also hold the embedding or the output head and multi-token prediction.
  int first_stage_layers = -1, last_stage_layers = -1;
  CpComm cp_comm_type = CpComm::kP2p;
  EpDispatcher ep_dispatcher = EpDispatcher::kAllToAll;
  OverlapConfig overlap;
};

struct TrainingConfig {
  long seq_len = 4096;
  std::int64_t global_batch = 1024;  // sequences per optimizer step
  Precision precision = Precision::kBf16;
  AttentionKernel attention = AttentionKernel::kFlash;
  CrossEntropyKernel cross_entropy = CrossEntropyKernel::kFused;
  // Gradients accumulated over micro-batches and reduced across data parallelism in fp32
  // (docs/model.md §8, §9): Megatron-LM's main_grad buffer, which its argument checks force for
  // bf16 (--accumulate-allreduce-grads-in-fp32). false: 16-bit gradients (ZeRO's 2 bytes).
  bool fp32_grads = false;
  double tokens = 0;  // run length in tokens (0: unset)
  double flops = 0;   // run length in model FLOPs (0: unset); never set together with tokens
};

// One kind of interruption (reliability model). Rates are per unit per day, where the unit is
// what the cause scales with: a GPU, a node, or the whole job.
enum class FailureScope { kGpu, kNode, kJob };
const char* to_string(FailureScope s);
struct FailureCause {
  std::string name;
  FailureScope scope = FailureScope::kGpu;
  double rate_per_day = 0;    // per GPU, per node or per job, before reliability.rate_scale
  bool replaces_node = true;  // hardware: the node leaves the job and needs a spare or a repair
  bool planned = false;       // announced maintenance: checkpoint first, no lost work, no detection
};

enum class CheckpointTier { kStorage, kNvme, kCpu, kPeer };
const char* to_string(CheckpointTier t);
enum class FailureDistribution { kExponential, kWeibull };

struct CheckpointConfig {
  CheckpointTier tier = CheckpointTier::kStorage;
  double interval_s = 0;              // training seconds between checkpoints; 0: the simulated optimum
  double storage_gbytes_per_s = 0;    // aggregate remote-storage bandwidth; 0: 0.122 GB/s per GPU
  double storage_capacity_tb = 0;     // 0: unlimited
  double nvme_gbytes_per_s = 0;       // per node; 0: 8 x 3.5 GB/s (assumed, one gen4 drive per GPU)
  double nvme_capacity_tb = 30.72;    // per node (DGX H100: 8 x 3.84 TB)
  double host_memory_gb = 2048;       // per node (DGX H100: 2 TB)
  double host_gbytes_per_s = 0;       // device-host copy per GPU; 0: the GPU's catalog host link
  int replicas = 2;                   // peer tier: copies of each shard in CPU memory (GEMINI)
  double peer_interference = 0.25;    // share of the replication time that slows training
  double backup_interval_s = 3 * 3600.0;  // fast tiers: training seconds between storage backups
  int keep = 2;                       // checkpoints kept (capacity checks)
};

struct LemonConfig {
  double fraction = 0;  // share of the job's nodes that are lemons
  double factor = 10;   // their hardware failure rate relative to a healthy node
  int evict_after = 3;  // failures after which a lemon is identified and swapped out
};

struct ReliabilityConfig {
  std::vector<FailureCause> causes;  // empty: Llama 3 Table 5 (see failure_causes)
  double rate_scale = 1.0;
  FailureDistribution distribution = FailureDistribution::kExponential;
  double weibull_shape = 0.78;
  LemonConfig lemon;
  double detection_s = 300;
  double restart_s = 600;
  double reschedule_s = 120;          // swap a failed node for a spare
  double repair_hours = 24;
  long spare_nodes = -1;              // -1: 1 % of the job's nodes, at least 1
  CheckpointConfig checkpoint;
  double days = 0;                    // allocated wall-clock window (days), or
  double tokens = 0;                  // a token budget run to completion (default training.tokens)
  int runs = 1000;
  std::uint64_t seed = 1;
};

// Llama 3 (arXiv 2407.21783) Table 5: 419 unexpected interruptions of 16,384 H100 over 54 days,
// plus the 47 planned ones of the same period, turned into per-GPU/node/job daily rates.
std::vector<FailureCause> default_failure_causes();
// The causes in effect: `r.causes`, or the defaults when it is empty (a scenario without a
// reliability block keeps it empty, so that copying a Scenario stays cheap for the planner).
const std::vector<FailureCause>& failure_causes(const ReliabilityConfig& r);

struct Scenario {
  ModelSpec model;
  ClusterConfig cluster;
  ParallelConfig parallel;
  TrainingConfig training;
  ReliabilityConfig reliability;

  std::int64_t grad_accum_steps() const {
    return training.global_batch / (parallel.dp * parallel.micro_batch);
  }
};

// A cluster of `num_gpus` of `gpu` with every other field at the GPU's catalog default.
ClusterConfig default_cluster(const GpuSpec& gpu, std::int64_t num_gpus);

// One "key.path=value" override, applied on top of the file (value parsed as YAML scalar/flow).
using Override = std::pair<std::string, std::string>;

// Whether applying `first` and then `second` (parse_scenario's order) would lose or shadow a
// field `first` gives: the same field twice; a mapping that replaces a block the other sets
// inside (or that defines the other's field); a name set on an entry whose mapping gives one.
// A scalar name and fields set inside that entry compose (model=llama3-8b, model.layers=48),
// as parse_scenario applies them. Values are read as YAML; one that does not parse conflicts
// with nothing here (parse_scenario reports it).
bool overrides_conflict(const Override& first, const Override& second);
// Whether the override gives the field at `path`: sets it or a field inside it, or sets a block
// above it with a mapping that defines it.
bool override_gives(const Override& ov, const std::string& path);
// Whether an override's value spells null (null, Null, NULL, ~, surrounding blanks allowed):
// it unsets the field.
bool spells_null(const std::string& value);

// The built-in default: Llama-3-70B on 1,024 H100 (TP8 PP4 VPP5 DP32, 8K sequences, 4M tokens).
const char* default_scenario_yaml();

// Parse and validate. `origin` names the source in messages (file name or "<default>").
// Throws InputError (field path, line:column for malformed YAML) on bad input.
Scenario parse_scenario(const std::string& text, const std::string& origin,
                        const std::vector<Override>& overrides = {},
                        const Catalog& catalog = Catalog::builtin());
// The scenario before the split is resolved: parallel degrees as given (unchecked), and which
// `parallel` keys the input set. The planner pins those and searches the rest.
struct ScenarioDraft {
  Scenario scenario;
  std::vector<std::string> parallel_given;
  bool dp_given = false;
};
ScenarioDraft parse_scenario_draft(const std::string& text, const std::string& origin,
                                   const std::vector<Override>& overrides = {},
                                   const Catalog& catalog = Catalog::builtin());
Scenario load_scenario_file(const std::string& path, const std::vector<Override>& overrides = {},
                            const Catalog& catalog = Catalog::builtin());

// Check the split against model and cluster; throws InputError naming the field.
void validate_scenario(const Scenario& s);

// The same checks without throwing or formatting (the planner runs them millions of times):
// the first rule the split breaks, in the order validate_scenario reports them.
enum class SplitIssue {
  kOk, kGpuProduct, kNodeMultiple, kHeads, kKvHeads, kTooManyStages, kStageLayers, kUnevenStages, kVppWithoutPp,
  kCpSeq, kCpHeads, kSpSeq, kEpDense, kEpExperts, kEpDp, kEpTpSp, kBatch, kInterleave, kSimLimit
};

// How `layers` transformer layers fall on `stages` global pipeline stages: stage 0 holds
// `first` and the last stage `last` when given (>= 0); the others ("free" stages, [free_begin,
// free_end)) hold q, and the rem in [plus_begin, plus_begin + rem) one more, centred so that
// the edge stages, which also hold the embedding or the output head, stay light.
struct StageLayout {
  long free_begin = 0, free_end = 0, q = 0, rem = 0, plus_begin = 0;
  long first = -1, last = -1, stages = 1;
  long layers_of(long g) const {
    if (g == 0 && first >= 0) return first;
    if (g == stages - 1 && last >= 0) return last;
    return q + (g >= plus_begin && g < plus_begin + rem ? 1 : 0);
  }
  // kOk, kStageLayers (given counts that do not fit, or a free stage left without a layer)
  // or kUnevenStages (the free stages' share is uneven: fine with allow_uneven_stages).
  SplitIssue issue = SplitIssue::kOk;
};
StageLayout stage_layout(long layers, long stages, int first_stage_layers, int last_stage_layers);
SplitIssue check_split(const Scenario& s);
const char* to_string(SplitIssue i);  // stable kebab-case name, used in plan summaries
// Ulysses context parallelism (cp_comm_type a2a) gives each CP rank whole query and KV heads:
// Transformer Engine requires cp to divide both head counts per TP rank.
bool ulysses_heads_divide(const ModelSpec& m, int tp, int cp);

}  // namespace wanka
