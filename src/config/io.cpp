#include "wanka/io.hpp"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "wanka/error.hpp"

namespace wanka {

std::string read_text_file(const std::string& path, const std::string& field, const std::string& what) {
  const std::string name = (what.empty() ? "" : what + " ") + "'" + path + "'";
  std::error_code ec;
  // libstdc++ opens a directory and then throws from the first read (ios_base::failure).
  if (std::filesystem::is_directory(path, ec)) throw InputError(field, "cannot read " + name + ": it is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // The operating system's reason, as the output writer gives it (open sets errno).
    const int err = errno;
    throw InputError(field, "cannot read " + name + (err ? ": " + std::generic_category().message(err) : std::string()));
  }
  try {
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (in.bad()) throw InputError(field, "cannot read " + name);
    return text;
  } catch (const std::ios_base::failure&) {
    throw InputError(field, "cannot read " + name);
  }
}

}  // namespace wanka
