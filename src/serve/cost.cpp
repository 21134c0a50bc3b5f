// Cost of one inference iteration on one replica: the GEMMs of every layer with weights at the
// serving precision, attention over each sequence's context read from the paged KV cache, MoE
// experts loaded when a token routes to them, and the TP/EP/PP communication. Every kernel is
// timed with the calibrated roofline of src/hw (t = F / (P e) + B / (BW e_hbm) + t0), so decode
// (few tokens, all weights read) comes out memory-bound and prefill (thousands of tokens per
// weight read) compute-bound without a separate rule for each.
#include <algorithm>
#include <cmath>
#include <limits>

#include "train/step_model.hpp"
#include "wanka/accelerator.hpp"
#include "wanka/error.hpp"
#include "wanka/model.hpp"
#include "wanka/serve.hpp"

namespace wanka {

namespace {

double bytes_of(Precision p) {
  switch (p) {
    case Precision::kFp32: return 4;
    case Precision::kTf32: return 4;
    case Precision::kBf16: return 2;
    case Precision::kFp16: return 2;
    case Precision::kFp8: return 1;
    case Precision::kFp4: return 0.5;
  }
  return 2;
}

// The precision the GEMMs run at: fp8/fp4 weights use the matching tensor cores when the GPU
// has them (W8A8 FP8 as TensorRT-LLM and vLLM run it; NVFP4 on Blackwell), else the weights
// are dequantized to 16 bit (weight-only quantization).
Precision compute_precision(const GpuSpec& g, const ServingConfig& sv) {
  const Precision w = sv.weight_precision;
  if (!sv.int4_weights && (w == Precision::kFp8 || w == Precision::kFp4) && g.peak_tflops.count(w)) return w;
  return g.peak_tflops.count(Precision::kBf16) ? Precision::kBf16 : Precision::kFp16;
}

// What stage() computes from one token count alone (a few pow() calls: the size curves of §5,
// the busiest EP rank), memoised per whole count below `size`, as a simulation asks for the
// same few hundred counts millions of times.
template <class F>
std::array<double, 2> memo(std::vector<std::array<double, 2>>& cache, double key, std::size_t size, const F& compute) {
  if (!(key == std::floor(key) && key >= 0 && key < double(size))) return compute();
  if (cache.empty()) cache.assign(size, {-1.0, -1.0});
  auto& slot = cache[static_cast<std::size_t>(key)];
  if (slot[0] < 0) slot = compute();
  return slot;
}

}  // namespace

InferenceCost::InferenceCost(const ModelSpec& m, const ClusterConfig& c, int tp, int pp, int ep, const ServingConfig& sv)
    : tp_(tp), pp_(pp), ep_(ep), attention_dp_(sv.attention_dp) {
  const Precision cp = compute_precision(c.gpu, sv);
  const Accelerator acc(c.gpu, cp);
  const double P = acc.achievable_matmul().value;
  const double hbm = acc.achievable_hbm().value;
  t0_ = acc.gemm_overhead().value;
  fabric_ = detail::make_fabric(c);
  tp_group_domain_ = std::max(1, c.scale_up_domain);

  const double wb = sv.int4_weights ? 0.5 : bytes_of(sv.weight_precision);  // bytes per weight
  const double ab = bytes_of(cp) < 2 ? bytes_of(cp) : 2.0;  // GEMM activation input (quantized with fp8/fp4 math)
  const double kvb = bytes_of(sv.kv_precision);
  const double t = tp, h = double(m.hidden);
  h_ = h;
  // Attention DP: the attention side of every layer (attention, norms, dense FFN, shared
  // experts, logits) is whole on each GPU (ta = 1) and serves 1/tp of the sequences; routed
  // experts stay sharded over the tp GPUs (ep = tp).
  const double ta = attention_dp_ ? 1.0 : t;
  const bool swiglu = m.activation == Activation::kSwiglu;
  const double mats_in = swiglu ? 2.0 : 1.0, mats = swiglu ? 3.0 : 2.0;
  const double a_loc = double(m.heads) / ta;

  // A weight GEMM C[T, n] = A[T, k] W[k, n] on this GPU: linear in the tokens T.
  auto gemm = [&](Linear& l, double& w_s, double n, double k) {
    w_s += n * k * wb / hbm;
    l.a += n * k * wb / hbm + t0_;
    l.b += 2.0 * n * k / P + (k * ab + 2.0 * n) / hbm;
  };
  Linear attn;
  double attn_w = 0;
  double dqk = 0, dv = 0, kv_layer = 0, kv_layer_transfer = 0, kv_loc_heads = 0;
  double dqk_prefill = 0, dv_prefill = 0;  // query/key and value widths of prefill attention
  if (m.mla) {
    // MLA (DeepSeek-V2, arXiv 2405.04434 §2.1) with the up-projections absorbed for attention
    // (as FlashMLA and SGLang run decode): each head attends over the shared latent of
    // kv_lora_rank + rope dims, so scores cost 2 (kv_lora + rope) and values 2 kv_lora FLOPs
    // per head and pair; the cache holds that latent once per layer, replicated on TP ranks.
    const auto& l = *m.mla;
    const double q_in = l.q_lora_rank > 0 ? double(l.q_lora_rank) : h;
    if (l.q_lora_rank > 0) gemm(attn, attn_w, double(l.q_lora_rank), h);
    gemm(attn, attn_w, a_loc * double(l.qk_nope_head_dim + l.qk_rope_head_dim), q_in);
    gemm(attn, attn_w, double(l.kv_lora_rank + l.qk_rope_head_dim), h);
    gemm(attn, attn_w, a_loc * double(l.qk_nope_head_dim + l.v_head_dim), double(l.kv_lora_rank));
    gemm(attn, attn_w, h, a_loc * double(l.v_head_dim));
    dqk = double(l.kv_lora_rank + l.qk_rope_head_dim);
    dv = double(l.kv_lora_rank);
    // Prefill runs in the decompressed (MHA) form: the latents go through the up-projection
    // and each head attends with qk_nope + rope query/key and v_head_dim value widths, 3.4x
    // fewer FLOPs per pair than the absorbed form for DeepSeek-V3 ((192 + 128) against
    // (576 + 512)): vLLM's MLA backends (MLACommonImpl prefill), SGLang (forward_normal for
    // extend) and TensorRT-LLM's context phase. The up-projection of the new tokens is the
    // per-token GEMM above; a cached prefix's latents are not re-projected here (not modelled).
    dqk_prefill = double(l.qk_nope_head_dim + l.qk_rope_head_dim);
    dv_prefill = double(l.v_head_dim);
    kv_layer = dqk * kvb;
    kv_layer_transfer = kv_layer;
    kv_loc_heads = 1;
  } else {
    // GQA/MHA: K and V heads split over TP, replicated when tp exceeds kv_heads.
    const double d = double(m.head_dim);
    kv_loc_heads = std::max(1.0, double(m.kv_heads) / ta);
    gemm(attn, attn_w, (a_loc + 2.0 * kv_loc_heads) * d, h);
    gemm(attn, attn_w, h, a_loc * d);
    dqk = dv = dqk_prefill = dv_prefill = d;
    kv_layer = 2.0 * kv_loc_heads * d * kvb;
    kv_layer_transfer = 2.0 * double(m.kv_heads) * d * kvb / ta;
  }
  // The attention kernel at this model's query/key head size (MLA: its absorbed latent).
  const Accelerator acc_attn(c.gpu, cp, AttentionKernel::kFlash, dqk);
  const Flops per_pair(2.0 * a_loc * (dqk + dv));
  const double inf = std::numeric_limits<double>::infinity();
  attn_flop_s_per_pair_ = acc_attn.attention_fwd(per_pair, inf).value;
  attn_full_flop_s_per_pair_ = acc_attn.attention_fwd(per_pair, inf, AttentionMask::kFull).value;
  if (m.mla) {
    const Accelerator acc_prefill(c.gpu, cp, AttentionKernel::kFlash, dqk_prefill);
    const Flops prefill_pair(2.0 * a_loc * (dqk_prefill + dv_prefill));
    prefill_flop_s_per_pair_ = acc_prefill.attention_fwd(prefill_pair, inf).value;
    prefill_full_flop_s_per_pair_ = acc_prefill.attention_fwd(prefill_pair, inf, AttentionMask::kFull).value;
  } else {
    prefill_flop_s_per_pair_ = attn_flop_s_per_pair_;
    prefill_full_flop_s_per_pair_ = attn_full_flop_s_per_pair_;
  }
  // The sequence-length curve of the attention kernel (docs/model.md §4.2) as a fixed cost per
  // query token: a causal call over s keys costs s/2 pairs per query at the long-sequence rate
  // times (1 + half/s), i.e. half/2 pairs more.
  attn_pairs_per_query_ = acc_attn.attention_fwd_half_seq() / 2.0;
  kv_read_s_per_token_ = kv_layer / hbm;
  kv_write_s_per_token_ = kv_layer / hbm;
  // A decode kernel with one thread block per query head (TensorRT-LLM's masked MHA before XQA:
  // decoderMaskedMultiheadAttentionTemplate.h maps head h to KV head h / (heads / kv_heads))
  // loads a GQA group's KV head once per query head: a_loc / kv_loc_heads times the bytes of
  // kernels that share it (XQA, FlashAttention, vLLM). MLA and MHA are unaffected.
  if (sv.decode_kv_reads == ServingConfig::DecodeKvReads::kPerQueryHead && !m.mla) {
    kv_decode_extra_s_per_token_ = (std::max(1.0, a_loc / kv_loc_heads) - 1.0) * kv_read_s_per_token_;
  }

  // Element-wise traffic per token and layer: two norms (read + write), two residual adds
  // (2 reads + 1 write), rotary on q and k; 16-bit activations.
  const double rope = m.position == Position::kRope ? 2.0 * (a_loc + kv_loc_heads) * dqk * 2.0 : 0.0;
  const double ew = (2.0 * 2.0 + 2.0 * 3.0) * h * 2.0 + rope;

  // Dense FFN layer.
  const double f_dense = (m.is_moe() ? double(m.moe.dense_ffn_hidden) : double(m.ffn_hidden)) / ta;
  dense_gemm_ = attn;
  dense_weight_s_ = attn_w;
  gemm(dense_gemm_, dense_weight_s_, mats_in * f_dense, h);
  gemm(dense_gemm_, dense_weight_s_, h, f_dense);
  other_s_per_token_ = (ew + (swiglu ? 3.0 : 2.0) * f_dense * 2.0) / hbm;

  // MoE layer: router and shared experts every token; routed experts (Shazeer et al. 2017;
  // GShard) on demand. With top-k routing spread evenly, an expert is untouched by a batch of
  // T tokens with probability (1 - k/E)^T, so a decode step of few tokens reads only the
  // experts it uses: of E/ep local experts, the most any rank uses (busiest_rank_experts_used),
  // x their shard.
  if (m.is_moe()) {
    const double E = m.moe.experts, k = m.moe.top_k, fe = double(m.moe.ffn_hidden);
    moe_fixed_gemm_ = attn;
    moe_fixed_weight_s_ = attn_w;
    gemm(moe_fixed_gemm_, moe_fixed_weight_s_, E, h);  // router (replicated)
    double fs = 0;
    if (m.moe.shared > 0) {
      fs = double(m.moe.shared) * double(m.moe.shared_ffn_hidden) / ta;
      gemm(moe_fixed_gemm_, moe_fixed_weight_s_, mats_in * fs, h);
      gemm(moe_fixed_gemm_, moe_fixed_weight_s_, h, fs);
    }
    const double shard = t / ep;  // each expert's FFN is split over tp / ep ranks
    local_experts_ = E / ep;
    expert_pick_ = k / E;
    moe_ = m.moe;
    expert_shard_bytes_s_ = mats * h * fe / shard * wb / hbm;
    expert_flop_s_per_token_ = 2.0 * k * mats * h * fe / t / P;
    // Routed activations on this GPU: T k / ep tokens, each in (h), fc1 out (mats_in fe'),
    // fc2 in (fe'), out (h), and the gated activation (3 fe'), fe' = fe / shard.
    const double fe_loc = fe / shard;
    moe_act_s_per_token_ = k / ep * (h * ab + mats_in * fe_loc * 2.0 + fe_loc * ab + 2.0 * h + 3.0 * fe_loc * 2.0) / hbm;
    moe_local_s_per_token_ = (ew + 3.0 * fs * 2.0) / hbm;
  }

  // Logits on the last stage: lm_head kept in 16 bit (vLLM and TensorRT-LLM do not quantize it).
  const double V = double(m.vocab);
  logits_weight_s_ = V / ta * h * 2.0 / hbm;
  logits_.a = logits_weight_s_ + t0_;
  const Accelerator acc16(c.gpu, c.gpu.peak_tflops.count(Precision::kBf16) ? Precision::kBf16 : Precision::kFp16);
  logits_.b = 2.0 * h * V / ta / acc16.achievable_matmul().value + V / ta * 4.0 / hbm;

  // Communication per token and layer (16-bit activations).
  tp_bytes_per_token_ = h * 2.0;
  ep_bytes_per_token_ = m.is_moe() ? double(m.moe.top_k) * h * 2.0 / ep : 0.0;
  pp_bytes_per_token_ = h * 2.0;
  // Stage r holds GPUs [r tp, (r + 1) tp) of the replica: its hop to stage r + 1 leaves the
  // scale-up domain when some GPU pair x -> x + tp straddles a multiple of the domain size
  // (the training pipeline's rule, docs/model.md §3.7).
  // When tp does not divide the domain, a TP group keeps to one domain (capacity planning's
  // footprint, docs/model.md §17.3): floor(D / tp) stages per domain, and the hop out of every
  // domain's last stage crosses.
  const long per_domain = tp < tp_group_domain_ && tp_group_domain_ % tp != 0 ? tp_group_domain_ / tp : 0;
  for (long r = 0; r + 1 < pp; ++r) {
    const bool cross = per_domain > 0 ? (r + 1) % per_domain == 0 : straddles_domain(r * tp, tp, tp, tp_group_domain_);
    if (cross) ++pp_cross_hops_;
  }

  // Layers on the fullest stage; MoE models with leading dense layers put those first.
  const long L = m.layers;
  stage_layers_ = (L + pp - 1) / pp;
  const long moe_layers = m.is_moe() ? L - m.moe.dense_layers : 0;
  moe_stage_layers_ = std::min(stage_layers_, moe_layers);
  dense_stage_layers_ = stage_layers_ - moe_stage_layers_;

  // Memory per GPU: the fullest stage's weights, the paged KV cache in what is left of
  // gpu_memory_utilization x HBM (vLLM's rule) after weights and activation workspace, or
  // that fraction of what weights and workspace leave (TensorRT-LLM's rule).
  const LayerParams dense_p = layer_params(m, false);
  auto local_params = [&](const LayerParams& p) {
    double attn_local = 0;
    if (m.mla) {
      const auto& l = *m.mla;
      const double down = (l.q_lora_rank > 0 ? h * double(l.q_lora_rank) : 0.0) + h * double(l.kv_lora_rank + l.qk_rope_head_dim);
      attn_local = (p.attention - down) / ta + down;
    } else {
      const double kv = 2.0 * h * double(m.kv_heads) * double(m.head_dim);
      attn_local = (p.attention - kv) / ta + 2.0 * h * kv_loc_heads * double(m.head_dim);
    }
    return (attn_local + p.mlp / ta + p.experts / t + p.shared / ta) * wb + p.other * 2.0;
  };
  double w = double(dense_stage_layers_) * local_params(dense_p);
  if (m.is_moe()) w += double(moe_stage_layers_) * local_params(layer_params(m, true));
  const double embed = V * h / ta * 2.0;
  w += pp == 1 ? 2.0 * embed : embed;  // input embedding and lm_head (one of them per edge stage)
  // Speculative decoding: the draft lives on the same GPUs (on the last stage with pp > 1; its
  // weights and KV cache are counted on the fullest stage, a bound). The MTP module is the
  // model cut to one layer (a MoE layer when the model has experts, as DeepSeek-V3's is) whose
  // embedding and output head are the target's (not counted twice) plus the 2h x h projection
  // of [h_i; emb(t_i+1)] (replicated); a draft model is a whole dense model on the replica's TP
  // group (the largest divisor of tp its heads allow).
  if (sv.speculative.tokens > 0) {
    draft_tokens_ = sv.speculative.tokens;
    ServingConfig dsv = sv;
    dsv.speculative = SpeculativeConfig{};
    const bool mtp = !sv.speculative.draft_model;
    ModelSpec d = mtp ? m : *sv.speculative.draft_model;
    int dtp = tp, dep = ep;
    if (mtp) {
      d.name = m.name + " MTP";
      d.layers = 1;
      d.mtp_layers = 0;
      if (m.is_moe()) d.moe.dense_layers = 0;
    } else {
      dsv.attention_dp = false;
      dep = 1;
      auto splits = [&](int x) {
        return d.heads % x == 0 && (d.kv_heads % x == 0 || x % d.kv_heads == 0);
      };
      while (dtp > 1 && !(tp % dtp == 0 && splits(dtp))) --dtp;
    }
    auto dc = std::make_shared<InferenceCost>(d, c, dtp, 1, dep, dsv);
    double dw = dc->weight_gpu_;
    if (mtp) {
      const double dta = dsv.attention_dp ? 1.0 : double(dtp);
      dw -= 2.0 * (V * h / dta * 2.0);  // the shared embedding and output head
      Linear proj;
      double proj_w = 0;
      gemm(proj, proj_w, h, 2.0 * h);
      dw += 2.0 * h * h * wb;
      dc->mtp_proj_ = proj;
    }
    w += dw;
    draft_weight_gpu_ = dw;
    draft_ = std::move(dc);
  }
  weight_gpu_ = w;
  const double f_act = std::max(f_dense, m.is_moe() ? double(m.moe.ffn_hidden) * m.moe.top_k / t : 0.0);
  // With attention DP one rank may hold a whole max_batch_tokens chunk and the fp32 logits of
  // its max_batch sequences.
  // max_batch caps the sequences of each scheduler, each rank's with attention DP (serving.max_batch).
  workspace_gpu_ = double(sv.max_batch_tokens) * (4.0 * h + 3.0 * f_act) * 2.0 + double(sv.max_batch) * V / ta * 4.0;
  const double hbm_bytes = c.gpu.hbm_capacity().value;
  kv_cap_gpu_ = sv.kv_pool == ServingConfig::KvPoolRule::kVllm
                    ? sv.gpu_memory_utilization * hbm_bytes - weight_gpu_ - workspace_gpu_
                    : sv.gpu_memory_utilization * (hbm_bytes - weight_gpu_ - workspace_gpu_);
  // The draft caches every token too (its layers' KV, the MTP module's one layer).
  kv_token_gpu_ = double(stage_layers_) * kv_layer + (draft_ ? draft_->kv_token_gpu_ : 0.0);
  kv_token_transfer_ = double(stage_layers_) * kv_layer_transfer;
  kv_token_model_ = m.mla ? double(L) * kv_layer : double(L) * 2.0 * double(m.kv_heads) * dqk * kvb;
  kv_blocks_ = kv_cap_gpu_ > 0 ? static_cast<long>(std::floor(kv_cap_gpu_ / (kv_token_gpu_ * double(sv.kv_block_tokens)))) : 0;
  if (attention_dp_) kv_blocks_ *= tp;  // each GPU caches whole KV heads of its own sequences
}

StepBreakdown InferenceCost::stage(const BatchShape& b) const {
  StepBreakdown s;
  const double T = b.tokens;
  if (T <= 0) return s;
  const double Ld = double(dense_stage_layers_), Lm = double(moe_stage_layers_), Ls = double(stage_layers_);
  // The attention side (attention, norms, dense FFN, shared experts, logits) of one GPU: the
  // whole batch, or with attention DP the busiest rank's part of it (the simulator's rank
  // assignment; when not given, ceil(seqs / tp) of the sequences, an even spread).
  double Tg = T, pairs = b.attn_pairs, full = b.attn_full_pairs, kv = b.kv_tokens, dkv = b.decode_kv_tokens;
  if (attention_dp_) {
    if (b.rank_tokens > 0) {
      Tg = b.rank_tokens;
      pairs = b.rank_pairs;
      full = b.rank_full_pairs;
      kv = b.rank_kv;
      dkv = b.rank_decode_kv;
    } else if (b.seqs > 0) {
      const double f = std::min(1.0, std::ceil(b.seqs / double(tp_) - 1e-9) / b.seqs);
      Tg *= f;
      pairs *= f;
      full *= f;
      kv *= f;
      dkv *= f;
    }
  }
  // Weight GEMMs: fixed part (weights + t0) and per-token part.
  const double gemm_fixed = Ld * dense_gemm_.a + Lm * moe_fixed_gemm_.a;
  const double weights = Ld * dense_weight_s_ + Lm * moe_fixed_weight_s_;
  s.weight_read = Seconds(weights);
  s.gemm_compute = Seconds(Tg * (Ld * dense_gemm_.b + Lm * moe_fixed_gemm_.b) + (gemm_fixed - weights));
  // The MoE layer waits for the busiest EP rank (docs/model.md §6.4, §17.1): under uniform routing it
  // receives `lb` times the mean T k / ep rows (its expert math, routed activations and
  // all-to-all traffic) and reads the most distinct experts of any rank.
  auto busiest = [&]() -> std::array<double, 2> {
    return {ep_load_imbalance(moe_, ep_, T * expert_pick_ * local_experts_), busiest_rank_experts_used(moe_, ep_, T)};
  };
  const std::array<double, 2> moe = Lm > 0 ? memo(moe_cache_, T, kCommCache, busiest) : std::array<double, 2>{1.0, 0.0};
  const double lb = moe[0];
  if (Lm > 0) {
    s.expert_read = Seconds(Lm * moe[1] * expert_shard_bytes_s_);
    s.gemm_compute += Seconds(Lm * (lb * T * expert_flop_s_per_token_ + 2.0 * t0_));
  }
  // Decoding sequences' pairs (their kv tokens, all but one against the cached context) at the
  // decode rates, the prefill chunks' at the prefill rates (the same but for MLA).
  full = std::min(full, pairs);
  const double dec = std::min(dkv, pairs), dec_full = std::min(full, dec);
  s.attention = Seconds(Ls * ((dec - dec_full + Tg * attn_pairs_per_query_) * attn_flop_s_per_pair_ +
                              dec_full * attn_full_flop_s_per_pair_ +
                              (pairs - dec - (full - dec_full)) * prefill_flop_s_per_pair_ +
                              (full - dec_full) * prefill_full_flop_s_per_pair_));
  s.kv_read = Seconds(Ls * (kv * kv_read_s_per_token_ + dkv * kv_decode_extra_s_per_token_ + Tg * kv_write_s_per_token_));
  s.other = Seconds(lb * T * Lm * moe_act_s_per_token_ + Tg * (Ld * other_s_per_token_ + Lm * moe_local_s_per_token_));
  // The collectives depend on one token count alone (T, or with attention DP the busiest
  // endpoint's a2a_tokens): memoised (memo).
  // With attention DP the all-to-alls are sized by the busiest endpoint: the rank sending the
  // most tokens (Tg) or the one receiving the most, lb T / ep, rounded up to whole tokens.
  const double a2a_tokens = attention_dp_ ? std::max(Tg, std::ceil(lb * T / double(ep_) - 1e-9)) : T;
  auto collectives = [&]() -> std::array<double, 2> {  // {tp_comm, ep_comm} in seconds
    if (attention_dp_) {
      // Each rank dispatches its tokens to their k experts and combines the results: two
      // all-to-alls per MoE layer, sized by the busiest endpoint's tokens x k h x 2 B (T k h x
      // 2 B / ep for an even spread); attention and dense layers need no collective.
      if (ep_ > 1 && Lm > 0) {
        const Group ge = place_group(ep_, 1, tp_group_domain_);
        return {0.0, (all_to_all(Bytes(a2a_tokens * double(ep_) * ep_bytes_per_token_), ge, fabric_) * (2.0 * Lm)).value};
      }
    } else if (tp_ > 1) {
      const Group g = place_group(tp_, 1, tp_group_domain_);
      const Seconds ar = all_reduce(Bytes(T * tp_bytes_per_token_), g, fabric_);
      // Two all-reduces per layer (after attention and after the FFN); with EP the MoE layer's
      // second one becomes an all-to-all dispatch and combine plus an all-gather of the tokens.
      if (ep_ > 1 && Lm > 0) {
        const Group ge = place_group(ep_, 1, tp_group_domain_);
        const Seconds a2a = all_to_all(Bytes(lb * T * ep_bytes_per_token_), ge, fabric_);
        return {(ar * (2.0 * Ld + Lm) + all_gather(Bytes(T * tp_bytes_per_token_), g, fabric_) * Lm).value,
                (a2a * (2.0 * Lm)).value};
      }
      return {(ar * (2.0 * (Ld + Lm))).value, 0.0};
    }
    return {0.0, 0.0};
  };
  const std::array<double, 2> comm = memo(comm_cache_, attention_dp_ ? a2a_tokens : T, kCommCache, collectives);  // lb is a function of T
  s.tp_comm = Seconds(comm[0]);
  s.ep_comm = Seconds(comm[1]);
  s.total = s.gemm_compute + s.weight_read + s.expert_read + s.attention + s.kv_read + s.other + s.tp_comm + s.ep_comm;
  return s;
}

Seconds InferenceCost::logits(const BatchShape& b) const {
  // The rows that sample a token (the busiest rank's with attention DP), once per iteration on
  // the last stage.
  if (b.tokens <= 0 || b.logits_rows <= 0) return Seconds(0);
  double rows = b.logits_rows;
  if (attention_dp_) {
    if (b.rank_tokens > 0) rows = b.rank_rows;
    else if (b.seqs > 0) rows *= std::min(1.0, std::ceil(b.seqs / double(tp_) - 1e-9) / b.seqs);
  }
  return Seconds(logits_.a + rows * logits_.b);
}

StepBreakdown InferenceCost::breakdown(const BatchShape& b) const {
  StepBreakdown s = stage(b);
  const Seconds lg = logits(b);
  if (pp_ > 1 && b.tokens > 0) {
    const double k = pp_;
    const Bytes msg(b.tokens * pp_bytes_per_token_);
    s.pp_comm = p2p(msg, false, fabric_) * double(pp_ - 1 - pp_cross_hops_) + p2p(msg, true, fabric_) * double(pp_cross_hops_);
    s.gemm_compute = s.gemm_compute * k;
    s.weight_read = s.weight_read * k;
    s.expert_read = s.expert_read * k;
    s.attention = s.attention * k;
    s.kv_read = s.kv_read * k;
    s.other = s.other * k;
    s.tp_comm = s.tp_comm * k;
    s.ep_comm = s.ep_comm * k;
    s.total = s.total * k + s.pp_comm;
  }
  s.other += lg;
  s.total += lg;
  s.draft = draft_time(b);
  s.total += s.draft;
  return s;
}

Seconds InferenceCost::iteration_time(const BatchShape& b) const { return breakdown(b).total; }

Seconds InferenceCost::draft_time(const BatchShape& b) const {
  // `draft_tokens_` draft passes, one after the other, each proposing one token for every
  // drafting sequence (q = 1) over its context so far: pass j (1-based) attends over c + j
  // keys, c + j - 1 of them cached; summed over the passes, k (c + (k + 1) / 2) keys per
  // sequence, which the mean pass below times k reproduces (every term is linear in them).
  if (!draft_ || b.draft_seqs <= 0) return Seconds(0);
  const double n = b.draft_seqs, k = double(draft_tokens_);
  BatchShape d;
  d.tokens = d.seqs = d.logits_rows = n;
  d.kv_tokens = b.draft_kv_tokens + n * (k + 1.0) / 2.0;
  d.attn_pairs = d.kv_tokens;
  d.decode_kv_tokens = d.kv_tokens;
  d.attn_full_pairs = b.draft_kv_tokens + n * (k - 1.0) / 2.0;
  const auto& pr = draft_->mtp_proj_;
  const double proj = pr.a + n * pr.b;  // zero for a draft model
  return (draft_->iteration_time(d) + Seconds(proj)) * k;
}

Seconds InferenceCost::kv_transfer_time(double tokens, bool cross_domain) const {
  // Every GPU of the prefill replica sends its shard to its peer in the decode replica, in
  // parallel (DistServe §4.3; Splitwise §4.4): one layer-wise stream per GPU.
  return p2p(Bytes(tokens * kv_token_transfer_), cross_domain, fabric_);
}

}  // namespace wanka
