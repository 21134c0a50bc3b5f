// End-to-end validation against published training runs (data/validation/training.csv).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "wanka/plan.hpp"
#include "wanka/report.hpp"

namespace wanka {

struct ValidationRow {
  std::string id, source, model, metric, unit, trust, citation;
  double measured = 0;
  double predicted = 0;
  double error = 0;          // (predicted - measured) / measured
  bool fits = true;
  std::string failure;       // non-empty when the configuration could not be evaluated
  Scenario scenario;
};

struct SourceSummary {
  std::string source;
  int runs = 0;
  int failed = 0;
  int not_fitting = 0;
  double mape = 0;  // mean |error|, over evaluated rows
  double mean_error = 0;  // signed bias
};

struct ValidationReport {
  std::vector<ValidationRow> rows;
  std::vector<SourceSummary> sources;
};

// Planner check (issue 3): per published run, whether its split ranks in the top 10 % of the
// fitting splits of its model and cluster, and the planner's best step time against it.
struct PlanCheckRow {
  std::string id, source;
  SplitRank rank;
  SplitRank rank_same_recompute;  // with recompute pinned to the run's own setting
  std::string failure;
};
struct PlanCheckSource {
  std::string source;
  int runs = 0, in_top = 0, in_top_same_recompute = 0, failed = 0;
  double median_percentile = 0;  // faster / fitting, in percent (upper bound when not exact)
  double mean_speedup = 0;       // published step time / best found, mean over runs
};
struct PlanCheckReport {
  std::vector<PlanCheckRow> rows;
  std::vector<PlanCheckSource> sources;
  double elapsed_s = 0;
};
PlanCheckReport run_plan_validation(const ValidationReport& rep, int threads = 0);
std::string format_plan_validation(const PlanCheckReport& r, int worst);
// Per source and per row (rank among fitting splits, with recompute free and pinned); elapsed_s
// is left out so that the object is the same for the same input.
Json plan_validation_to_json(const PlanCheckReport& r);

// Reads the CSV text (the embedded copy when `csv` is empty) and evaluates every row.
ValidationReport run_validation(const std::string& csv = "");
std::string format_validation(const ValidationReport& r, int worst,
                              const std::string& what = "training throughput (data/validation/training.csv)");
// Per-source MAPE and bias of evaluated rows (fills r.sources).
void summarize_sources(ValidationReport& r);
// RFC 4180 rows: quoted fields may hold commas, newlines and doubled quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text);
// A CSV field that must be a positive finite number (the whole field); throws InputError naming it.
double positive_number(const std::string& text, const std::string& field);
// Evaluates every record of a validation CSV (id, source, model, metric, value, unit, trust,
// citation + the caller's columns): `eval` sets the prediction (and scenario) of one row or
// throws, recording the row as failed; the result is summarised per source.
using RowEval = std::function<void(std::map<std::string, std::string>& record, ValidationRow& row)>;
ValidationReport evaluate_csv(const std::string& text, const RowEval& eval);

// Serving (issue 5): the curated rows of data/validation/inference.csv (embedded copy when
// `csv` is empty), each simulated with wanka serve. Throughput and latency metrics are
// summarised per source.
ValidationReport run_serve_validation(const std::string& csv = "");
// Kernels: the microbenchmarks of data/validation/kernels.csv (GEMM TFLOP/s by shape, fused
// attention TFLOP/s, memory-bound bandwidth, collective and point-to-point bandwidth), each
// predicted by the operation models of src/hw and src/net.
ValidationReport run_kernel_validation(const std::string& csv = "");
Json validation_to_json(const ValidationReport& r);

}  // namespace wanka
