// `zcopy get -r`'s listings: parse_remote_listing on any bytes, and the URL each accepted entry
// becomes.
//
// Invariants, for every listing that parses:
//   - every entry's name is one path component (unsafe_name says nothing against it): never
//     empty, ".", "..", with '/' or NUL, or longer than NAME_MAX; no name twice; no NAME.part or
//     NAME.part.meta beside a NAME;
//   - every refused entry says why;
//   - the URL the mirror asks for an entry ("http://example.com/top/dir/" + the encoded name, '/'
//     after a directory's) resolves, stays under "/top/dir/", and names exactly one more level.
#include <set>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/remote_listing.hpp"
#include "http/target.hpp"
#include "http/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zcopy::http;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto now = std::chrono::sys_seconds(std::chrono::seconds(1'800'000'000));
  const auto parsed = parse_remote_listing(input, now);
  if (!parsed) {
    ZCOPY_FUZZ_CHECK(!parsed.error().empty());
    return 0;
  }
  static const auto base = parse_url("http://example.com/top/dir/");
  ZCOPY_FUZZ_CHECK(base.has_value());
  std::set<std::string> names;
  for (const remote_entry& e : parsed->entries) {
    ZCOPY_FUZZ_CHECK(!unsafe_name(e.name).has_value());
    ZCOPY_FUZZ_CHECK(names.insert(e.name).second);
    const bool directory = e.type == remote_entry::kind::directory;
    ZCOPY_FUZZ_CHECK(!directory || !e.size.has_value());
    const auto u = resolve_reference(*base, percent_encode_path(e.name) + (directory ? "/" : ""));
    ZCOPY_FUZZ_CHECK(u.has_value());
    const std::string_view path = u->path();
    ZCOPY_FUZZ_CHECK(path.starts_with("/top/dir/"));
    std::string_view rest = path.substr(9);
    if (directory) {
      ZCOPY_FUZZ_CHECK(rest.ends_with('/'));
      rest.remove_suffix(1);
    }
    ZCOPY_FUZZ_CHECK(!rest.empty() && rest.find('/') == std::string_view::npos);
    const auto decoded = percent_decode(rest);
    ZCOPY_FUZZ_CHECK(decoded && *decoded == e.name);
  }
  for (const remote_entry& e : parsed->entries) {
    for (std::string_view suffix : {std::string_view(".part"), std::string_view(".part.meta")}) {
      if (e.name.ends_with(suffix)) {
        ZCOPY_FUZZ_CHECK(!names.contains(e.name.substr(0, e.name.size() - suffix.size())));
      }
    }
  }
  for (const refused_entry& r : parsed->refused) ZCOPY_FUZZ_CHECK(!r.reason.empty());
  return 0;
}
