// ASCII text helpers shared by the protocol front ends: HTTP header names, tokens and lists are
// ASCII and compared without regard to case.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace switchboard::core {

char ascii_lower(char c);
std::string ascii_lowered(std::string_view text);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view text, std::string_view prefix);
// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view text);
// "a, b ,c" => trimmed, non-empty entries (header lists: tokens, listener ids, sub-protocols).
std::vector<std::string> split_comma_list(std::string_view value);
// HTTP/1.1 hop-by-hop headers, which a relay or proxy does not pass on (the list of the Hybrid
// Connections document, sections 5.2 and 5.5).
bool hop_by_hop_header(std::string_view name);

}  // namespace switchboard::core
