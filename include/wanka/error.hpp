// Error policy: bad input is an InputError naming the offending field (exit code 2);
// anything else escaping the library is an internal error (exit code 1).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace wanka {

class InputError : public std::runtime_error {
 public:
  // `field` is the dotted path of the offending value ("parallel.tp"); may be empty.
  InputError(std::string field, const std::string& message)
      : std::runtime_error(field.empty() ? message : field + ": " + message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// Up to `limit` known names close to `name` (within about one edit per three characters, or
// containing it), best first by edit distance (ties by name); none when nothing is close.
std::vector<std::string> closest_names(std::string_view name, const std::vector<std::string>& known,
                                       std::size_t limit = 3);

// "unknown gpu 'h10' (closest: h100-sxm, h200, h800)"; with nothing close, "(see `wanka
// catalog`)" for a catalog kind (gpu, model, network, scale-up link), else the known names
// when there are at most 20: "unknown recompute mode 'partial' (one of: none, selective, full)".
std::string unknown_name_message(std::string_view kind, std::string_view name,
                                 const std::vector<std::string>& known);

}  // namespace wanka
