// Presentation of results: the JSON contract of DESIGN.md and the human-readable report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "wanka/estimate.hpp"
#include "wanka/plan.hpp"
#include "wanka/reliability.hpp"
#include "wanka/scenario.hpp"
#include "wanka/serve.hpp"

namespace wanka {

using Json = nlohmann::ordered_json;

Json scenario_to_json(const Scenario& s);     // every default written out
Json parallel_to_json(const ParallelConfig& p);  // its `parallel` block: a split as estimate takes it
// with_scenario false: without the `scenario` block (a plan entry, whose inputs the plan gives once).
Json estimate_to_json(const Scenario& s, const Estimate& e, bool with_scenario = true);
std::string format_estimate(const Scenario& s, const Estimate& e);  // tables for a terminal
std::string format_gpu(const GpuSpec& g);
std::string format_model(const ModelSpec& m);
std::string format_catalog(const Catalog& c);
// `wanka catalog --json`: one entry as a catalog file that --catalog reads back (a gpu under
// `gpus` with its calibration under `calibration`, a model under `models`), or the lists of names.
Json gpu_to_json(const GpuSpec& g);
Json model_to_json(const ModelSpec& m);
Json catalog_to_json(const Catalog& c);

// Planner output. `timing` false writes elapsed_s as null: the JSON is then byte-identical
// across runs and thread counts.
Json plan_entry_to_json(const PlanEntry& e);
Json plan_to_json(const Scenario& base, const PlanResult& r, bool timing = true);
std::string format_plan(const Scenario& base, const PlanResult& r);
// A split in short, as the plan tables print it: "TP8+SP PP4x5 DP32".
std::string split_label(const ParallelConfig& p);
Json scale_to_json(const Scenario& base, const ScaleResult& r, bool timing = true);
std::string scale_to_csv(const ScaleResult& r);
std::string format_scale(const Scenario& base, const ScaleResult& r);

// Reliability Monte Carlo (issue 4): interruptions, ETTR, wall-clock days, lost GPU-hours.
Json reliability_config_to_json(const Scenario& s, const ReliabilityResult& r);
Json reliability_to_json(const Scenario& s, const ReliabilityResult& r);
// The scenario's `reliability:` block as the parser reads it back (the resolved inputs of the
// simulation; days and tokens only as given, and only when `window` asks for them).
Json reliability_scenario_json(const Scenario& s, const ReliabilityResult& r, bool window);
std::string format_reliability(const Scenario& s, const ReliabilityResult& r);

// Serving (issue 5): one simulated deployment, and capacity planning.
Json serving_config_to_json(const ServeScenario& s);
Json serve_to_json(const ServeScenario& s, const ServeResult& r);
std::string format_serve(const ServeScenario& s, const ServeResult& r);
Json capacity_to_json(const ServeScenario& s, const CapacityResult& c);
std::string format_capacity(const ServeScenario& s, const CapacityResult& c);

}  // namespace wanka
