// Typed, path-named access to YAML nodes. Every failure is an InputError naming the field
// path and, when yaml-cpp knows it, the line and column.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "wanka/error.hpp"

namespace wanka::yaml {

std::string where(const YAML::Node& n);  // " (line L, column C)" or ""
std::string join(const std::string& path, const std::string& key);

double as_double(const YAML::Node& n, const std::string& path, double lo, double hi);
long as_long(const YAML::Node& n, const std::string& path, long lo, long hi);
bool as_bool(const YAML::Node& n, const std::string& path);
std::string as_string(const YAML::Node& n, const std::string& path);

// Requires `n` to be a map whose keys are all in `known`; else names the unknown key and the
// closest known ones.
void require_map(const YAML::Node& n, const std::string& path);
void check_keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> known);

// Parses text; malformed YAML becomes InputError "<origin>:line:column: message".
YAML::Node parse(const std::string& text, const std::string& origin);

// Seeds read from YAML: the integers a double holds exactly (2^53), so none is silently rounded.
constexpr long kMaxSeed = 1L << 53;

}  // namespace wanka::yaml

namespace wanka {
// The scenario document with "key.path=value" overrides applied (src/config/scenario.cpp);
// the serving parser reads its own blocks from it.
YAML::Node scenario_root(const std::string& text, const std::string& origin,
                         const std::vector<std::pair<std::string, std::string>>& overrides);
}  // namespace wanka

namespace wanka::yaml {

// Optional field helpers: assign only when present.
template <class T>
void opt(const YAML::Node& parent, const char* key, const std::string& path, T& out, double lo, double hi) {
  if (auto n = parent[key]; n && !n.IsNull()) {
    if constexpr (std::is_floating_point_v<T>) {
      out = as_double(n, join(path, key), lo, hi);
    } else {
      out = static_cast<T>(as_long(n, join(path, key), static_cast<long>(lo), static_cast<long>(hi)));
    }
  }
}
inline void opt_string(const YAML::Node& parent, const char* key, const std::string& path, std::string& out) {
  if (auto n = parent[key]; n && !n.IsNull()) out = as_string(n, join(path, key));
}
inline void opt_bool(const YAML::Node& parent, const char* key, const std::string& path, bool& out) {
  if (auto n = parent[key]; n && !n.IsNull()) out = as_bool(n, join(path, key));
}

}  // namespace wanka::yaml
