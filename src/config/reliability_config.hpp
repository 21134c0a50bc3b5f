// The scenario's `reliability:` block (parsed with the rest of the scenario).
#pragma once

#include "wanka/scenario.hpp"

namespace YAML { class Node; }

namespace wanka {

// Fills `out` (already holding the defaults) from `n`; InputError naming the field on bad input.
void parse_reliability_section(const YAML::Node& n, ReliabilityConfig& out);

}  // namespace wanka
