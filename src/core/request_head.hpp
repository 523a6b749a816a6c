// A parsed HTTP request head, with header names spelled and ordered as received (the Hybrid
// Connections accept message forwards them that way).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/text.hpp"

namespace switchboard::core {

struct Header {
  std::string name;
  std::string value;
};

struct RemoteEndpoint {
  std::string address;  // IPv6 without brackets
  std::uint16_t port = 0;
};

struct RequestHead {
  std::string method;
  std::string target;
  unsigned version = 11;  // 10 or 11
  std::vector<Header> headers;

  // First value of a header, case-insensitive.
  std::optional<std::string_view> find(std::string_view name) const;
  // Whether a comma-separated header (Connection, Upgrade) contains a token, case-insensitive.
  bool has_token(std::string_view name, std::string_view token) const;
  bool is_websocket_upgrade() const;
  std::string_view path() const;   // target up to '?'
  std::string_view query() const;  // after '?', empty if none
  bool has_query() const;
};

// The WebSocket form of the public URL ("http" -> "ws", "https" -> "wss", no trailing '/'), or
// else ws[s]://{Host} of the request: the base of addresses handed to clients.
std::string websocket_base_url(std::string_view public_url, const RequestHead& request,
                               bool secure);

}  // namespace switchboard::core
