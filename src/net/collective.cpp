#include "wanka/collective.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace wanka {

Group place_group(long size, long stride, long domain_size) {
  Group g;
  g.size = std::max(1L, size);
  if (stride >= domain_size) {
    g.local = 1;
  } else {
    // Members stride apart: domain_size / stride of them share a domain (at most all of them).
    g.local = std::clamp(domain_size / std::max(1L, stride), 1L, g.size);
    while (g.size % g.local != 0) --g.local;  // uneven fits count as the largest even split
  }
  return g;
}

bool straddles_domain(long first, long count, long shift, long domain_size) {
  return (first + count - 1 + shift) / domain_size > first / domain_size;
}

Link within_domain(const Link& link, long k) {
  if (link.mesh_peers <= 0 || k - 1 >= link.mesh_peers) return link;
  Link l = link;
  l.bandwidth = link.bandwidth * (double(std::max(1L, k - 1)) / double(link.mesh_peers));
  return l;
}

double size_efficiency(Bytes bytes, const Link& link) {
  if (link.half_size.value <= 0 || bytes.value <= 0) return 1.0;
  // The curve is fitted where the sweeps reach 10-95 % of the large-message bandwidth; below
  // 10 % the latency terms govern (and an exponent above 1 would make smaller messages slower).
  constexpr double kFloor = 0.1;
  return std::max(kFloor, 1.0 / (1.0 + std::pow(link.half_size.value / bytes.value, link.size_exponent)));
}

namespace {
// Latency plus bandwidth term, or the bandwidth term at the message-size efficiency, whichever
// is longer (see collective.hpp).
Seconds alpha_beta(Seconds latency, Seconds bandwidth_term, double size_eff) {
  return max(latency + bandwidth_term, bandwidth_term / size_eff);
}
}  // namespace

Seconds ring_all_gather(Bytes bytes, long n, const Link& link) {
  if (n <= 1 || bytes.value <= 0) return Seconds(0);
  const double steps = double(n - 1);
  return alpha_beta(link.latency * steps, Seconds(steps / double(n) * bytes.value / link.bandwidth.value),
                    size_efficiency(bytes, link));
}

Seconds ring_all_reduce(Bytes bytes, long n, const Link& link) {
  // Reduce-scatter then all-gather: 2(n-1) alpha + 2(n-1)/n S/B.
  return ring_all_gather(bytes, n, link) * 2.0;
}

Seconds tree_all_reduce(Bytes bytes, long n, const Link& link) {
  // NCCL double binary tree: reduce up and broadcast down a tree of depth log2(n), each half of
  // the data on one of two complementary trees (Sanders, Speck & Träff 2009): every rank sends
  // and receives about S on the way up and S on the way down, 2S/B in all.
  if (n <= 1 || bytes.value <= 0) return Seconds(0);
  const double depth = std::ceil(std::log2(double(n)));
  return alpha_beta(link.latency * (2.0 * depth), Seconds(2.0 * bytes.value / link.bandwidth.value),
                    size_efficiency(bytes, link));
}

Seconds nvls_all_reduce(Bytes bytes, long n, const Link& link) {
  // NVLink SHARP (NCCL 2.17+ on NVSwitch systems): each GPU writes its buffer into the switch,
  // which reduces and multicasts the result back, so a GPU moves S each way whatever n is, at
  // the switch's reduction rate (calibrated: algorithm bandwidth S / t of the NVLS sweeps), after
  // a fixed latency (the sweeps' small-message time).
  if (n <= 1 || bytes.value <= 0) return Seconds(0);
  if (link.nvls_bandwidth.value <= 0 || n < link.nvls_min_ranks) return Seconds(std::numeric_limits<double>::infinity());
  return alpha_beta(link.nvls_latency, bytes / link.nvls_bandwidth, size_efficiency(bytes, link));
}

namespace {
// Best of ring, tree and (inside an NVSwitch domain) NVLS on one level, as NCCL's tuner picks
// per message size.
Seconds flat_all_reduce(Bytes bytes, long n, const Link& link) {
  return min(min(ring_all_reduce(bytes, n, link), tree_all_reduce(bytes, n, link)), nvls_all_reduce(bytes, n, link));
}
}  // namespace

Seconds all_gather(Bytes bytes, const Group& g, const Fabric& f) {
  if (g.size <= 1 || bytes.value <= 0) return Seconds(0);
  const long N = g.domains();
  if (N == 1) return ring_all_gather(bytes, g.size, within_domain(f.scale_up, g.size));
  if (g.local == 1) return ring_all_gather(bytes, g.size, f.scale_out);
  // Ring over all ranks with one ring (channel) per NIC, each carrying 1/local of the data:
  // every hop of a ring, inside or across domains, carries (n-1)/n of its share, so a NIC
  // carries (n-1)/n S / local and a scale-up link (n-1)/n S; the slower bounds.
  const double n = double(g.size);
  const Seconds up((n - 1.0) / n * bytes.value / within_domain(f.scale_up, g.local).bandwidth.value);
  const Seconds out((n - 1.0) / n * bytes.value / double(g.local) / f.scale_out.bandwidth.value);
  // One ring across domains: the multi-node curve governs it.
  return alpha_beta(f.scale_up.latency * double(g.local - 1) + f.scale_out.latency * double(N - 1), max(up, out),
                    size_efficiency(bytes, f.scale_out));
}

Seconds reduce_scatter(Bytes bytes, const Group& g, const Fabric& f) { return all_gather(bytes, g, f); }

Seconds all_reduce(Bytes bytes, const Group& g, const Fabric& f) {
  if (g.size <= 1 || bytes.value <= 0) return Seconds(0);
  const long N = g.domains();
  if (N == 1) return flat_all_reduce(bytes, g.size, within_domain(f.scale_up, g.size));
  if (g.local == 1) return flat_all_reduce(bytes, g.size, f.scale_out);
  // Hierarchical: reduce-scatter inside the domain, all-reduce of 1/local of the data across
  // domains on each GPU's own NIC (rail), all-gather inside; pipelined by NCCL's channels.
  const double k = double(g.local);
  const Seconds up(2.0 * (k - 1.0) / k * bytes.value / within_domain(f.scale_up, g.local).bandwidth.value);
  Link out = f.scale_out;
  out.half_size = Bytes(0);  // the curve applies once, to the whole buffer, below
  const Seconds cross = flat_all_reduce(Bytes(bytes.value / k), N, out);
  return alpha_beta(f.scale_up.latency * (2.0 * (k - 1.0)), max(up, cross), size_efficiency(bytes, f.scale_out));
}

Seconds all_to_all(Bytes bytes_per_rank, const Group& g, const Fabric& f) {
  if (g.size <= 1 || bytes_per_rank.value <= 0) return Seconds(0);
  const double n = double(g.size), k = double(g.local);
  const Seconds up(bytes_per_rank.value * (k - 1.0) / n / within_domain(f.scale_up, g.local).bandwidth.value);
  const Seconds out(bytes_per_rank.value * (n - k) / n / f.scale_out.bandwidth.value);
  const Seconds lat = g.domains() > 1 ? f.scale_out.latency : f.scale_up.latency;
  return lat + max(up, out);  // no size curve: the sweeps it is fitted to are ring/tree all-reduces
}

namespace {
// Probability that k draws without replacement from N items miss a given m of them:
// C(N - m, k) / C(N, k).
double miss_probability(double N, double m, double k) {
  double p = 1.0;
  for (double i = 0; i < k; ++i) {
    if (N - m - i <= 0) return 0.0;
    p *= (N - m - i) / (N - i);
  }
  return p;
}

double log_choose(double n, double r) { return std::lgamma(n + 1) - std::lgamma(r + 1) - std::lgamma(n - r + 1); }

// Probability that a token's k experts miss a contiguous block of `b` of the E experts (a
// rank's or a domain's), with group-limited routing: g of the G groups (s = E/G experts each)
// are chosen, and the k experts are drawn uniformly from the chosen groups' g·s.
double block_miss(long E, long k, long G, long g, long b) {
  if (G <= 0 || g >= G) return miss_probability(double(E), double(b), double(k));
  const long s = E / G;
  const double pg = double(g) / double(G);
  if (s % b == 0) return (1.0 - pg) + pg * miss_probability(double(g * s), double(b), double(k));  // inside a group
  if (b % s == 0) {
    // j whole groups: i of them chosen with hypergeometric probability, then the draws miss
    // their i·s experts.
    const long j = b / s;
    double p = 0;
    for (long i = std::max(0L, g - (G - j)); i <= std::min(j, g); ++i) {
      const double pi = std::exp(log_choose(double(j), double(i)) + log_choose(double(G - j), double(g - i)) -
                                 log_choose(double(G), double(g)));
      p += pi * miss_probability(double(g * s), double(i * s), double(k));
    }
    return p;
  }
  return miss_probability(double(E), double(b), double(k));  // blocks not aligned with groups: no limit
}
}  // namespace

DispatchFanout dispatch_fanout(const MoeRouting& r, const Group& g) {
  // Experts lie in order over the ranks (E/n each; the EP size divides E), a domain holding
  // `local` consecutive ranks.
  const long n = g.size, D = g.domains(), E = r.experts, k = std::min(r.top_k, r.experts);
  const double miss_rank = block_miss(E, k, r.groups, r.topk_groups, E / n);
  const double miss_domain = block_miss(E, k, r.groups, r.topk_groups, E / n * g.local);
  return {double(n) * (1.0 - miss_rank), double(D) * (1.0 - miss_domain)};
}

Seconds deduplicated_all_to_all(Bytes token_bytes, const MoeRouting& r, const Group& g, const Fabric& f) {
  if (g.size <= 1 || token_bytes.value <= 0) return Seconds(0);
  const DispatchFanout fo = dispatch_fanout(r, g);
  const double L = double(g.local), D = double(g.domains());
  // By symmetry a rank's own domain is among a token's destinations with probability
  // domains/D. Inside each destination domain the GPU with the sender's local index receives
  // the token (over the network, or as the sender itself) and the other targeted GPUs take one
  // scale-up hop each: gpus (L-1)/L hops per token. A rank forwards as much as it originates.
  const Seconds up(token_bytes.value * fo.gpus * (L - 1.0) / L / within_domain(f.scale_up, g.local).bandwidth.value);
  // Inside one domain nothing crosses the network (and the NIC rate may be 0).
  const Seconds out(D > 1 ? token_bytes.value * fo.domains * (D - 1.0) / D / f.scale_out.bandwidth.value : 0.0);
  const Seconds lat = g.domains() > 1 ? f.scale_out.latency : f.scale_up.latency;
  return lat + max(up, out);
}

Seconds p2p(Bytes bytes, bool cross_domain, const Fabric& f) {
  if (bytes.value <= 0) return Seconds(0);
  // One transfer (no ring pipeline: no size curve); on a full mesh, over the one peer link.
  const Link l = cross_domain ? f.scale_out : within_domain(f.scale_up, 2);
  return l.latency + bytes / l.bandwidth;
}

}  // namespace wanka
