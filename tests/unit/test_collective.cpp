// Collective costs on the two-level alpha-beta model (include/wanka/collective.hpp).
// Every expected number is derived by hand in the comment above its assertion.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "wanka/collective.hpp"

namespace wanka {
namespace {

constexpr double kOneGiB = 1073741824.0;  // 2^30 bytes

// A plain link for the single-level formulas: 100 GB/s, 5 us per step.
const Link kLink{BytesPerSecond(100e9), Seconds(5e-6)};

// A two-level fabric: scale-up 360 GB/s (450 GB/s NVLink4 x 0.8), 3 us per step;
// scale-out 42.5 GB/s (400 Gb/s / 8 x 0.85), 8 us per step.
const Fabric kFabric{{BytesPerSecond(360e9), Seconds(3e-6)}, {BytesPerSecond(42.5e9), Seconds(8e-6)}};

TEST(RingCollectives, AllReduceCostsTwoPhasesOfNMinusOneStepsAndTwiceTheRingBandwidthTerm) {
  // 2(n-1)a + 2(n-1)/n S/B with n = 8, S = 2^30 B, B = 1e11 B/s, a = 5e-6 s:
  //   latency   = 14 x 5e-6                   = 7.0e-5
  //   bandwidth = 1.75 x 1073741824 / 1e11    = 1.75 x 0.01073741824 = 0.01879048192
  //   total                                    = 0.01886048192 s
  EXPECT_NEAR(ring_all_reduce(Bytes(kOneGiB), 8, kLink).value, 0.01886048192, 1e-12);
}

TEST(RingCollectives, AllGatherCostsHalfOfAnAllReduce) {
  // (n-1)a + (n-1)/n S/B = 7 x 5e-6 + 0.875 x 0.01073741824 = 3.5e-5 + 0.00939524096 = 0.00943024096 s
  EXPECT_NEAR(ring_all_gather(Bytes(kOneGiB), 8, kLink).value, 0.00943024096, 1e-12);
  EXPECT_NEAR(ring_all_gather(Bytes(kOneGiB), 8, kLink).value * 2.0,
              ring_all_reduce(Bytes(kOneGiB), 8, kLink).value, 1e-15);
}

TEST(RingCollectives, TwoRanksMoveHalfTheBufferPerPhase) {
  // n = 2, S = 1e9 B: (n-1)a + (n-1)/n S/B = 5e-6 + 0.5 x 1e9 / 1e11 = 5e-6 + 5e-3 = 0.005005 s
  EXPECT_NEAR(ring_all_gather(Bytes(1e9), 2, kLink).value, 0.005005, 1e-12);
}

TEST(TreeCollectives, AllReduceLatencyGrowsWithCeilLog2OfRanks) {
  // The latency term 2 ceil(log2 n) a is the same whatever the bandwidth term is; with 8 bytes
  // the bandwidth term is below 2 x 8 / 1e11 = 1.6e-10 s, so:
  //   n = 8 : 2 x 3 x 5e-6 = 3.0e-5;  n = 9 : 2 x 4 x 5e-6 = 4.0e-5;  n = 2 : 2 x 1 x 5e-6 = 1.0e-5
  EXPECT_NEAR(tree_all_reduce(Bytes(8), 8, kLink).value, 3.0e-5, 1e-9);
  EXPECT_NEAR(tree_all_reduce(Bytes(8), 9, kLink).value, 4.0e-5, 1e-9);
  EXPECT_NEAR(tree_all_reduce(Bytes(8), 2, kLink).value, 1.0e-5, 1e-9);
}

TEST(TreeCollectives, AllReduceBandwidthTermIsTwiceTheBufferOverTheLink) {
  // Double binary tree (Sanders, Speck & Traff 2009): each half of S goes over one of two trees;
  // a rank is inner node of one tree and leaf of the other. Reduce: it sends S/2 (inner) +
  // S/2 (leaf) = S; broadcast: again S. So 2S leave every rank: 2 ceil(log2 n) a + 2S/B
  // (NCCL's tuner likewise gives the tree half the bus bandwidth as algorithm bandwidth).
  //   n = 8, S = 2^30: 6 x 5e-6 + 2 x 0.01073741824 = 3.0e-5 + 0.02147483648 = 0.02150483648 s
  EXPECT_NEAR(tree_all_reduce(Bytes(kOneGiB), 8, kLink).value, 0.02150483648, 1e-12);
}

TEST(GroupCollectives, AllReduceInsideOneDomainIsTheCheaperOfRingAndTree) {
  const Group g = place_group(8, 1, 8);
  ASSERT_EQ(g.domains(), 1);
  for (double s : {8.0, 1024.0, 1e6, 64e6, kOneGiB, 16 * kOneGiB}) {
    const double ring = ring_all_reduce(Bytes(s), 8, kFabric.scale_up).value;
    const double tree = tree_all_reduce(Bytes(s), 8, kFabric.scale_up).value;
    EXPECT_DOUBLE_EQ(all_reduce(Bytes(s), g, kFabric).value, std::min(ring, tree)) << "bytes " << s;
  }
  // A 1 KiB message is latency bound, so the tree wins: ring 14 x 3e-6 = 4.2e-5 s of latency
  // against the tree's 6 x 3e-6 = 1.8e-5 s; the tree's bandwidth term is at most
  // 2 x 1024 / 3.6e11 = 5.7e-9 s.
  EXPECT_NEAR(all_reduce(Bytes(1024), g, kFabric).value, 1.8e-5, 1e-8);
}

TEST(GroupCollectives, LargeAllReduceInsideOneDomainUsesTheRing) {
  // 1 GiB on 8 ranks of the scale-up link (360 GB/s, 3 us):
  //   ring = 14 x 3e-6 + 1.75 x 2^30 / 3.6e11 = 4.2e-5 + 0.0052195783111 = 0.0052615783111 s
  //   tree = 6 x 3e-6 + 2 x 2^30 / 3.6e11    = 1.8e-5 + 0.0059652323556 = 0.0059832323556 s
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(8, 1, 8), kFabric).value, 0.0052615783111, 1e-12);
}

TEST(GroupCollectives, GroupWithOneRankPerDomainUsesTheScaleOutLink) {
  const Group g = place_group(16, 8, 8);  // DP across 16 nodes, TP8 inside: one member per node
  ASSERT_EQ(g.local, 1);
  // All-gather over the NIC ring: 15 x 8e-6 + 15/16 x 2^30 / 4.25e10
  //   = 1.2e-4 + 0.9375 x 0.0252645135059 = 1.2e-4 + 0.023685481412 = 0.023805481412 s
  EXPECT_NEAR(all_gather(Bytes(kOneGiB), g, kFabric).value, 0.023805481412, 1e-11);
  EXPECT_DOUBLE_EQ(reduce_scatter(Bytes(kOneGiB), g, kFabric).value, all_gather(Bytes(kOneGiB), g, kFabric).value);
  const double ring = ring_all_reduce(Bytes(kOneGiB), 16, kFabric.scale_out).value;
  const double tree = tree_all_reduce(Bytes(kOneGiB), 16, kFabric.scale_out).value;
  EXPECT_DOUBLE_EQ(all_reduce(Bytes(kOneGiB), g, kFabric).value, std::min(ring, tree));
}

TEST(GroupCollectives, HierarchicalAllReduceIsBoundByTheScaleUpPhaseWhenNicsAreFastEnough) {
  const Group g{32, 8};  // 8 ranks per domain, 4 domains
  // 2(k-1) a_up + max(2(k-1)/k S/B_up, allreduce_out(S/k over 4 domains)), k = 8:
  //   latency  = 14 x 3e-6 = 4.2e-5
  //   up       = 1.75 x 2^30 / 3.6e11 = 0.0052195783111
  //   S/k = 2^27 B across 4 domains: ring = 6 x 8e-6 + 1.5 x 2^27 / 4.25e10 = 0.0047850963,
  //   tree = 4 x 8e-6 + 2 x 2^27 / 4.25e10 = 0.0063481284; the ring is below the scale-up phase.
  //   total    = 4.2e-5 + 0.0052195783111 = 0.0052615783111 s
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), g, kFabric).value, 0.0052615783111, 1e-12);
}

TEST(GroupCollectives, HierarchicalAllReduceIsBoundByTheCrossDomainPhaseOnSlowNics) {
  const Fabric slow{kFabric.scale_up, {BytesPerSecond(5e9), Seconds(8e-6)}};
  const Group g{16, 8};  // 2 domains: ring and tree both take 2 steps; the ring moves S/k once
  // up    = 1.75 x 2^30 / 3.6e11 = 0.0052195783111
  // cross = all-reduce of 2^27 B over 2 domains = 2 x 8e-6 + (2 x 1/2) x 2^27 / 5e9
  //       = 1.6e-5 + 0.0268435456 = 0.0268595456
  // total = 14 x 3e-6 + max(up, cross) = 4.2e-5 + 0.0268595456 = 0.0269015456 s
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), g, slow).value, 0.0269015456, 1e-12);
  // With 4 domains the phase is the flat all-reduce of S/k across domains.
  const Group g4{32, 8};
  const double cross = std::min(ring_all_reduce(Bytes(kOneGiB / 8), 4, slow.scale_out).value,
                                tree_all_reduce(Bytes(kOneGiB / 8), 4, slow.scale_out).value);
  EXPECT_DOUBLE_EQ(all_reduce(Bytes(kOneGiB), g4, slow).value, 14 * 3e-6 + std::max(0.0052195783111, cross));
}

TEST(GroupCollectives, MultiDomainAllGatherIsBoundByTheSlowerOfNvlinkAndNicShares) {
  const Group g{32, 8};
  // One ring over all n = 32 ranks per NIC (NCCL rings), each carrying S/k of the data, k = 8,
  // N = 4 domains: every hop of a ring carries (n-1)/n of its share, so a scale-up link moves
  // (n-1)/n S and a NIC (n-1)/n S/k; the slower bounds, plus the steps' latencies:
  //   latency = 7 x 3e-6 + 3 x 8e-6 = 2.1e-5 + 2.4e-5 = 4.5e-5
  //   up      = 31/32 x 2^30 / 3.6e11 = 0.0028894094222
  //   out     = 31/32 x 2^27 / 4.25e10 = 0.0030593746824
  //   total   = 4.5e-5 + 0.0030593746824 = 0.0031043746824 s
  EXPECT_NEAR(all_gather(Bytes(kOneGiB), g, kFabric).value, 0.0031043746824, 1e-12);
}

TEST(GroupCollectives, GroupInsideOneDomainRunsTheRingOnScaleUp) {
  // 7 x 3e-6 + 7/8 x 2^30 / 3.6e11 = 2.1e-5 + 0.0026097891556 = 0.0026307891556 s
  EXPECT_NEAR(all_gather(Bytes(kOneGiB), Group{8, 8}, kFabric).value, 0.0026307891556, 1e-12);
}

TEST(PlaceGroup, TensorParallelGroupFillsOneDomain) {
  const Group g = place_group(8, 1, 8);
  EXPECT_EQ(g.size, 8);
  EXPECT_EQ(g.local, 8);
  EXPECT_EQ(g.domains(), 1);
}

TEST(PlaceGroup, StrideOfAWholeDomainPutsOneMemberPerDomain) {
  const Group g = place_group(16, 8, 8);
  EXPECT_EQ(g.local, 1);
  EXPECT_EQ(g.domains(), 16);
}

TEST(PlaceGroup, SmallStridedGroupFitsInOneDomain) {
  // Ranks 0, 2, 4, 6 all sit in domain 0 (ranks 0..7).
  const Group g = place_group(4, 2, 8);
  EXPECT_EQ(g.local, 4);
  EXPECT_EQ(g.domains(), 1);
}

TEST(PlaceGroup, LargeStridedGroupHasDomainOverStrideMembersPerDomain) {
  // Ranks 0, 2, ..., 30: 8 / 2 = 4 of them per 8-rank domain, 4 domains.
  const Group g = place_group(16, 2, 8);
  EXPECT_EQ(g.local, 4);
  EXPECT_EQ(g.domains(), 4);
}

TEST(PlaceGroup, SizeOneGroupIsLocal) {
  const Group g = place_group(1, 8, 8);
  EXPECT_EQ(g.size, 1);
  EXPECT_EQ(g.local, 1);
}

TEST(PointToPoint, CostsOneLatencyPlusBytesOverTheLink) {
  // Inside a domain: 3e-6 + 2^30 / 3.6e11 = 3e-6 + 0.0029826161778 = 0.0029856161778 s
  EXPECT_NEAR(p2p(Bytes(kOneGiB), false, kFabric).value, 0.0029856161778, 1e-12);
  // Across domains: 8e-6 + 2^30 / 4.25e10 = 8e-6 + 0.0252645135059 = 0.0252725135059 s
  EXPECT_NEAR(p2p(Bytes(kOneGiB), true, kFabric).value, 0.0252725135059, 1e-12);
}

TEST(AllToAll, CrossDomainShareGoesOverTheNics) {
  // 32 ranks, 8 per domain, 64 MiB per rank spread evenly: (k-1)/n of it stays in the domain,
  // (n-k)/n leaves it; the slower path bounds, plus one scale-out latency:
  //   up  = 2^26 x 7/32 / 3.6e11  = 4.0777955556e-5
  //   out = 2^26 x 24/32 / 4.25e10 = 0.0011842740706
  //   total = 8e-6 + 0.0011842740706 = 0.0011922740706 s
  EXPECT_NEAR(all_to_all(Bytes(67108864.0), Group{32, 8}, kFabric).value, 0.0011922740706, 1e-12);
}

TEST(AllToAll, InsideOneDomainUsesOnlyScaleUp) {
  // 8 ranks in one domain: 3e-6 + 2^26 x 7/8 / 3.6e11 = 3e-6 + 1.6311182222e-4 = 1.6611182222e-4 s
  EXPECT_NEAR(all_to_all(Bytes(67108864.0), Group{8, 8}, kFabric).value, 1.6611182222e-4, 1e-13);
}

// Deduplicated (DeepEP-style) dispatch of 4,096 tokens x hidden 7,168 x 2 B = 58,720,256 B per
// rank, DeepSeek-V3 routing: 256 experts, top-8, 8 groups of which 4 are chosen.
constexpr double kTokenBytes = 4096.0 * 7168.0 * 2.0;
const MoeRouting kDeepSeek{256, 8, 8, 4};

TEST(DeduplicatedAllToAll, InsideOneDomainEachDestinationGpuGetsOneCopy) {
  // EP8 in one domain, no group limit: a rank holds 32 of the 256 experts, so it is missed by
  // all 8 draws with probability C(224,8)/C(256,8) = prod_{i<8} (224-i)/(256-i) = 0.3381685;
  // distinct GPUs 8 x 0.6618315 = 5.294652 (against 8 copies for the plain all-to-all).
  //   t = 3e-6 + 58,720,256 x 5.294652 x 7/8 / 3.6e11 = 3e-6 + 7.556678e-4 = 7.586678e-4 s
  const MoeRouting free_routing{256, 8, 0, 0};
  const DispatchFanout fo = dispatch_fanout(free_routing, Group{8, 8});
  EXPECT_NEAR(fo.gpus, 5.294652, 1e-6);
  EXPECT_NEAR(fo.domains, 1.0, 1e-12);
  EXPECT_NEAR(deduplicated_all_to_all(Bytes(kTokenBytes), free_routing, Group{8, 8}, kFabric).value, 7.586678e-4, 1e-9);
}

TEST(DeduplicatedAllToAll, NodeLimitedRoutingCrossesAtMostTopkGroupsDomains) {
  // EP64 over 8 domains of 8 with one expert group (32 experts) per domain, DeepSeek-V3's
  // layout; 4 of the 8 groups are chosen and the 8 experts drawn from their 128:
  //   domains: missed when its group is not chosen (1/2), or chosen and all 8 draws miss its 32:
  //            C(96,8)/C(128,8) = 0.0927473 -> P = 0.5 + 0.5 x 0.0927473 = 0.5463736,
  //            8 x 0.4536264 = 3.629011 domains per token (at most the 4 chosen);
  //   GPUs:    a rank holds 4 experts of its group: C(124,8)/C(128,8) = 0.7700197 ->
  //            P = 0.5 + 0.5 x 0.7700197 = 0.8850098 -> 64 x 0.1149902 = 7.359370 GPUs.
  //   network: 58,720,256 x 3.629011 x 7/8 / 4.25e10 = 4.387280e-3 s
  //   NVLink:  58,720,256 x 7.359370 x 7/8 / 3.6e11  = 1.050350e-3 s (the GPU with the
  //            sender's local index receives over the network, the other targets of a domain
  //            take one hop: 7 of every 8)
  //   t = 8e-6 + 4.387280e-3 = 4.395280e-3 s, against the plain all-to-all's network share of
  //   its 8 copies, 58,720,256 x 8 x 56/64 / 4.25e10 = 9.671572e-3 s.
  const DispatchFanout fo = dispatch_fanout(kDeepSeek, Group{64, 8});
  EXPECT_NEAR(fo.domains, 3.629011, 1e-6);
  EXPECT_NEAR(fo.gpus, 7.359370, 1e-6);
  EXPECT_NEAR(deduplicated_all_to_all(Bytes(kTokenBytes), kDeepSeek, Group{64, 8}, kFabric).value, 4.395280e-3, 1e-9);
  EXPECT_NEAR(all_to_all(Bytes(kTokenBytes * 8), Group{64, 8}, kFabric).value, 8e-6 + 9.671572e-3, 1e-9);
  // Without the group limit a token reaches 8 x (1 - C(224,8)/C(256,8)) = 5.294652 domains.
  EXPECT_NEAR(dispatch_fanout(MoeRouting{256, 8, 0, 0}, Group{64, 8}).domains, 5.294652, 1e-6);
}

TEST(DeduplicatedAllToAll, RanksHoldingSeveralGroups) {
  // 256 experts in 16 groups of 16, 4 chosen, top-8, EP8 in one domain: a rank's 32 experts are
  // 2 whole groups, of which i are chosen with probability C(2,i) C(14,4-i) / C(16,4) = 0.55,
  // 0.40, 0.05 (i = 0, 1, 2); the 8 draws from the chosen 64 then miss the rank's 16 i experts
  // with C(48,8)/C(64,8) = 0.0852542 (i = 1) and C(32,8)/C(64,8) = 0.0023764 (i = 2):
  //   P(miss) = 0.55 + 0.40 x 0.0852542 + 0.05 x 0.0023764 = 0.5842205 -> 8 x 0.4157795 = 3.326236
  EXPECT_NEAR(dispatch_fanout(MoeRouting{256, 8, 16, 4}, Group{8, 8}).gpus, 3.326236, 1e-6);
}

TEST(DeduplicatedAllToAll, NeverMoreDistinctDomainsThanGpus) {
  // One GPU per domain (the EP group strided across nodes by TP8): domains and GPUs coincide;
  // and a group spanning several domains (EP128 over 16 nodes of 8, 8 groups of 32 experts).
  for (const Group& g : {Group{8, 1}, Group{16, 1}, Group{128, 8}, Group{64, 8}, Group{8, 8}}) {
    const DispatchFanout fo = dispatch_fanout(kDeepSeek, g);
    EXPECT_LE(fo.domains, fo.gpus + 1e-12) << g.size << "/" << g.local;
    // at most the domains of the 4 chosen groups (a group spans D/8 domains when D > 8)
    EXPECT_LE(fo.domains, 4.0 * std::max(1.0, double(g.domains()) / 8.0) + 1e-12);
  }
  EXPECT_NEAR(dispatch_fanout(kDeepSeek, Group{8, 1}).domains, dispatch_fanout(kDeepSeek, Group{8, 1}).gpus, 1e-12);
}

TEST(Collectives, ZeroBytesOrOneRankCostNothing) {
  const Group one{1, 1};
  const Group big{32, 8};
  EXPECT_EQ(ring_all_reduce(Bytes(0), 8, kLink).value, 0.0);
  EXPECT_EQ(ring_all_gather(Bytes(0), 8, kLink).value, 0.0);
  EXPECT_EQ(tree_all_reduce(Bytes(0), 8, kLink).value, 0.0);
  EXPECT_EQ(ring_all_reduce(Bytes(kOneGiB), 1, kLink).value, 0.0);
  EXPECT_EQ(ring_all_gather(Bytes(kOneGiB), 1, kLink).value, 0.0);
  EXPECT_EQ(tree_all_reduce(Bytes(kOneGiB), 1, kLink).value, 0.0);
  EXPECT_EQ(all_reduce(Bytes(kOneGiB), one, kFabric).value, 0.0);
  EXPECT_EQ(all_gather(Bytes(kOneGiB), one, kFabric).value, 0.0);
  EXPECT_EQ(reduce_scatter(Bytes(kOneGiB), one, kFabric).value, 0.0);
  EXPECT_EQ(all_to_all(Bytes(kOneGiB), one, kFabric).value, 0.0);
  EXPECT_EQ(all_to_all(Bytes(0), big, kFabric).value, 0.0);
  EXPECT_EQ(p2p(Bytes(0), true, kFabric).value, 0.0);
}

TEST(Collectives, ZeroBytesOnAMultiDomainGroupCostNothing) {
  const Group big{32, 8};
  EXPECT_EQ(all_gather(Bytes(0), big, kFabric).value, 0.0);
  EXPECT_EQ(reduce_scatter(Bytes(0), big, kFabric).value, 0.0);
  EXPECT_EQ(all_reduce(Bytes(0), big, kFabric).value, 0.0);
}

// --- message-size curve (collective.hpp; calibration.yaml *_half_mib, *_size_exponent)

// kLink with a curve: half the large-message bandwidth at 16 MiB, exponent 1.
const Link kCurved{BytesPerSecond(100e9), Seconds(5e-6), Bytes(16.0 * 1048576.0), 1.0};

TEST(SizeCurve, EfficiencyIsHalfAtTheHalfSizeAndApproachesOneForLargeMessages) {
  // 1 / (1 + (16 MiB / S)^1): S = 16 MiB -> 1/2; S = 48 MiB -> 1/(1 + 1/3) = 0.75;
  // S = 1 GiB -> 1/(1 + 1/64) = 64/65.
  EXPECT_DOUBLE_EQ(size_efficiency(Bytes(16.0 * 1048576.0), kCurved), 0.5);
  EXPECT_DOUBLE_EQ(size_efficiency(Bytes(48.0 * 1048576.0), kCurved), 0.75);
  EXPECT_NEAR(size_efficiency(Bytes(kOneGiB), kCurved), 64.0 / 65.0, 1e-15);
  EXPECT_EQ(size_efficiency(Bytes(kOneGiB), kLink), 1.0);  // no curve configured
}

TEST(SizeCurve, EfficiencyHasAFloorOfTenPercent) {
  // S = 16 MiB / 100: 1/(1 + 100) < 0.1, so the floor 0.1 applies (the latency terms govern there).
  EXPECT_DOUBLE_EQ(size_efficiency(Bytes(16.0 * 1048576.0 / 100.0), kCurved), 0.1);
}

TEST(SizeCurve, MidSizeRingAllGatherIsBoundByTheRamp) {
  // n = 8, S = 16 MiB = 16777216 B: bandwidth term 0.875 x 16777216 / 1e11 = 1.4680064e-4 s;
  // alpha-beta: 7 x 5e-6 + 1.4680064e-4 = 1.8180064e-4; ramp: 1.4680064e-4 / 0.5 = 2.9360128e-4.
  // The larger, the ramp, wins.
  EXPECT_NEAR(ring_all_gather(Bytes(16777216.0), 8, kCurved).value, 2.9360128e-4, 1e-15);
}

TEST(SizeCurve, SmallRingAllGatherIsBoundByLatency) {
  // n = 8, S = 16 KiB = 16384 B: bandwidth term 0.875 x 16384 / 1e11 = 1.4336e-7 s; efficiency at
  // the floor 0.1 -> ramp 1.4336e-6; alpha-beta 3.5e-5 + 1.4336e-7 = 3.514336e-5 wins.
  EXPECT_NEAR(ring_all_gather(Bytes(16384.0), 8, kCurved).value, 3.514336e-5, 1e-15);
}

TEST(SizeCurve, TimeNeverFallsAsMessagesGrow) {
  for (double e : {0.6, 0.72, 1.04}) {
    const Link l{BytesPerSecond(47e9), Seconds(10e-6), Bytes(96.5 * 1048576.0), e};
    double prev = 0;
    for (double s = 1024; s < 64 * kOneGiB; s *= 1.5) {
      const double t = ring_all_gather(Bytes(s), 32, l).value;
      EXPECT_GE(t, prev) << "exponent " << e << " size " << s;
      prev = t;
    }
  }
}

// NVLink SHARP inside an NVSwitch domain (H100 calibration: ring 450 GB/s x 0.82 = 369 GB/s,
// NVLS 450 x 0.608 = 273.6 GB/s algorithm bandwidth, 25.6 us; no size curve here). A GPU moves
// S each way whatever n is, so for n = 8 and S = 2^30:
//   ring  2 x 7/8 x 1073741824 / 369e9 + 14 x 2e-6 = 5.0923e-3 + 2.8e-5 = 5.1203e-3 s
//   NVLS  1073741824 / 273.6e9 + 25.6e-6          = 3.9245e-3 + 2.56e-5 = 3.9501e-3 s   (picked)
// i.e. a bus bandwidth of 1.75 x 2^30 / 3.9501e-3 = 475.7 GB/s (measured 478.9 at 8 GiB).
// For n = 2 the ring moves only S/2 each way: 1073741824 / 369e9 + 2 x 2e-6 = 2.9139e-3 s, below
// NVLS, which is not picked.
TEST(Nvls, AllReduceInsideTheDomainTakesTheFasterOfRingAndNvls) {
  Fabric f{{.bandwidth = BytesPerSecond(369e9), .latency = Seconds(2e-6), .nvls_bandwidth = BytesPerSecond(273.6e9),
            .nvls_latency = Seconds(25.6e-6)},
           {.bandwidth = BytesPerSecond(47e9), .latency = Seconds(10e-6)}};
  EXPECT_NEAR(nvls_all_reduce(Bytes(kOneGiB), 8, f.scale_up).value, 3.9501e-3, 1e-7);
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(8, 1, 8), f).value, 3.9501e-3, 1e-7);
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(2, 1, 8), f).value, 2.9139e-3, 1e-7);
  // No NVLS on the link (A100, the scale-out fabric): the ring/tree figure, unchanged.
  f.scale_up.nvls_bandwidth = BytesPerSecond(0);
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(8, 1, 8), f).value, 5.1203e-3, 1e-7);
  EXPECT_TRUE(std::isinf(nvls_all_reduce(Bytes(kOneGiB), 8, f.scale_up).value));
}

// A full-mesh domain (MI300X: 7 Infinity Fabric links of 64 GB/s, 448 GB/s in all, x 0.70 =
// 313.6 GB/s; here without latency): k GPUs reach each other over k - 1 of the 7 links.
// 2 GPUs: 313.6 x 1/7 = 44.8 GB/s; a ring all-reduce of 2^30 B moves S/2 each way twice:
// 1073741824 / 44.8e9 = 23.97 ms (bus bandwidth 44.8 GB/s; stas00 measured 47.7). 8 GPUs use
// all 7 links: 1.75 x 2^30 / 313.6e9 = 5.99 ms. A switch (mesh_peers 0) gives 2 GPUs the whole
// bandwidth: 2^30 / 313.6e9 = 3.42 ms. A point-to-point copy inside the mesh uses one link.
TEST(Mesh, GroupsOfAFullMeshDomainUseOnlyTheirPeerLinks) {
  Fabric f{{.bandwidth = BytesPerSecond(313.6e9), .latency = Seconds(0), .mesh_peers = 7},
           {.bandwidth = BytesPerSecond(47e9), .latency = Seconds(0)}};
  EXPECT_NEAR(within_domain(f.scale_up, 2).bandwidth.value, 44.8e9, 1e3);
  EXPECT_NEAR(within_domain(f.scale_up, 8).bandwidth.value, 313.6e9, 1e3);
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(2, 1, 8), f).value, kOneGiB / 44.8e9, 1e-9);
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(8, 1, 8), f).value, 1.75 * kOneGiB / 313.6e9, 1e-9);
  EXPECT_NEAR(p2p(Bytes(kOneGiB), false, f).value, kOneGiB / 44.8e9, 1e-9);
  f.scale_up.mesh_peers = 0;
  EXPECT_NEAR(all_reduce(Bytes(kOneGiB), place_group(2, 1, 8), f).value, kOneGiB / 313.6e9, 1e-9);
}

}  // namespace
}  // namespace wanka
