// HTML text escaping, shared by the pages zcopy generates (bench reports, directory listings):
// & < > " ' as character references, so any file name or label stays text in element content and
// in quoted attribute values.
#pragma once

#include <string>
#include <string_view>

namespace zcopy::detail {

std::string html_escape(std::string_view text);

}  // namespace zcopy::detail
