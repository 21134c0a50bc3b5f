// Reading input files: the whole file or an InputError, never a crash (a directory, a file that
// vanishes or fails while being read).
#pragma once

#include <string>
#include <string_view>

namespace wanka {

// The whole file, or InputError naming `field`: "cannot read [what ]'path'" (with the reason
// when the path is a directory).
std::string read_text_file(const std::string& path, const std::string& field, const std::string& what = "");

// The length of a UTF-8 byte-order mark at the start of `text` (3), else 0: the text parsers
// (YAML documents, serving and cluster traces) skip one, as spreadsheet exports write it.
inline std::size_t utf8_bom_length(std::string_view text) { return text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0; }

}  // namespace wanka
