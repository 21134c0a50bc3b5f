// libFuzzer target for the scenario parser (and, for inputs that parse, the estimator):
// any input must end in a result or an InputError, never a crash, hang or other exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const wanka::Scenario s = wanka::parse_scenario(text, "<fuzz>");
    (void)wanka::estimate(s);
  } catch (const wanka::InputError&) {
    // bad input, reported with a field: the expected outcome
  }
  return 0;
}
