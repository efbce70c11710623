// `zcopy get`'s URLs: parse_url, resolve_reference (redirects) and file_name_from (-O).
//
// Input: "<URL>" or "<base URL>\n<reference>" (a base that does not parse is replaced by
// "http://example.com/a/b?q").
//
// Invariants, for every URL that parses or resolves:
//   - scheme "http", a non-empty host, a port in 1..65535, a target that starts with '/' and holds
//     only printable ASCII (what a request line may carry), no fragment;
//   - text() parses back to the same scheme, host, port and target, and authority() is what
//     text() puts between "http://" and the target;
//   - resolving "" or "#frag" against a URL gives the URL itself; resolving its own text() too;
//   - file_name_from: a non-empty name without '/' or NUL, never "." or "..".
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/url.hpp"

namespace {

using namespace zcopy::http;

bool same(const url& a, const url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port && a.target == b.target;
}

void check_url(const url& u) {
  ZCOPY_FUZZ_CHECK(u.scheme == "http");
  ZCOPY_FUZZ_CHECK(!u.host.empty());
  ZCOPY_FUZZ_CHECK(u.port != 0);
  ZCOPY_FUZZ_CHECK(!u.target.empty() && u.target.front() == '/');
  for (const char c : u.target) {
    const auto b = static_cast<unsigned char>(c);
    ZCOPY_FUZZ_CHECK(b > 0x20 && b < 0x7f && c != '#');
  }
  ZCOPY_FUZZ_CHECK(u.path().size() <= u.target.size());
  const std::string text = u.text();
  ZCOPY_FUZZ_CHECK(text == "http://" + u.authority() + u.target);
  const auto again = parse_url(text);
  ZCOPY_FUZZ_CHECK(again.has_value());
  ZCOPY_FUZZ_CHECK(same(*again, u));
  const auto self = resolve_reference(u, "");
  ZCOPY_FUZZ_CHECK(self && same(*self, u));
  const auto fragment = resolve_reference(u, "#top");
  ZCOPY_FUZZ_CHECK(fragment && same(*fragment, u));
  const auto absolute = resolve_reference(u, text);
  ZCOPY_FUZZ_CHECK(absolute && same(*absolute, u));
  if (const auto name = file_name_from(u)) {
    ZCOPY_FUZZ_CHECK(!name->empty() && *name != "." && *name != "..");
    ZCOPY_FUZZ_CHECK(name->find('/') == std::string::npos);
    ZCOPY_FUZZ_CHECK(name->find('\0') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const auto u = parse_url(input)) {
    check_url(*u);
  } else {
    ZCOPY_FUZZ_CHECK(u.error().code && !u.error().reason.empty());
  }

  const std::size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto base = parse_url(input.substr(0, nl));
  if (!base) base = parse_url("http://example.com/a/b?q");
  ZCOPY_FUZZ_CHECK(base.has_value());
  if (const auto r = resolve_reference(*base, input.substr(nl + 1))) {
    check_url(*r);
  } else {
    ZCOPY_FUZZ_CHECK(r.error().code && !r.error().reason.empty());
  }
  (void)percent_decode(input.substr(nl + 1));
  return 0;
}
