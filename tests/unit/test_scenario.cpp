// Scenario parsing and validation (include/wanka/scenario.hpp): the default, overrides, inline
// specs, JSON input, and an InputError naming the field for every kind of bad input.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <tuple>
#include <vector>

#include "wanka/error.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"

namespace wanka {
namespace {

Scenario parse(const std::string& yaml, const std::vector<Override>& overrides = {}) {
  return parse_scenario(yaml, "test.yaml", overrides);
}

Scenario parse_default(const std::vector<Override>& overrides = {}) {
  return parse(default_scenario_yaml(), overrides);
}

// Parses and returns the InputError; fails the test when nothing (or something else) is thrown.
InputError input_error(const std::string& yaml, const std::vector<Override>& overrides = {}) {
  try {
    parse(yaml, overrides);
  } catch (const InputError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got " << e.what();
    return InputError("<wrong exception>", e.what());
  }
  ADD_FAILURE() << "expected InputError, parsed fine:\n" << yaml;
  return InputError("<no exception>", "");
}

InputError default_error(const std::vector<Override>& overrides) {
  return input_error(default_scenario_yaml(), overrides);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The line number in "<origin>:<line>:<column>: malformed YAML" (0 when the message has no such
// prefix). Hand-rolled: std::regex trips GCC 12's -Wmaybe-uninitialized under the sanitizers.
long malformed_yaml_line(const std::string& msg, const std::string& origin) {
  const std::string head = origin + ":";
  std::size_t i = msg.find(head);
  if (i == std::string::npos) return 0;
  i += head.size();
  auto number = [&](long& out) {
    const std::size_t start = i;
    out = 0;
    while (i < msg.size() && std::isdigit(static_cast<unsigned char>(msg[i]))) out = out * 10 + (msg[i++] - '0');
    return i > start;
  };
  long line = 0, column = 0;
  if (!number(line) || i >= msg.size() || msg[i++] != ':' || !number(column)) return 0;
  return msg.compare(i, 17, ": malformed YAML:") == 0 ? line : 0;
}

TEST(DefaultScenario, IsLlama3_70bOn1024H100WithDp32) {
  const Scenario s = parse_default();
  EXPECT_EQ(s.model.name, "llama3-70b");
  EXPECT_EQ(s.model.layers, 80);
  EXPECT_EQ(s.cluster.gpu.name, "h100-sxm");
  EXPECT_EQ(s.cluster.num_gpus, 1024);
  EXPECT_EQ(s.parallel.tp, 8);
  EXPECT_EQ(s.parallel.pp, 4);
  EXPECT_EQ(s.parallel.vpp, 5);
  EXPECT_EQ(s.parallel.cp, 1);
  EXPECT_EQ(s.parallel.dp, 32);  // 1024 / (8 x 4 x 1)
  EXPECT_TRUE(s.parallel.sequence_parallel);
  EXPECT_EQ(s.parallel.recompute, Recompute::kSelective);
  EXPECT_EQ(s.training.seq_len, 8192);
  EXPECT_EQ(s.training.global_batch, 512);
  EXPECT_EQ(s.training.precision, Precision::kBf16);
  EXPECT_EQ(s.grad_accum_steps(), 16);  // 512 / (32 x 1)
  // Cluster fields default from the GPU.
  EXPECT_EQ(s.cluster.scale_up_domain, 8);
  EXPECT_DOUBLE_EQ(s.cluster.nic_gbps, 400.0);
}

TEST(Overrides, ChangeFieldsAndRederiveDataParallelism) {
  const Scenario s = parse_default({{"parallel.tp", "4"}});
  EXPECT_EQ(s.parallel.tp, 4);
  EXPECT_EQ(s.parallel.dp, 64);  // 1024 / (4 x 4)
  const Scenario t = parse_default({{"cluster.num_gpus", "512"}, {"training.global_batch", "256"}});
  EXPECT_EQ(t.parallel.dp, 16);
  EXPECT_EQ(t.training.global_batch, 256);
}

TEST(Overrides, ModelNameReplacesTheCatalogEntryAndFieldsOverrideIt) {
  const Scenario s = parse_default({{"model", "llama3-8b"}, {"parallel.pp", "1"}, {"parallel.vpp", "1"}});
  EXPECT_EQ(s.model.name, "llama3-8b");
  EXPECT_EQ(s.model.layers, 32);
  const Scenario t = parse_default({{"model.layers", "40"}});
  EXPECT_EQ(t.model.name, "llama3-70b");
  EXPECT_EQ(t.model.layers, 40);
  EXPECT_EQ(t.model.hidden, 8192);
}

TEST(Overrides, GpuFieldOnACatalogNameKeepsTheRestOfTheGpu) {
  const Scenario s = parse_default({{"cluster.gpu.hbm_gib", "96"}});
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_gib, 96.0);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_tbps, 3.35);
}

TEST(Overrides, UnknownOverridePathIsRejected) {
  const InputError e = default_error({{"parallel.tpp", "4"}});
  EXPECT_EQ(e.field(), "parallel.tpp");
  EXPECT_TRUE(contains(e.what(), "closest")) << e.what();
}

// "--set parallel.=4" set the whole parallel block to 4 (getline dropped the empty last
// component) and was reported as "parallel.name: unknown key".
TEST(Overrides, EmptyPathComponentIsRejected) {
  for (const char* path : {"parallel.", ".tp", "parallel..tp"}) {
    const InputError e = default_error({{path, "4"}});
    EXPECT_EQ(e.field(), path);
    EXPECT_TRUE(contains(e.what(), "empty component")) << e.what();
  }
}

// A scenario file refuses duplicate keys; so does an override's value (it kept the first).
TEST(Overrides, DuplicateKeyInAValueIsRejected) {
  const InputError e = default_error({{"parallel", "{tp: 2, tp: 4}"}});
  EXPECT_EQ(e.field(), "parallel.tp");
  EXPECT_TRUE(contains(e.what(), "duplicate key")) << e.what();
  const InputError bad = default_error({{"parallel", "{tp: 2"}});
  EXPECT_EQ(bad.field(), "parallel");
  EXPECT_TRUE(contains(bad.what(), "malformed YAML")) << bad.what();
}

// An alias inside the node it names makes a cycle: refused at once, not walked (it hung, the
// walk building ever longer paths); a sequence's path reads model.layers[1].a.
TEST(Overrides, SelfReferencingAliasIsRefused) {
  for (const auto& [path, value, field] :
       {std::tuple<std::string, std::string, std::string>{"model.layers", "&a [*a]", "model.layers[0][0][0][0]..."},
        {"parallel", "&a {tp: *a}", "parallel.tp.tp.tp.tp..."}}) {
    const InputError e = default_error({{path, value}});
    EXPECT_EQ(e.field(), field);
    EXPECT_TRUE(contains(e.what(), "nested deeper than 1000 levels")) << e.what();
  }
  const InputError e = input_error("a: &a {b: *a}\n");
  EXPECT_EQ(e.field(), "a.b.b.b...");
  EXPECT_EQ(default_error({{"model.layers", "[1, {a: 1, a: 2}]"}}).field(), "model.layers[1].a");
}

TEST(Validation, TensorParallelMustDivideHeads) {
  const InputError e = input_error(
      "model: gpt3-175b\ncluster: {gpu: h100-sxm, num_gpus: 1024}\nparallel: {tp: 64, pp: 4}\n"
      "training: {seq_len: 2048, global_batch: 512}\n");
  EXPECT_EQ(e.field(), "parallel.tp");
  EXPECT_TRUE(contains(e.what(), "heads (96)")) << e.what();
}

TEST(Validation, ExplicitDegreesMustMultiplyToTheGpuCount) {
  const InputError e = default_error({{"parallel.dp", "16"}});  // 8 x 4 x 1 x 16 = 512
  EXPECT_EQ(e.field(), "parallel.dp");
  EXPECT_TRUE(contains(e.what(), "512")) << e.what();
  EXPECT_TRUE(contains(e.what(), "1024")) << e.what();
}

TEST(Validation, ModelParallelDegreesMustDivideTheGpuCount) {
  const InputError e = default_error({{"parallel.tp", "3"}});  // 3 x 4 = 12 does not divide 1024
  EXPECT_EQ(e.field(), "parallel");
  EXPECT_TRUE(contains(e.what(), "12")) << e.what();
}

TEST(Validation, PipelineMustDivideLayersUnlessUnevenStagesAreAllowed) {
  // 96 GPUs = TP8 x PP3 x DP4; Llama-3-70B has 80 layers, not a multiple of 3.
  const auto with = [](const std::string& extra) {
    return "model: llama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 96}\nparallel: {tp: 8, pp: 3" + extra +
           "}\ntraining: {seq_len: 8192, global_batch: 512}\n";
  };
  const InputError e = input_error(with(""));
  EXPECT_EQ(e.field(), "parallel.pp");
  EXPECT_TRUE(contains(e.what(), "layers (80)")) << e.what();
  EXPECT_TRUE(contains(e.what(), "allow_uneven_stages")) << e.what();

  const Scenario s = parse(with(", allow_uneven_stages: true"));
  EXPECT_EQ(s.parallel.pp, 3);
  EXPECT_TRUE(s.parallel.allow_uneven_stages);
}

TEST(Validation, UnknownModelNameSuggestsTheClosest) {
  const InputError scalar = input_error("model: lama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8}\n");
  EXPECT_EQ(scalar.field(), "model");
  EXPECT_TRUE(contains(scalar.what(), "closest: llama3-70b")) << scalar.what();
  EXPECT_TRUE(contains(scalar.what(), "line 1")) << scalar.what();

  const InputError named = default_error({{"model", "lama3-70b"}});
  EXPECT_EQ(named.field(), "model.name");
  EXPECT_TRUE(contains(named.what(), "closest")) << named.what();
  EXPECT_TRUE(contains(named.what(), "llama3-70b")) << named.what();
}

TEST(Validation, UnknownGpuNameSuggestsTheClosest) {
  const InputError e = default_error({{"cluster.gpu", "h10"}});
  EXPECT_EQ(e.field(), "cluster.gpu");
  EXPECT_TRUE(contains(e.what(), "closest")) << e.what();
  EXPECT_TRUE(contains(e.what(), "h100-sxm")) << e.what();
}

// Three names were suggested however far they were from the typed one.
TEST(Validation, OnlyCloseNamesAreSuggested) {
  EXPECT_EQ(closest_names("h100-sxn", {"h100-sxm", "a100-80g", "mi300x"}), std::vector<std::string>{"h100-sxm"});
  EXPECT_TRUE(closest_names("xyzzy-9000", {"h100-sxm", "a100-80g", "mi300x"}).empty());
  const InputError gpu = default_error({{"cluster.gpu", "xyzzy-9000"}});
  EXPECT_FALSE(contains(gpu.what(), "closest")) << gpu.what();
  EXPECT_TRUE(contains(gpu.what(), "see `wanka catalog`")) << gpu.what();
  const InputError mode = default_error({{"parallel.recompute", "sometimes"}});
  EXPECT_TRUE(contains(mode.what(), "(one of: none, selective, full)")) << mode.what();
}

TEST(Validation, UnknownTopLevelKeyIsNamedWithItsLocation) {
  const InputError e =
      input_error("model: llama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparalel: {tp: 8}\n");
  EXPECT_EQ(e.field(), "paralel");
  EXPECT_TRUE(contains(e.what(), "closest: parallel")) << e.what();
  EXPECT_TRUE(contains(e.what(), "line 3")) << e.what();
}

TEST(Validation, UnknownNestedKeyIsNamedByItsPath) {
  const InputError e = input_error("model: llama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tpp: 8}\n");
  EXPECT_EQ(e.field(), "parallel.tpp");
  EXPECT_TRUE(contains(e.what(), "'tpp'")) << e.what();
  EXPECT_TRUE(contains(e.what(), "tp")) << e.what();
}

TEST(Validation, MalformedYamlReportsOriginLineAndColumn) {
  // Unclosed flow mapping on line 2; yaml-cpp notices at the start of line 3's value.
  const InputError e = input_error("model: llama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 8\nparallel: {tp: 8}\n");
  EXPECT_GE(malformed_yaml_line(e.what(), "test.yaml"), 2) << e.what();
  // Bad indentation: reported on the offending line 4.
  const InputError f = input_error("model: llama3-70b\ncluster:\n  gpu: h100-sxm\n   num_gpus: 8\n");
  EXPECT_EQ(malformed_yaml_line(f.what(), "test.yaml"), 4) << f.what();
}

TEST(Validation, NonPositiveSizesAreOutOfRange) {
  const InputError gpus = default_error({{"cluster.num_gpus", "0"}});
  EXPECT_EQ(gpus.field(), "cluster.num_gpus");
  EXPECT_TRUE(contains(gpus.what(), "out of range")) << gpus.what();
  const InputError seq = default_error({{"training.seq_len", "-5"}});
  EXPECT_EQ(seq.field(), "training.seq_len");
  EXPECT_TRUE(contains(seq.what(), "-5")) << seq.what();
  EXPECT_EQ(default_error({{"parallel.micro_batch", "0"}}).field(), "parallel.micro_batch");
  EXPECT_EQ(default_error({{"training.global_batch", "0"}}).field(), "training.global_batch");
  EXPECT_EQ(default_error({{"parallel.tp", "-8"}}).field(), "parallel.tp");
}

TEST(Validation, AbsurdValuesAreRejected) {
  const InputError e = default_error({{"cluster.num_gpus", "1e30"}});
  EXPECT_EQ(e.field(), "cluster.num_gpus");
  EXPECT_TRUE(contains(e.what(), "out of range")) << e.what();
  EXPECT_EQ(default_error({{"cluster.num_gpus", "8.5"}}).field(), "cluster.num_gpus");
  EXPECT_EQ(default_error({{"cluster.num_gpus", ".inf"}}).field(), "cluster.num_gpus");
  EXPECT_EQ(default_error({{"cluster.num_gpus", ".nan"}}).field(), "cluster.num_gpus");
  EXPECT_EQ(default_error({{"parallel.tp", "2.5"}}).field(), "parallel.tp");
}

TEST(Validation, ProductOfHugeDegreesDoesNotOverflow) {
  // 1e5 x 1e5 x 1e5 x 1e7 = 1e22 exceeds int64; the split must still be rejected cleanly.
  const InputError e = input_error(
      "model: llama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
      "parallel: {tp: 100000, pp: 100000, cp: 100000, dp: 10000000}\n");
  EXPECT_FALSE(e.field().empty()) << e.what();
}

TEST(Validation, NonNumericValueIsNamed) {
  const InputError e = default_error({{"parallel.tp", "eight"}});
  EXPECT_EQ(e.field(), "parallel.tp");
  EXPECT_TRUE(contains(e.what(), "'eight' is not a number")) << e.what();
  EXPECT_EQ(default_error({{"training.seq_len", "[1, 2]"}}).field(), "training.seq_len");
}

TEST(Validation, GlobalBatchMustBeAMultipleOfDpTimesMicroBatch) {
  const InputError e = default_error({{"training.global_batch", "500"}});  // dp 32
  EXPECT_EQ(e.field(), "training.global_batch");
  EXPECT_TRUE(contains(e.what(), "(32)")) << e.what();
}

TEST(Validation, ExpertParallelismNeedsAMixtureOfExperts) {
  const InputError e = default_error({{"parallel.ep", "2"}});
  EXPECT_EQ(e.field(), "parallel.ep");
  EXPECT_TRUE(contains(e.what(), "mixture-of-experts")) << e.what();
}

// Megatron-LM asserts sequence parallelism when expert and tensor parallelism meet.
TEST(Validation, ExpertWithTensorParallelismNeedsSequenceParallelism) {
  const std::string moe = "model: mixtral-8x7b\ncluster: {gpu: h100-sxm, num_gpus: 64}\n"
                          "parallel: {tp: 2, pp: 1, dp: 32, ep: 8}\ntraining: {seq_len: 4096, global_batch: 256}\n";
  EXPECT_NO_THROW((void)parse_scenario(moe, "<t>"));
  const InputError e = input_error(moe, {{"parallel.sequence_parallel", "false"}});
  EXPECT_EQ(e.field(), "parallel.sequence_parallel");
  EXPECT_TRUE(contains(e.what(), "as Megatron-LM requires")) << e.what();
  EXPECT_NO_THROW((void)parse_scenario(moe, "<t>", {{"parallel.sequence_parallel", "false"}, {"parallel.ep", "1"}}));
}

TEST(Validation, PrecisionUnsupportedByTheGpuIsNamed) {
  const InputError e = default_error({{"cluster.gpu", "v100"}});  // bf16 on V100
  EXPECT_EQ(e.field(), "training.precision");
  EXPECT_TRUE(contains(e.what(), "bf16")) << e.what();
  EXPECT_TRUE(contains(e.what(), "v100")) << e.what();
  // fp16 is fine on V100.
  EXPECT_EQ(parse_default({{"cluster.gpu", "v100"}, {"training.precision", "fp16"}}).training.precision,
            Precision::kFp16);
}

TEST(Validation, UnknownEnumValuesListTheChoices) {
  const InputError p = default_error({{"training.precision", "fp64"}});
  EXPECT_EQ(p.field(), "training.precision");
  EXPECT_TRUE(contains(p.what(), "closest")) << p.what();
  const InputError r = default_error({{"parallel.recompute", "partial"}});
  EXPECT_EQ(r.field(), "parallel.recompute");
  EXPECT_TRUE(contains(r.what(), "selective")) << r.what();
}

TEST(Validation, NonMappingScenarioIsRejected) {
  EXPECT_THROW(parse("[1, 2, 3]"), InputError);
  EXPECT_EQ(input_error("").field(), "model");  // empty document: model missing
  EXPECT_EQ(input_error("model: llama3-70b\n").field(), "cluster");
  EXPECT_EQ(input_error("model: llama3-70b\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: 5\n").field(), "parallel");
}

TEST(InlineSpecs, ExplicitModelWithoutCatalogName) {
  const Scenario s = parse(
      "model: {layers: 4, hidden: 512, heads: 8, ffn_hidden: 2048, vocab: 1000}\n"
      "cluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8}\ntraining: {seq_len: 1024, global_batch: 8}\n");
  EXPECT_EQ(s.model.name, "custom");
  EXPECT_EQ(s.model.layers, 4);
  EXPECT_EQ(s.model.hidden, 512);
  EXPECT_EQ(s.model.heads, 8);
  EXPECT_EQ(s.model.kv_heads, 8);   // defaults to heads
  EXPECT_EQ(s.model.head_dim, 64);  // 512 / 8
  EXPECT_EQ(s.model.ffn_hidden, 2048);
  EXPECT_EQ(s.model.vocab, 1000);
  EXPECT_EQ(s.parallel.dp, 1);
}

TEST(InlineSpecs, ExplicitModelMissingAFieldNamesIt) {
  const InputError e = input_error(
      "model: {layers: 4, hidden: 512, heads: 8, vocab: 1000}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n");
  EXPECT_EQ(e.field(), "model.ffn_hidden");
}

TEST(InlineSpecs, GpuWithBaseOverridesOnlyTheGivenFields) {
  const Scenario s = parse(
      "model: llama3-8b\ncluster: {gpu: {base: h100-sxm, hbm_gib: 96}, num_gpus: 8}\nparallel: {tp: 8}\n"
      "training: {seq_len: 8192, global_batch: 8}\n");
  const GpuSpec& h100 = Catalog::builtin().gpu("h100-sxm");
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_gib, 96.0);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_tbps, h100.hbm_tbps);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.peak(Precision::kBf16).value, 989.4e12);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.nic_gbps, h100.nic_gbps);
  EXPECT_EQ(s.cluster.gpu.calibration.basis, h100.calibration.basis);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_capacity().value, 96.0 * 1024 * 1024 * 1024);
}

// A catalog file (--catalog) changes only the fields it gives: a calibration entry starts from
// the existing one of its name; a gpu or model entry with an existing name, or a gpu with
// `base`, starts from that entry (a new gpu with its base's calibration). Before, a calibration
// entry started from `default` (setting H100's HBM efficiency to its own value moved the
// default estimate from 4.305 to 4.498 s), a same-name gpu needed every field and `base` was
// ignored.
TEST(CatalogOverrides, ChangeOnlyTheFieldsGiven) {
  const Catalog& b = Catalog::builtin();
  const GpuSpec& h = b.gpu("h100-sxm");
  const Catalog cal = Catalog::with_overrides_text("calibration:\n  h100-sxm: {hbm_efficiency: 0.5}\n", "<t>");
  EXPECT_DOUBLE_EQ(cal.gpu("h100-sxm").calibration.hbm_efficiency, 0.5);
  EXPECT_DOUBLE_EQ(cal.gpu("h100-sxm").calibration.attention_fwd_efficiency, h.calibration.attention_fwd_efficiency);
  EXPECT_EQ(cal.gpu("h100-sxm").calibration.matmul_efficiency, h.calibration.matmul_efficiency);

  const Catalog price = Catalog::with_overrides_text("gpus:\n  - {name: h100-sxm, price_per_gpu_hour_usd: 1.9}\n", "<t>");
  const GpuSpec& p = price.gpu("h100");  // aliases kept
  EXPECT_DOUBLE_EQ(p.price_per_gpu_hour_usd, 1.9);
  EXPECT_DOUBLE_EQ(p.hbm_gib, h.hbm_gib);
  EXPECT_EQ(p.peak_tflops, h.peak_tflops);
  EXPECT_DOUBLE_EQ(p.calibration.hbm_efficiency, h.calibration.hbm_efficiency);

  const Catalog variant = Catalog::with_overrides_text(
      "gpus:\n  - {name: my-h100, base: h100-sxm, hbm_gib: 96}\n"
      "calibration:\n  my-h100: {attention_full_fwd_efficiency: 0.7}\n",
      "<t>");
  const GpuSpec& v = variant.gpu("my-h100");
  EXPECT_DOUBLE_EQ(v.hbm_gib, 96);
  EXPECT_EQ(v.peak_tflops, h.peak_tflops);
  EXPECT_TRUE(v.aliases.empty());  // a new entry does not take its base's aliases
  EXPECT_DOUBLE_EQ(v.calibration.attention_full_fwd_efficiency, 0.7);
  EXPECT_DOUBLE_EQ(v.calibration.hbm_efficiency, h.calibration.hbm_efficiency);
  EXPECT_EQ(variant.gpu("h100").name, "h100-sxm");
  const Catalog base_only = Catalog::with_overrides_text("gpus:\n  - {name: my-h100, base: h100-sxm}\n", "<t>");
  EXPECT_DOUBLE_EQ(base_only.gpu("my-h100").calibration.attention_fwd_half_seq, h.calibration.attention_fwd_half_seq);

  const Catalog vocab = Catalog::with_overrides_text("models:\n  - {name: llama3-70b, vocab: 32000}\n", "<t>");
  EXPECT_EQ(vocab.model("llama3-70b").vocab, 32000);
  EXPECT_EQ(vocab.model("llama3-70b").layers, b.model("llama3-70b").layers);

  try {
    (void)Catalog::with_overrides_text("gpus:\n  - {name: x, base: h100-sxn}\n", "<t>");
    FAIL() << "unknown base accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "gpus[0].base");
    EXPECT_NE(std::string(e.what()).find("h100-sxm"), std::string::npos);
  }
  EXPECT_THROW((void)Catalog::with_overrides_text("gpus:\n  - {hbm_gib: 96}\n", "<t>"), InputError);

  // A chain of bases reaches a calibration (y -> x -> h100-sxm), and a calibration entry must
  // name a gpu: an alias or a typo is an error, not an entry that nothing uses.
  const Catalog chain =
      Catalog::with_overrides_text("gpus:\n  - {name: x, base: h100-sxm}\n  - {name: y, base: x}\n", "<t>");
  EXPECT_DOUBLE_EQ(chain.gpu("y").calibration.hbm_efficiency, h.calibration.hbm_efficiency);
  EXPECT_EQ(chain.gpu("y").calibration.basis, h.calibration.basis);
  for (const char* key : {"h100", "h100-sxn"}) {
    try {
      (void)Catalog::with_overrides_text(std::string("calibration:\n  ") + key + ": {hbm_efficiency: 0.5}\n", "<t>");
      FAIL() << key << " accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), std::string("calibration.") + key);
      EXPECT_NE(std::string(e.what()).find("h100-sxm"), std::string::npos);
    }
  }
  // Re-basing an existing name keeps its aliases and takes the new base's calibration.
  const Catalog rebased = Catalog::with_overrides_text("gpus:\n  - {name: h100-sxm, base: h200}\n", "<t>");
  EXPECT_EQ(rebased.gpu("h100").name, "h100-sxm");
  EXPECT_DOUBLE_EQ(rebased.gpu("h100-sxm").hbm_gib, b.gpu("h200").hbm_gib);
  EXPECT_EQ(rebased.gpu("h100-sxm").calibration.basis, b.gpu("h200").calibration.basis);
}

// Fields a base model derives follow the inputs an entry overrides, unless the entry gives them
// (and a reshaped model drops the base's published parameter count):
// Mixtral's experts, shared and dense FFN sizes equal its ffn_hidden, so they follow it; a
// grouped-query model keeps its KV heads when only the query heads change (an MHA one stays MHA).
TEST(CatalogOverrides, DerivedModelFieldsFollowTheOverriddenInputs) {
  const ModelSpec& mix = Catalog::builtin().model("mixtral-8x7b");
  ASSERT_EQ(mix.moe.ffn_hidden, mix.ffn_hidden);
  const Catalog small = Catalog::with_overrides_text(
      "models:\n  - {name: mix-small, base: mixtral-8x7b, ffn_hidden: 7168}\n"
      "  - {name: mix-big-experts, base: mixtral-8x7b, moe: {ffn_hidden: 28672}}\n"
      "  - {name: l70-32h, base: llama3-70b, heads: 32}\n  - {name: l2-7b-16h, base: llama2-7b, heads: 16}\n",
      "<t>");
  const ModelSpec& m = small.model("mix-small");
  EXPECT_EQ(m.moe.ffn_hidden, 7168);
  EXPECT_EQ(m.moe.dense_ffn_hidden, 7168);
  EXPECT_EQ(small.model("mix-big-experts").moe.ffn_hidden, 28672);
  EXPECT_EQ(small.model("mix-big-experts").ffn_hidden, mix.ffn_hidden);
  EXPECT_EQ(small.model("l70-32h").kv_heads, 8);
  EXPECT_EQ(small.model("l70-32h").head_dim, 256);
  EXPECT_EQ(small.model("l2-7b-16h").kv_heads, 16);
  EXPECT_EQ(m.params_b, 0.0);  // the base's published count does not describe a reshaped model
  EXPECT_EQ(Catalog::with_overrides_text("models:\n  - {name: llama3-70b, description: x}\n", "<t>").model("llama3-70b").params_b,
            Catalog::builtin().model("llama3-70b").params_b);
}

// A scenario model may name its catalog base explicitly and take a new name.
TEST(InlineSpecs, ModelWithBaseOverridesOnlyTheGivenFields) {
  const Scenario s = parse_scenario(
      "model: {base: llama3-70b, name: llama3-70b-half, layers: 40}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
      "parallel: {tp: 8, pp: 1, dp: 1}\ntraining: {seq_len: 4096, global_batch: 8}\n",
      "<t>");
  EXPECT_EQ(s.model.name, "llama3-70b-half");
  EXPECT_EQ(s.model.layers, 40);
  EXPECT_EQ(s.model.hidden, 8192);
  EXPECT_THROW(parse_scenario("model: {base: llama9}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n", "<t>"), InputError);
}

TEST(JsonInput, ParsesTheSameAsYaml) {
  const std::string json = R"({
    "model": {"name": "llama3-70b"},
    "cluster": {"gpu": "h100-sxm", "num_gpus": 1024},
    "parallel": {"tp": 8, "pp": 4, "vpp": 5, "cp": 1, "micro_batch": 1, "sequence_parallel": true,
                 "recompute": "selective", "zero": 1},
    "training": {"seq_len": 8192, "global_batch": 512, "precision": "bf16", "tokens": 15.0e12}
  })";
  const Scenario from_json = parse_scenario(json, "test.json");
  const Scenario from_yaml = parse_default();
  EXPECT_EQ(scenario_to_json(from_json).dump(), scenario_to_json(from_yaml).dump());
  EXPECT_EQ(from_json.parallel.dp, 32);
}

TEST(JsonInput, UnknownKeyInJsonIsNamed) {
  const InputError e = input_error(R"({"model": "llama3-70b", "cluster": {"gpu": "h100-sxm", "num_gpus": 8, "nics": 1}})");
  EXPECT_EQ(e.field(), "cluster.nics");
}

// Two overrides give the same field (the later one would win silently) or compose.
TEST(Overrides, ConflictWhenBothGiveOneField) {
  EXPECT_TRUE(overrides_conflict({"parallel.tp", "2"}, {"parallel.tp", "4"}));
  EXPECT_TRUE(overrides_conflict({"parallel", "{tp: 2}"}, {"parallel.tp", "4"}));
  EXPECT_TRUE(overrides_conflict({"parallel", "{\"tp\": 2}"}, {"parallel.tp", "4"}));       // JSON keys
  EXPECT_FALSE(overrides_conflict({"parallel", "{pp: 4, overlap: {tp: false}}"}, {"parallel.tp", "8"}));
  EXPECT_FALSE(overrides_conflict({"parallel", "{pp: 4}  # tp: 2"}, {"parallel.tp", "8"}));  // a comment
  EXPECT_TRUE(overrides_conflict({"serving.input_len.max", "9"}, {"serving.input_len", "{dist: fixed, mean: 5}"}));
  EXPECT_FALSE(overrides_conflict({"model.layers", "48"}, {"model", "llama3-8b"}));           // name + field
  EXPECT_FALSE(overrides_conflict({"model", "{layers: 48}"}, {"model", "llama3-8b"}));
  EXPECT_TRUE(overrides_conflict({"model", "{name: llama3-70b}"}, {"model", "llama3-8b"}));
  EXPECT_TRUE(overrides_conflict({"model", "llama3-70b"}, {"model", "{layers: 48}"}));        // the mapping replaces the name
  EXPECT_FALSE(overrides_conflict({"model", "llama3-8b"}, {"model.layers", "48"}));
  EXPECT_TRUE(overrides_conflict({"model", "llama3-8b"}, {"model.name", "llama3-70b"}));
  EXPECT_FALSE(overrides_conflict({"parallel.tp", "2"}, {"parallel.tpx", "4"}));             // a prefix, not a parent
  EXPECT_FALSE(overrides_conflict({"parallel", "{tp: [1"}, {"parallel.tp", "4"}));           // malformed: reported elsewhere
}

}  // namespace
}  // namespace wanka
