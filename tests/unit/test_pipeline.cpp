// Pipeline schedules on the discrete-event engine (include/wanka/pipeline.hpp). Times are
// integer nanoseconds, so uniform schedules are checked exactly against their closed forms.
#include <gtest/gtest.h>

#include <stdexcept>

#include "wanka/pipeline.hpp"

namespace wanka {
namespace {

// p ranks x v chunks of identical stages: forward f, backward b, transfer c between stages.
PipelineSpec uniform(int p, int v, long m, SimTime f, SimTime b, SimTime c = 0, bool overlap = true) {
  PipelineSpec s;
  s.ranks = p;
  s.chunks = v;
  s.micro_batches = m;
  const auto G = static_cast<std::size_t>(p * v);
  s.fwd.assign(G, f);
  s.bwd.assign(G, b);
  s.p2p.assign(G, c);
  s.p2p[G - 1] = 0;  // nothing follows the last stage
  s.activation_bytes.assign(G, 1.0);
  s.overlap_p2p = overlap;
  return s;
}

TEST(OneFOneB, UniformMakespanIsMicroBatchesPlusFillTimesStageTime) {
  // (m + p - 1)(f + b) with p = 4, m = 8, f = 1000 ns, b = 2000 ns: 11 x 3000 = 33000 ns.
  const PipelineResult r = simulate_pipeline(uniform(4, 1, 8, 1000, 2000));
  EXPECT_EQ(r.makespan, 33000);
  // Every rank computes m(f + b) = 24000 ns and idles (p-1)(f+b) = 9000 ns:
  // idle fraction (p-1)/(m+p-1) = 3/11.
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_EQ(r.busy[rank], 24000) << "rank " << rank;
    EXPECT_NEAR(double(r.makespan - r.busy[rank]) / double(r.makespan), 3.0 / 11.0, 1e-12) << "rank " << rank;
  }
  // Rank 0 runs the very last backward.
  EXPECT_EQ(r.finish[0], 33000);
}

TEST(OneFOneB, EightStagesThirtyTwoMicroBatches) {
  // (32 + 8 - 1) x (1000 + 2000) = 39 x 3000 = 117000 ns; idle fraction 7/39.
  const PipelineResult r = simulate_pipeline(uniform(8, 1, 32, 1000, 2000));
  EXPECT_EQ(r.makespan, 117000);
  for (int rank = 0; rank < 8; ++rank) {
    EXPECT_EQ(r.makespan - r.busy[rank], 21000) << "rank " << rank;
    EXPECT_NEAR(double(r.makespan - r.busy[rank]) / double(r.makespan), 7.0 / 39.0, 1e-12);
  }
}

TEST(OneFOneB, SingleStageHasNoBubble) {
  // p = 1: m(f + b) = 5 x 3000 = 15000 ns.
  const PipelineResult r = simulate_pipeline(uniform(1, 1, 5, 1000, 2000));
  EXPECT_EQ(r.makespan, 15000);
  EXPECT_EQ(r.busy[0], 15000);
  EXPECT_EQ(r.peak_in_flight[0], 1);  // forward then backward, one micro-batch alive at a time
}

TEST(OneFOneB, FirstRankHoldsMinOfStagesAndMicroBatchesLastRankHoldsOne) {
  // Rank r warms up with min(p - r - 1, m) forwards, then runs one more forward before each
  // backward: rank 0 peaks at min(p, m) live micro-batches, the last rank at 1.
  for (long m : {1L, 2L, 3L, 4L, 8L}) {
    const PipelineResult r = simulate_pipeline(uniform(4, 1, m, 1000, 2000));
    EXPECT_EQ(r.peak_in_flight[0], std::min<long>(4, m)) << "m " << m;
    EXPECT_EQ(r.peak_in_flight[3], 1) << "m " << m;
    EXPECT_DOUBLE_EQ(r.peak_activation_bytes[0], double(std::min<long>(4, m)));
  }
  // Middle ranks: min(p - r, m) -> rank 1 holds 3, rank 2 holds 2 with m = 8.
  const PipelineResult r = simulate_pipeline(uniform(4, 1, 8, 1000, 2000));
  EXPECT_EQ(r.peak_in_flight[1], 3);
  EXPECT_EQ(r.peak_in_flight[2], 2);
}

TEST(Interleaved, BubbleShrinksByTheNumberOfChunks) {
  // Narayanan et al. 2021 §2.2.2: with v chunks per rank of f' = f/v, b' = b/v the bubble is
  // (p-1)(f'+b') = (p-1)(f+b)/v, so makespan = m v (f'+b') + (p-1)(f'+b').
  // p = 4, v = 2, m = 8, f = 600, b = 1200 -> f' = 300, b' = 600:
  //   8 x 2 x 900 + 3 x 900 = 14400 + 2700 = 17100 ns  (1F1B with the same work: 11 x 1800 = 19800)
  EXPECT_EQ(simulate_pipeline(uniform(4, 2, 8, 300, 600)).makespan, 17100);
  EXPECT_EQ(simulate_pipeline(uniform(4, 1, 8, 600, 1200)).makespan, 19800);
  // p = 8, v = 4, m = 16, f = 1200, b = 2400 -> f' = 300, b' = 600:
  //   16 x 4 x 900 + 7 x 900 = 57600 + 6300 = 63900 ns
  EXPECT_EQ(simulate_pipeline(uniform(8, 4, 16, 300, 600)).makespan, 63900);
  // p = 2, v = 3, m = 4, f = 1200, b = 2400 -> f' = 400, b' = 800:
  //   4 x 3 x 1200 + 1 x 1200 = 14400 + 1200 = 15600 ns
  EXPECT_EQ(simulate_pipeline(uniform(2, 3, 4, 400, 800)).makespan, 15600);
}

TEST(Interleaved, MicroBatchesEqualToStagesRunAllForwardsFirst) {
  // m = p: Megatron runs every forward as warm-up. p = 4, v = 2, f' = 300, b' = 600:
  //   formula m v (f'+b') + (p-1)(f'+b') = 4 x 2 x 900 + 3 x 900 = 7200 + 2700 = 9900 ns.
  const PipelineResult r = simulate_pipeline(uniform(4, 2, 4, 300, 600));
  EXPECT_EQ(r.makespan, 9900);
  EXPECT_EQ(r.peak_in_flight[0], 8);  // all m x v = 8 chunks alive before the first backward
}

TEST(Interleaved, FirstRankWarmsUpWithTwiceTheRemainingStagesPlusExtraChunks) {
  // Megatron warm-up on rank r: 2(p - r - 1) + (v - 1)p forwards, then one more before the first
  // backward. p = 4, v = 2, m = 8 (16 chunk-tasks): rank 0: 6 + 4 = 10, peak 11;
  // rank 3: 0 + 4 = 4, peak 5.
  const PipelineResult r = simulate_pipeline(uniform(4, 2, 8, 300, 600));
  EXPECT_EQ(r.peak_in_flight[0], 11);
  EXPECT_EQ(r.peak_in_flight[3], 5);
}

TEST(PipelineTransfers, OverlappedTransfersStillDelayTheDependentStage) {
  // p = 2, m = 2, f = 1000, b = 2000, c = 100 (overlapped: only the receiver waits).
  //   rank 0: F0 [0,1000]  F1 [1000,2000]  B0 [4200,6200]  B1 [7200,9200]
  //   rank 1: F0 [1100,2100]  B0 [2100,4100]  F1 [4100,5100]  B1 [5100,7100]
  // makespan 9200 = (m + p - 1)(f + b) + 2c.
  const PipelineResult r = simulate_pipeline(uniform(2, 1, 2, 1000, 2000, 100, true));
  EXPECT_EQ(r.makespan, 9200);
  EXPECT_EQ(r.blocked[0], 0);
  EXPECT_EQ(r.blocked[1], 0);
}

TEST(PipelineTransfers, NonOverlappedSendsBlockTheSenderAndLengthenTheMakespan) {
  // Same as above, but the sender is busy for c while it sends:
  //   rank 0: F0 [0,1100]  F1 [1100,2200]  B0 [4200,6200]  B1 [7300,9300]
  //   rank 1: F0 [1100,2100]  B0 [2100,4200]  F1 [4200,5200]  B1 [5200,7300]
  // makespan 9300: rank 1's second backward send now sits on the critical path.
  const PipelineResult r = simulate_pipeline(uniform(2, 1, 2, 1000, 2000, 100, false));
  EXPECT_EQ(r.makespan, 9300);
  // Rank 0 sends after each forward (2 x 100), rank 1 after each backward (2 x 100).
  EXPECT_EQ(r.blocked[0], 200);
  EXPECT_EQ(r.blocked[1], 200);
  EXPECT_EQ(r.busy[0], 6000);  // blocked time is not compute
}

TEST(PipelineTransfers, BlockedTimeCountsEverySendOfEveryRank) {
  // p = 4, m = 8, c = 100: first rank sends 8 forwards (800), middle ranks 8 forwards and
  // 8 backwards (1600), last rank 8 backwards (800).
  const PipelineResult blocking = simulate_pipeline(uniform(4, 1, 8, 1000, 2000, 100, false));
  EXPECT_EQ(blocking.blocked[0], 800);
  EXPECT_EQ(blocking.blocked[1], 1600);
  EXPECT_EQ(blocking.blocked[2], 1600);
  EXPECT_EQ(blocking.blocked[3], 800);
  const PipelineResult overlapped = simulate_pipeline(uniform(4, 1, 8, 1000, 2000, 100, true));
  // Each micro-batch's round trip crosses 2(p-1) links, so both exceed 33000 + 2 x 3 x 100.
  EXPECT_GE(overlapped.makespan, 33600);
  EXPECT_GT(blocking.makespan, overlapped.makespan);
}

TEST(UnevenStages, SlowestStageBoundsTheMakespan) {
  // p = 4, m = 8, f = 1000, b = 2000, stage 2 twice as slow (2000, 4000).
  // The slow stage alone needs m x 6000 = 48000 ns; it cannot start before stages 0 and 1 have
  // run the first forward (2 x 1000), and stages 1 and 0 must still run the last backward after
  // it (2 x 2000): makespan >= 2000 + 48000 + 4000 = 54000. Making every stage slow gives the
  // upper bound (m + p - 1) x 6000 = 66000.
  PipelineSpec s = uniform(4, 1, 8, 1000, 2000);
  s.fwd[2] = 2000;
  s.bwd[2] = 4000;
  const PipelineResult r = simulate_pipeline(s);
  EXPECT_GE(r.makespan, 54000);
  EXPECT_LE(r.makespan, 66000);
  EXPECT_EQ(r.busy[2], 48000);
}

TEST(Simulation, TwoRunsAreIdentical) {
  PipelineSpec s = uniform(4, 2, 8, 317, 641, 23, false);
  s.fwd[5] = 999;
  s.activation_bytes[3] = 7.5;
  const PipelineResult a = simulate_pipeline(s);
  const PipelineResult b = simulate_pipeline(s);
  EXPECT_EQ(a.makespan, b.makespan);
  EXPECT_EQ(a.finish, b.finish);
  EXPECT_EQ(a.busy, b.busy);
  EXPECT_EQ(a.blocked, b.blocked);
  EXPECT_EQ(a.last_backward, b.last_backward);
  EXPECT_EQ(a.first_forward, b.first_forward);
  EXPECT_EQ(a.peak_activation_bytes, b.peak_activation_bytes);
  EXPECT_EQ(a.peak_in_flight, b.peak_in_flight);
  EXPECT_EQ(a.events, b.events);
}

TEST(Simulation, FirstForwardAndLastBackwardSumTheRanksChunks) {
  // Rank 1 of p = 4, v = 2 holds global stages 1 and 5: first forward = fwd[1] + fwd[5],
  // last backward = bwd[1] + bwd[5].
  PipelineSpec s = uniform(4, 2, 8, 300, 600);
  s.fwd[5] = 500;
  s.bwd[5] = 700;
  const PipelineResult r = simulate_pipeline(s);
  EXPECT_EQ(r.first_forward[1], 800);
  EXPECT_EQ(r.last_backward[1], 1300);
}

// Brute force: walk each rank's issue order (Megatron-LM schedules.py, written out again here
// independently of the library) and track live activation bytes.
std::vector<ActivationPeak> walk_peaks(const PipelineSpec& s) {
  const int p = s.ranks, v = s.chunks;
  const long m = s.micro_batches, total = m * v;
  std::vector<ActivationPeak> out(p);
  for (int r = 0; r < p; ++r) {
    long w = v == 1 ? std::min<long>(p - r - 1, m)
                    : (m == p ? total : std::min<long>((p - r - 1) * 2L + (v - 1L) * p, total));
    auto chunk = [&](long k) { return (k % (long(p) * v)) / p; };
    double live = 0, peak = 0;
    int n = 0, at_peak = 0;
    auto fwd = [&](long k) {
      live += s.activation_bytes[chunk(k) * p + r];
      ++n;
      if (live > peak) { peak = live; at_peak = n; }
    };
    auto bwd = [&](long k) { live -= s.activation_bytes[(v - 1 - chunk(k)) * p + r]; --n; };
    for (long k = 0; k < w; ++k) fwd(k);
    for (long i = 0; i < total - w; ++i) { fwd(w + i); bwd(i); }
    out[r] = {peak, at_peak};
  }
  return out;
}

TEST(ActivationPeaks, ClosedFormMatchesWalkingTheIssueOrder) {
  // Uneven activations per global stage so that the chunk pattern matters.
  for (int p : {1, 2, 3, 4, 8}) {
    for (int v : {1, 2, 3, 5}) {
      if (v > 1 && p == 1) continue;
      for (long m : {1L, 2L, 3L, 4L, 8L, 12L, 16L, 40L}) {
        if (v > 1 && m % p != 0) continue;
        PipelineSpec s = uniform(p, v, m, 100, 200);
        for (std::size_t g = 0; g < s.activation_bytes.size(); ++g) s.activation_bytes[g] = double((g * 7) % 5 + 1);
        const auto fast = activation_peaks(s);
        const auto slow = walk_peaks(s);
        for (int r = 0; r < p; ++r) {
          EXPECT_DOUBLE_EQ(fast[r].bytes, slow[r].bytes) << "p" << p << " v" << v << " m" << m << " r" << r;
          EXPECT_EQ(fast[r].in_flight, slow[r].in_flight) << "p" << p << " v" << v << " m" << m << " r" << r;
        }
      }
    }
  }
}

TEST(Simulation, InconsistentSpecThrowsInvalidArgument) {
  PipelineSpec ok = uniform(4, 1, 8, 1000, 2000);
  EXPECT_NO_THROW(simulate_pipeline(ok));

  PipelineSpec s = ok;
  s.ranks = 0;
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  s = ok;
  s.micro_batches = 0;
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  s = ok;
  s.fwd.pop_back();
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  s = ok;
  s.bwd.push_back(1);
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  s = ok;
  s.p2p.clear();
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  s = ok;
  s.activation_bytes.pop_back();
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  s = ok;
  s.chunks = 0;
  EXPECT_THROW(simulate_pipeline(s), std::invalid_argument);
  // Interleaving needs m to be a multiple of p.
  EXPECT_THROW(simulate_pipeline(uniform(4, 2, 6, 300, 600)), std::invalid_argument);
}

}  // namespace
}  // namespace wanka
