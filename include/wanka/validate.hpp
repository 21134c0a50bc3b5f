// End-to-end validation against published training runs (data/validation/training.csv).
#pragma once

#include <string>
#include <vector>

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

// Reads the CSV text (the embedded copy when `csv` is empty) and evaluates every row.
ValidationReport run_validation(const std::string& csv = "");
std::string format_validation(const ValidationReport& r, int worst);
Json validation_to_json(const ValidationReport& r);

}  // namespace wanka
