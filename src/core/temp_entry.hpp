// temp_entry: a name in a directory that is removed unless committed, for the file, link or node
// a copy or a download builds under a temporary name before renaming it over its destination.
// Internal to libzcopy (src/copy, src/http).
//
// Ownership: a temp_entry owns its name but borrows the directory descriptor, which must outlive
// it.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace zcopy::detail {

// A fresh name ".NAME.zcopy-XXXXXX" beside `name`, kept within NAME_MAX.
std::string temp_name(std::string_view name);

// A name in a directory that is removed when this goes out of scope, unless committed: the
// temporary file, symlink or node a copy builds before renaming it over the destination.
class temp_entry {
 public:
  temp_entry() = default;
  temp_entry(int dirfd, std::string name) : dirfd_(dirfd), name_(std::move(name)) {}
  temp_entry(temp_entry&& other) noexcept : dirfd_(other.dirfd_), name_(std::move(other.name_)) {
    other.name_.clear();
  }
  temp_entry& operator=(temp_entry&&) = delete;
  temp_entry(const temp_entry&) = delete;
  ~temp_entry();

  const std::string& name() const noexcept { return name_; }
  void commit() noexcept { name_.clear(); }

 private:
  int dirfd_ = -1;
  std::string name_;
};

// Creates something under a temporary name in `dirfd` with `make(name)` (EEXIST: try another
// name) and returns the owner of that name.
template <class Make>
std::expected<temp_entry, std::error_code> create_temp(int dirfd, std::string_view base,
                                                       Make&& make) {
  for (int attempt = 0;; ++attempt) {
    std::string name = temp_name(base);
    std::error_code ec = make(name);
    if (!ec) return temp_entry(dirfd, std::move(name));
    if (ec != std::errc::file_exists || attempt >= 100) return std::unexpected(ec);
  }
}

}  // namespace zcopy::detail
