// The built-in catalog: accelerators, models and networks, parsed from YAML embedded at build
// time (data/catalog/*.yaml, data/calibration/calibration.yaml) and extendable by user YAML.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wanka/units.hpp"

namespace YAML { class Node; }

namespace wanka {

enum class Precision { kFp32, kTf32, kBf16, kFp16, kFp8, kFp4 };
const char* to_string(Precision p);
std::optional<Precision> parse_precision(const std::string& s);

// Efficiency of an accelerator measured by microbenchmarks (data/calibration/calibration.yaml,
// derived only from ../shared/data/validation/calibration.csv-style rows; see that file).
struct Calibration {
  std::string basis;                      // which measurements, or "default" when none exist
  std::map<Precision, double> matmul_efficiency;  // best achieved / dense peak, per dtype
  double gemm_overhead_s = 8e-6;          // per-GEMM fixed cost (tail/wave effects), fitted
  double hbm_efficiency = 0.85;           // STREAM-like achieved / peak HBM bandwidth
  double attention_fwd_efficiency = 0.5;  // fused flash attention fwd TFLOP/s / dense peak
  double attention_bwd_efficiency = 0.4;
  // FlashAttention-2-class kernels (training.attention: flash2); < 0 = same as the above (the
  // accelerator's best kernel is FA2-class, e.g. A100).
  double attention_fa2_fwd_efficiency = -1, attention_fa2_bwd_efficiency = -1;
  // Sequence-length curve of fused attention (docs/model.md §4.2): a kernel call whose causal
  // span is s keys runs at e * s / (s + half), e being the efficiencies above (their long-sequence
  // limit). 0 = no curve (the efficiencies hold at any length); fa2 < 0 = the best kernel's.
  double attention_fwd_half_seq = 0, attention_bwd_half_seq = 0;
  double attention_fa2_fwd_half_seq = -1, attention_fa2_bwd_half_seq = -1;
  // Non-causal (full-mask) calls, e.g. the off-diagonal ring steps of context parallelism
  // (docs/model.md §4.2, §6.3): their own long-sequence efficiency and half length; < 0 = the
  // same kernel's causal figures. The fa2 ones are used only by a GPU with an FA2 entry
  // (attention_fa2_fwd_efficiency); without one, flash2 is flash, full-mask figures included.
  double attention_full_fwd_efficiency = -1, attention_full_bwd_efficiency = -1;
  double attention_full_fwd_half_seq = -1, attention_full_bwd_half_seq = -1;
  double attention_fa2_full_fwd_efficiency = -1, attention_fa2_full_bwd_efficiency = -1;
  double attention_fa2_full_fwd_half_seq = -1, attention_fa2_full_bwd_half_seq = -1;
  // Head dimension (docs/model.md §4.2): the efficiencies above are for head dim 128; at 64 and
  // 256 they are multiplied by these factors (log-linear between, constant beyond); fa2 < 0 =
  // the best kernel's.
  double attention_hd64_factor = 1, attention_hd256_factor = 1;
  double attention_fa2_hd64_factor = -1, attention_fa2_hd256_factor = -1;
  double scale_up_efficiency = 0.80;      // large-message ring bus bandwidth / link bandwidth
  double scale_out_efficiency = 0.85;     // large-message per-NIC bus bandwidth / line rate
  double scale_up_latency_s = 3e-6;       // per ring step
  double scale_out_latency_s = 8e-6;      // per ring step
  // Message-size curve of the bandwidth term (docs/model.md §5.2): a collective of S bytes runs
  // at 1 / (1 + (half / S)^exponent) of the large-message bus bandwidth. 0 = no curve.
  double scale_up_half_bytes = 0, scale_up_size_exponent = 1;
  // NVLink SHARP (NVLS) all-reduce inside an NVSwitch domain: its algorithm bandwidth (S / t at
  // large S) over the per-GPU link bandwidth; 0 = no NVLS (docs/model.md §5.2).
  double scale_up_nvls_efficiency = 0;
  double scale_up_nvls_latency_s = 25e-6;  // one small NVLS all-reduce (nccl-tests floor)
  int scale_up_nvls_min_gpus = 2;          // NCCL's tuner runs NVLS from this many GPUs of a domain
  double scale_out_half_bytes = 0, scale_out_size_exponent = 1;
};

struct GpuSpec {
  std::string name;
  std::vector<std::string> aliases;
  std::string vendor;
  std::string description;
  std::string source;
  std::string notes;
  std::map<Precision, double> peak_tflops;  // dense
  double hbm_gib = 0;
  double hbm_tbps = 0;
  std::string scale_up_link;
  double scale_up_gbytes_per_s = 0;  // per GPU, unidirectional
  int scale_up_domain = 8;
  // Full mesh (AMD Infinity Fabric, Huawei HCCS): scale_up_gbytes_per_s is the sum of
  // domain - 1 peer links, and k GPUs of a domain reach each other over k - 1 of them.
  bool scale_up_mesh = false;
  // NVSwitch with NVLink SHARP (HGX H100/H200/H800/B200, NVL72): all-reduce can run in the switch.
  bool scale_up_nvls = false;
  double nic_gbps = 0;               // per GPU
  // Host link per GPU and direction (PCIe or NVLink-C2C), achieved copy-engine bandwidth,
  // 1e9 B/s: device-to-host checkpoint snapshots and restores (reliability model).
  double host_gbytes_per_s = 25;
  int gpus_per_node = 8;
  double tdp_w = 0;
  double price_per_gpu_hour_usd = 0;
  double list_price_usd = 0;
  std::string price_source;
  int year = 0;
  Calibration calibration;

  FlopsPerSecond peak(Precision p) const;  // throws InputError if the dtype is unsupported
  Bytes hbm_capacity() const { return Bytes(hbm_gib * kGiB); }
  BytesPerSecond hbm_bandwidth() const { return BytesPerSecond(hbm_tbps * kTera); }
};

struct MoeSpec {
  int experts = 0;  // routed experts; 0 means dense
  int top_k = 0;
  long ffn_hidden = 0;
  int shared = 0;
  long shared_ffn_hidden = 0;  // defaults to ffn_hidden
  int dense_layers = 0;        // leading layers with a dense FFN (DeepSeek-V3: 3)
  long dense_ffn_hidden = 0;   // defaults to the model's ffn_hidden
  // Group-limited routing (DeepSeek-V3 config.json n_group / topk_group): the experts form
  // `groups` equal groups and a token's top_k experts come from `topk_groups` of them. With
  // expert parallelism laid out group by group, a token reaches at most topk_groups nodes
  // (DeepSeek-V3 §3.2.2, "node-limited routing"). 0: no limit.
  int groups = 0;
  int topk_groups = 0;
};

// Multi-head latent attention (DeepSeek-V2/V3, arXiv 2405.04434 §2.1).
struct MlaSpec {
  long q_lora_rank = 0;  // 0: no query compression
  long kv_lora_rank = 0;
  long qk_nope_head_dim = 0;
  long qk_rope_head_dim = 0;
  long v_head_dim = 0;
};

enum class Activation { kGelu, kSwiglu };
enum class Norm { kLayerNorm, kRmsNorm };
enum class Position { kRope, kLearned, kAlibi };

struct ModelSpec {
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
  std::string source;
  std::string notes;
  long layers = 0;
  long hidden = 0;
  long heads = 0;
  long kv_heads = 0;   // 0 in YAML means = heads; always resolved
  long head_dim = 0;   // 0 means hidden/heads; always resolved
  long ffn_hidden = 0;
  long vocab = 0;
  Activation activation = Activation::kSwiglu;
  Norm norm = Norm::kRmsNorm;
  Position position = Position::kRope;
  long max_seq_len = 0;
  bool tied_embeddings = false;
  double params_b = 0;  // published total, for cross-checks only
  bool rumored = false;
  MoeSpec moe;
  std::optional<MlaSpec> mla;
  // Multi-token-prediction modules trained with the model (DeepSeek-V3 §2.2; Hugging Face's
  // num_nextn_predict_layers, Megatron-LM's --mtp-num-layers): each is a projection of the
  // normalised hidden state and next-token embedding, one transformer layer of the model's last
  // kind, and the shared output head, on the last pipeline stage. Training only: not counted in
  // params_b or ModelCounts::params_total, and serving (no speculative decoding) ignores them.
  long mtp_layers = 0;

  bool is_moe() const { return moe.experts > 0; }
};

struct LinkSpec {
  std::string name;
  double gbytes_per_s = 0;  // scale-up links: per GPU, unidirectional
  double gbps = 0;          // scale-out links: per GPU NIC line rate
  int domain = 0;
  double latency_us = 0;
  bool mesh = false;        // scale-up: a full mesh of peer links, not a switch
  bool nvls = false;        // scale-up: a switch that reduces (NVLink SHARP)
  std::string source;
};

class Catalog {
 public:
  // The built-in catalog (parsed once, thread-safe).
  static const Catalog& builtin();
  // Built-in entries plus (overriding by name) those in a user YAML file of the same schema.
  // An entry names what it changes: a gpu or model entry with an existing name, or one with
  // `base: NAME`, starts from that entry (a gpu based on another also takes its calibration;
  // existing entries keep their aliases); a calibration entry starts from its `inherit`, else
  // the existing entry of its name, else the gpu's base's, else default. Only the fields given
  // change; a calibration entry must name a gpu.
  static Catalog with_overrides(const std::string& yaml_path);
  static Catalog with_overrides_text(const std::string& yaml_text, const std::string& origin);

  const GpuSpec& gpu(const std::string& name) const;      // throws InputError with suggestions
  const ModelSpec& model(const std::string& name) const;  // idem
  const std::vector<GpuSpec>& gpus() const { return gpus_; }
  const std::vector<ModelSpec>& models() const { return models_; }
  const std::vector<LinkSpec>& scale_up_links() const { return scale_up_; }
  const std::vector<LinkSpec>& scale_out_links() const { return scale_out_; }

  // Parse one GPU or model entry (used for catalog files and for inline scenario specs).
  // `base` supplies defaults for fields the node omits; `path` names the node in errors.
  static GpuSpec parse_gpu(const YAML::Node& node, const std::string& path, const GpuSpec* base);
  // The fields of a calibration entry (all optional) onto `c`; `inherit` (read by the caller) is
  // allowed in a catalog file's entry only.
  static void parse_calibration_fields(const YAML::Node& node, const std::string& path, Calibration& c, bool catalog_entry);
  static ModelSpec parse_model(const YAML::Node& node, const std::string& path, const ModelSpec* base);
  // Fill derived fields (kv_heads, head_dim, moe defaults) and check sizes; throws InputError.
  static void finalize_model(ModelSpec& m, const std::string& path);

 private:
  void load(const std::string& gpus_yaml, const std::string& models_yaml, const std::string& networks_yaml,
            const std::string& calibration_yaml, const std::string& origin);
  void apply_calibration(const YAML::Node& root, const std::string& origin);
  // The calibration entry of a gpu: its own, else its catalog-file base's along the chain.
  const Calibration* calibration_of(const std::string& gpu_name) const;

  std::vector<GpuSpec> gpus_;
  std::vector<ModelSpec> models_;
  std::vector<LinkSpec> scale_up_;
  std::vector<LinkSpec> scale_out_;
  std::map<std::string, Calibration> calibration_;  // by gpu name; "default" for the rest
  std::map<std::string, std::string> calibration_base_;  // gpu name -> its catalog-file base
};

std::string_view embedded_file(std::string_view name);

}  // namespace wanka
