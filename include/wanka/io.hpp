// Reading input files: the whole file or an InputError, never a crash (a directory, a file that
// vanishes or fails while being read).
#pragma once

#include <string>

namespace wanka {

// The whole file, or InputError naming `field`: "cannot read [what ]'path'" (with the reason
// when the path is a directory).
std::string read_text_file(const std::string& path, const std::string& field, const std::string& what = "");

}  // namespace wanka
