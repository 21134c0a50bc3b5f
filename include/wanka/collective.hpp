// Collective communication cost on a two-level topology: a scale-up domain (NVLink/NVSwitch,
// NVL72, Infinity Fabric) joined by a scale-out fabric (one NIC per GPU, rail-optimized fat
// tree). Costs follow the alpha-beta model (Hockney 1994; Thakur, Rabenseifner & Gropp 2005):
// a ring of n ranks moving S bytes costs (n-1)*alpha + (n-1)/n * S / B per reduce-scatter or
// all-gather phase. Link bandwidths are multiplied by the calibrated large-message efficiency.
// Measured NCCL bus bandwidth ramps up with the message size far more slowly than the alpha
// terms alone predict (nccl-tests sweeps in calibration.csv: half the large-message bus bandwidth
// at ~16 MiB inside an 8-GPU NVLink node, ~96 MiB across 4 nodes), so the bandwidth term of a
// ring or tree collective (all-reduce, all-gather, reduce-scatter) of S bytes is also divided by
// 1 / (1 + (half / S)^exponent) and the time is the larger of the two: latency-bound for small
// S, ramp-bound for mid-size S (docs/model.md §5.2). All-to-all and point-to-point transfers,
// for which no sweep exists, keep the plain alpha-beta form.
#pragma once

#include "wanka/units.hpp"

namespace wanka {

struct Link {
  BytesPerSecond bandwidth;  // achievable per-GPU, unidirectional (efficiency applied)
  Seconds latency;           // per algorithm step
  Bytes half_size{0};        // message size at half the large-message bandwidth; 0 = no curve
  double size_exponent = 1;
  // NVLink SHARP all-reduce (the switch reduces): algorithm bandwidth S / t; 0 = not available.
  BytesPerSecond nvls_bandwidth{0};
  Seconds nvls_latency{0};
  // Full mesh: `bandwidth` is the sum of mesh_peers peer links; 0 = a switch (any group of the
  // domain gets the whole bandwidth).
  long mesh_peers = 0;
  long nvls_min_ranks = 2;  // NCCL's tuner picks NVLS from this group size (the ring below it)
};

// The link as `k` ranks of one domain see it: on a full mesh they reach each other over k - 1
// of its mesh_peers links (MI300X: 2 GPUs share one 64 GB/s link of the 448 GB/s); a switch
// gives any group the whole bandwidth.
Link within_domain(const Link& link, long k);

// Share of the large-message bandwidth a collective of `bytes` (full buffer) reaches on `link`.
double size_efficiency(Bytes bytes, const Link& link);

struct Fabric {
  Link scale_up;
  Link scale_out;  // bandwidth already divided by the fat-tree oversubscription
};

// Where the members of a communicator sit: `size` ranks, `local` of them per scale-up domain
// (size = local * domains).
struct Group {
  long size = 1;
  long local = 1;
  long domains() const { return size / local; }
};

// Placement of a group of `size` ranks whose consecutive members are `stride` ranks apart,
// with ranks numbered so that domains hold `domain_size` consecutive ranks.
Group place_group(long size, long stride, long domain_size);

// Whether a point-to-point exchange between two blocks of ranks leaves a domain: some rank x of
// [first, first + count) and its peer x + shift lie in different domains of `domain_size`
// consecutive ranks, i.e. a multiple of domain_size falls in (first, first + count - 1 + shift].
// A pipeline hop is as slow as its slowest pair (training and serving pipelines).
bool straddles_domain(long first, long count, long shift, long domain_size);

// Times for one collective over `group`. `bytes` is the full (unsharded) buffer size:
// all-reduce of S, all-gather producing S, reduce-scatter consuming S.
Seconds ring_all_gather(Bytes bytes, long n, const Link& link);
Seconds ring_all_reduce(Bytes bytes, long n, const Link& link);
Seconds tree_all_reduce(Bytes bytes, long n, const Link& link);
Seconds nvls_all_reduce(Bytes bytes, long n, const Link& link);  // infinite when the link has no NVLS
Seconds all_reduce(Bytes bytes, const Group& g, const Fabric& f);
Seconds all_gather(Bytes bytes, const Group& g, const Fabric& f);
Seconds reduce_scatter(Bytes bytes, const Group& g, const Fabric& f);
// All-to-all where each rank holds `bytes_per_rank` to spread evenly over the group.
Seconds all_to_all(Bytes bytes_per_rank, const Group& g, const Fabric& f);
// MoE routing as the expert-parallel group sees it (docs/model.md §5.2): routed experts, top-k,
// and group-limited routing (ModelSpec moe.groups / topk_groups; 0 = none). Experts are laid out
// evenly and in order over the group's ranks, so a group of experts sits on consecutive ranks.
struct MoeRouting {
  long experts = 0, top_k = 0;
  long groups = 0, topk_groups = 0;
};
// Expected distinct destinations of one token under uniform routing: GPUs and scale-up domains
// of the group, its own included.
struct DispatchFanout {
  double gpus = 0, domains = 0;
};
DispatchFanout dispatch_fanout(const MoeRouting& r, const Group& g);
// DeepEP-style dispatch or combine of `token_bytes` per rank (its tokens x hidden x element
// size): each token crosses the network once per distinct remote domain, to the GPU with the
// sender's local index, and takes one scale-up hop to every other destination GPU of a domain
// (directly inside its own domain, forwarded by that receiving GPU in a remote one).
Seconds deduplicated_all_to_all(Bytes token_bytes, const MoeRouting& r, const Group& g, const Fabric& f);
// Point-to-point transfer inside (cross_domain = false) or across scale-up domains.
Seconds p2p(Bytes bytes, bool cross_domain, const Fabric& f);

}  // namespace wanka
