#include "http/remote_listing.hpp"

#include <climits>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "http/date.hpp"

namespace zcopy::http {

std::optional<std::string> unsafe_name(std::string_view name) {
  if (name.empty()) return "an empty name";
  if (name == "." || name == "..")
    return "a name that is a path step ('" + std::string(name) + "')";
  if (name.find('/') != std::string_view::npos) return "a name with '/'";
  if (name.find('\0') != std::string_view::npos) return "a name with a NUL byte";
  if (name.size() > NAME_MAX) return "a name longer than " + std::to_string(NAME_MAX) + " bytes";
  return std::nullopt;
}

std::expected<remote_listing, std::string> parse_remote_listing(std::string_view text,
                                                                std::chrono::sys_seconds now) {
  using nlohmann::json;
  // No exceptions for bad input: a discarded value is the parser's "not JSON".
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return std::unexpected(std::string("not valid JSON (or not UTF-8)"));
  if (!doc.is_array()) return std::unexpected(std::string("not a JSON array"));
  remote_listing out;
  std::unordered_set<std::string> seen;
  for (const json& item : doc) {
    if (!item.is_object()) return std::unexpected(std::string("an entry that is not an object"));
    const auto name_it = item.find("name");
    const auto type_it = item.find("type");
    if (name_it == item.end() || !name_it->is_string() || type_it == item.end() ||
        !type_it->is_string()) {
      return std::unexpected(std::string("an entry without a string name and type"));
    }
    remote_entry e;
    e.name = name_it->get<std::string>();
    const std::string& type = type_it->get_ref<const std::string&>();
    if (type == "file") {
      e.type = remote_entry::kind::file;
    } else if (type == "directory") {
      e.type = remote_entry::kind::directory;
    } else {
      ++out.skipped;
      continue;
    }
    if (auto why = unsafe_name(e.name)) {
      out.refused.push_back({e.name, *why});
      continue;
    }
    if (!seen.insert(e.name).second) {
      out.refused.push_back({e.name, "a name given twice"});
      continue;
    }
    if (const auto size = item.find("size");
        size != item.end() && e.type == remote_entry::kind::file) {
      if (!size->is_number_unsigned()) {
        out.refused.push_back({e.name, "a size that is not a whole number of bytes"});
        continue;
      }
      e.size = size->get<std::uint64_t>();
    }
    if (const auto mtime = item.find("mtime"); mtime != item.end()) {
      const auto parsed = mtime->is_string()
                              ? parse_http_date(mtime->get_ref<const std::string&>(), now)
                              : std::nullopt;
      if (!parsed) {
        out.refused.push_back({e.name, "a modification time that is not an HTTP date"});
        continue;
      }
      e.mtime = *parsed;
    }
    out.entries.push_back(std::move(e));
  }
  // NAME.part and NAME.part.meta are where NAME's download goes: a listing that also offers
  // files of those names would have two downloads write one file.
  std::erase_if(out.entries, [&](const remote_entry& e) {
    for (std::string_view suffix : {std::string_view(".part"), std::string_view(".part.meta")}) {
      if (e.name.size() > suffix.size() && e.name.ends_with(suffix) &&
          seen.contains(e.name.substr(0, e.name.size() - suffix.size()))) {
        out.refused.push_back({e.name, "a name the download of another entry uses"});
        return true;
      }
    }
    return false;
  });
  return out;
}

}  // namespace zcopy::http
