#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cmath>
#include <sstream>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/yaml_util.hpp"
#include "wanka/error.hpp"
#include "wanka/io.hpp"

namespace wanka {

namespace {
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::vector<std::string> closest_names(std::string_view name, const std::vector<std::string>& known,
                                       std::size_t limit) {
  std::vector<std::pair<std::size_t, std::string>> scored;
  scored.reserve(known.size());
  // Case does not count as a difference (H100-SXM -> h100-sxm): names are compared lower-cased.
  const auto lower = [](std::string_view x) {
    std::string out(x);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  const std::string lname = lower(name);
  name = lname;
  for (const auto& known_name : known) {
    const std::string k = lower(known_name);
    std::size_t d = edit_distance(name, k);
    // A known name that contains the query (or the reverse) is a strong hint.
    if (!name.empty() && (k.find(name) != std::string::npos || name.find(k) != std::string_view::npos)) {
      d = std::min<std::size_t>(d, 1);
    }
    scored.emplace_back(d, known_name);
  }
  std::sort(scored.begin(), scored.end());
  // Close means a typo away: about one edit per three characters, at least two (h10 -> h100,
  // lama3-70b -> llama3-70b, paralel -> parallel); "xyzzy-9000" has no close gpu.
  const std::size_t bound = std::max<std::size_t>(2, name.size() / 3);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && out.size() < limit && scored[i].first <= bound; ++i) {
    out.push_back(scored[i].second);
  }
  return out;
}

std::string unknown_name_message(std::string_view kind, std::string_view name, const std::vector<std::string>& known) {
  std::string msg = "unknown " + std::string(kind) + " '" + std::string(name) + "'";
  auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
    return out;
  };
  if (const auto c = closest_names(name, known); !c.empty()) return msg + " (closest: " + list(c) + ")";
  // Nothing close: the catalog's long lists are shown by `wanka catalog`; a short list of
  // choices (an enum, a block's keys) is given whole.
  if (kind == "gpu" || kind == "model" || kind == "network" || kind == "scale-up link") return msg + " (see `wanka catalog`)";
  if (!known.empty() && known.size() <= 20) return msg + " (one of: " + list(known) + ")";
  return msg;
}

namespace yaml {

std::string where(const YAML::Node& n) {
  const auto m = n.Mark();
  if (m.is_null() || m.line < 0) return "";
  return " (line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1) + ")";
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() || (!key.empty() && key.front() == '[') ? path + key : path + "." + key;
}

static std::string scalar(const YAML::Node& n, const std::string& path, const char* what) {
  if (!n.IsScalar()) throw InputError(path, std::string("expected ") + what + where(n));
  return n.Scalar();
}

double as_double(const YAML::Node& n, const std::string& path, double lo, double hi) {
  const std::string s = scalar(n, path, "a number");
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(begin, &end);
  while (end && *end == ' ') ++end;
  if (s.empty() || end == begin || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    throw InputError(path, "'" + s + "' is not a number" + where(n));
  }
  if (v < lo || v > hi) {
    // Whole bounds up to 2^53 exactly (a seed's 9007199254740992, not 9.0072e+15).
    const auto bound = [](double b) {
      return b == std::floor(b) && std::fabs(b) <= 0x1p53 ? fmt::format("{:.0f}", b) : fmt::format("{:g}", b);
    };
    throw InputError(path, "value " + s + " is out of range [" + bound(lo) + ", " + bound(hi) + "]" + where(n));
  }
  return v;
}

long as_long(const YAML::Node& n, const std::string& path, long lo, long hi) {
  double v = as_double(n, path, static_cast<double>(lo), static_cast<double>(hi));
  if (v != std::floor(v)) throw InputError(path, "expected an integer, got " + n.Scalar() + where(n));
  // double(LONG_MAX) rounds up to 2^63, which does not convert: refuse it as out of range.
  if (!(v < 0x1p63 && v >= -0x1p63)) throw InputError(path, "out of range, got " + n.Scalar() + where(n));
  return static_cast<long>(v);
}

bool as_bool(const YAML::Node& n, const std::string& path) {
  // YAML 1.1's boolean spellings in any case (True, TRUE, Yes, Off, ...).
  std::string s = scalar(n, path, "true or false");
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  s = n.Scalar();
  throw InputError(path, "expected true or false, got '" + s + "'" + where(n));
}

std::string as_string(const YAML::Node& n, const std::string& path) {
  return scalar(n, path, "a string");
}

void require_map(const YAML::Node& n, const std::string& path) {
  if (!n.IsMap()) throw InputError(path, "expected a mapping of keys to values" + where(n));
}

void check_keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> known) {
  require_map(n, path);
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) throw InputError(path, "keys must be strings" + where(kv.first));
    const std::string key = kv.first.Scalar();
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) {
      std::vector<std::string> names(known.begin(), known.end());
      throw InputError(join(path, key), unknown_name_message("key", key, names) + where(kv.first));
    }
  }
}

namespace {

// yaml-cpp keeps a map's duplicate keys and lookups return the first: `{num_gpus: 8,
// num_gpus: 16}` would silently run on 8. Every map of the document is checked (iteratively: a
// deeply nested document must not exhaust the stack).
// Aliases are walked where they are used, so a document of nested aliases ("billion laughs")
// is refused past kMaxNodes visits instead of walked for hours; scenarios and catalogs have
// hundreds of nodes.
constexpr std::size_t kMaxNodes = 1'000'000;
// An alias inside the node it names (`a: &a [*a]`) makes the document a cycle: the walk would
// go down it until kMaxNodes, building ever longer paths (a million of them, megabytes each).
// Scenarios nest a few levels; no document may nest deeper than this.
constexpr std::size_t kMaxDepth = 1'000;

void refuse_duplicate_keys(const YAML::Node& root, const std::string& origin) {
  // Each visited node's step from its parent (a key, or "[i]"), so that a path is only built
  // for an error.
  struct Step {
    std::size_t parent;
    std::string key;
  };
  std::vector<Step> steps{{0, ""}};
  // The path of step i, its first `most` components and "..." after them.
  const auto path_of = [&](std::size_t i, std::size_t most = std::numeric_limits<std::size_t>::max()) {
    std::vector<const std::string*> keys;
    for (; i != 0; i = steps[i].parent) keys.push_back(&steps[i].key);
    std::string path;
    std::size_t n = 0;
    for (auto k = keys.rbegin(); k != keys.rend(); ++k, ++n) {
      if (n == most) return path + "...";
      if (!path.empty() && ((*k)->empty() || (*k)->front() != '[')) path += '.';
      path += **k;
    }
    return path;
  };
  struct Todo {
    YAML::Node node;
    std::size_t step, depth;
  };
  std::vector<Todo> todo{{root, 0, 0}};
  std::size_t visited = 0;
  while (!todo.empty()) {
    const Todo t = std::move(todo.back());
    todo.pop_back();
    if (++visited > kMaxNodes) throw InputError("", origin + ": more than 1e6 YAML nodes (aliases expanded)");
    if (t.depth > kMaxDepth) {
      throw InputError(path_of(t.step, 4),
                       "nested deeper than 1000 levels (an alias inside the node it names?)" + where(t.node));
    }
    const auto push = [&](const YAML::Node& child, std::string key) {
      steps.push_back({t.step, std::move(key)});
      todo.push_back({child, steps.size() - 1, t.depth + 1});
    };
    if (t.node.IsMap()) {
      std::unordered_set<std::string> seen;
      for (const auto& kv : t.node) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
        if (kv.first.IsScalar() && !seen.insert(key).second) {
          throw InputError(join(path_of(t.step), key), "duplicate key" + where(kv.first));
        }
        push(kv.second, key);
      }
    } else if (t.node.IsSequence()) {
      std::size_t i = 0;
      for (const auto& item : t.node) {
        std::string key(1, '[');
        key += std::to_string(i++);
        key += ']';
        push(item, std::move(key));
      }
    }
  }
}

// The documents of a YAML stream that hold something: documents start at a `---` line and
// end at a `...` line (both at column 0); blank, comment and directive lines hold nothing.
// yaml-cpp's Load reads the first and ignores the rest, and its LoadAll loops forever on some
// malformed input (found by fuzzing: the one-byte document ","), so the count is taken here.
// `empty_end` is set to the line of a `...` that ends a document before anything held content
// (0 if none): yaml-cpp's Load returns that empty document, not the content after it.
std::size_t documents_with_content(const std::string& text, std::size_t& empty_end) {
  std::size_t docs = 0, line_no = 0;
  empty_end = 0;
  bool open = false, has = false;
  std::size_t at = utf8_bom_length(text);  // which yaml-cpp skips
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + at, end - at);
    at = end + 1;
    ++line_no;
    const auto marker = [&](std::string_view m) {
      return line.substr(0, 3) == m && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    };
    if (marker("...") && docs == 0 && !has && empty_end == 0) empty_end = line_no;
    if (marker("---") || marker("...")) {
      // A document ends here: it counts if it held something, or if it was opened by `---`
      // and another follows (yaml-cpp's Load then returns that empty first document).
      if (has || (open && docs == 0 && marker("---"))) ++docs;
      has = false;
      open = marker("---");
      line.remove_prefix(3);
    } else if (!line.empty() && line[0] == '%' && !open && !has) {
      continue;  // a directive
    }
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') has = true;
  }
  return docs + (has ? 1 : 0);
}

}  // namespace

YAML::Node parse(const std::string& text, const std::string& origin) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string msg = origin;
    std::string hint;
    if (!e.mark.is_null()) {
      msg += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
      // A tab in the indentation of the line read or the one before it is the usual cause of
      // yaml-cpp's "illegal map value".
      std::istringstream in(text);
      std::string line;
      for (int i = 0; std::getline(in, line) && i <= e.mark.line; ++i) {
        if (i < e.mark.line - 1) continue;
        const std::size_t first = line.find_first_not_of(" \t");
        if (line.substr(0, first).find('\t') != std::string::npos && e.msg.find("tab") == std::string::npos) {
          hint = " (a tab in the indentation? YAML indents with spaces)";
        }
      }
    }
    // yaml-cpp's "bad file" past its nesting limit.
    if (e.msg == "bad file") hint = " (nested too deeply?)";
    throw InputError("", msg + ": malformed YAML: " + e.msg + hint);
  }
  // Empty documents after the first (a trailing `---`) are harmless.
  std::size_t empty_end = 0;
  const std::size_t n = documents_with_content(text, empty_end);
  if (n > 1) throw InputError("", origin + ": " + std::to_string(n) + " YAML documents; give one");
  if (n == 1 && empty_end > 0) {
    throw InputError("", origin + ":" + std::to_string(empty_end) +
                             ": '...' ends an empty YAML document before the content, which would be ignored; remove it");
  }
  refuse_duplicate_keys(doc, origin);
  return doc;
}

}  // namespace yaml
}  // namespace wanka
