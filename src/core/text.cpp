#include "core/text.hpp"

#include <algorithm>

namespace switchboard::core {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string ascii_lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::vector<std::string> split_comma_list(std::string_view value) {
  std::vector<std::string> entries;
  while (true) {
    const auto comma = value.find(',');
    const auto entry = trim(value.substr(0, comma));
    if (!entry.empty()) entries.emplace_back(entry);
    if (comma == std::string_view::npos) return entries;
    value.remove_prefix(comma + 1);
  }
}

bool hop_by_hop_header(std::string_view name) {
  for (std::string_view h : {"Connection", "Content-Length", "Transfer-Encoding", "Keep-Alive",
                             "TE", "Trailer", "Upgrade", "Proxy-Connection", "Close"}) {
    if (iequals(name, h)) return true;
  }
  return false;
}

}  // namespace switchboard::core
