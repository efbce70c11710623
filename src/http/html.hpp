// Text helpers shared by the pages zcopy generates (bench reports, directory listings): HTML
// escaping (& < > " ' as character references, so any file name or label stays text in element
// content and in quoted attribute values) and digit grouping for the numbers they show.
#pragma once

#include <string>
#include <string_view>

namespace zcopy::detail {

std::string html_escape(std::string_view text);

// "12345" as "12,345": a run of decimal digits with a comma between each group of three.
std::string group_digits(std::string_view digits);

}  // namespace zcopy::detail
