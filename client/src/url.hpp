// The parts of a ws://, wss://, http:// or https:// URL that opening a connection needs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace switchboard::client {

struct ParsedUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  unsigned short port = 0;
  std::string authority;  // for the Host header: host[:port] as written
  std::string target;     // origin form: path and query, "/" at least
};

std::optional<ParsedUrl> parse_url(std::string_view url);

// `url` with sb-hc-action=`action` appended unless it names an action already.
std::string with_action(std::string url, std::string_view action);

// `url` with `name=value` appended to its query ('?' or '&'); value is percent-encoded.
std::string with_query_param(std::string_view url, std::string_view name, std::string_view value);

}  // namespace switchboard::client
