// Presentation of results: the JSON contract of DESIGN.md and the human-readable report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "wanka/estimate.hpp"
#include "wanka/scenario.hpp"

namespace wanka {

using Json = nlohmann::ordered_json;

Json scenario_to_json(const Scenario& s);     // every default written out
Json estimate_to_json(const Scenario& s, const Estimate& e);
std::string format_estimate(const Scenario& s, const Estimate& e);  // tables for a terminal
std::string format_gpu(const GpuSpec& g);
std::string format_model(const ModelSpec& m);
std::string format_catalog(const Catalog& c);

}  // namespace wanka
