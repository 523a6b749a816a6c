// Members of the relay's control messages (section 3.5), read leniently: a missing or mistyped
// member reads as empty.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "switchboard/client/websocket.hpp"

namespace switchboard::client {

inline std::string string_member(const boost::json::object& object, std::string_view key) {
  const auto* v = object.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// connectHeaders, requestHeaders: string values only.
inline Headers headers_member(const boost::json::object& object, std::string_view key) {
  Headers out;
  const auto* v = object.if_contains(key);
  if (!v || !v->is_object()) return out;
  for (const auto& [name, value] : v->as_object()) {
    if (value.is_string()) out.emplace_back(std::string(name), std::string(value.as_string()));
  }
  return out;
}

// remoteEndpoint {address, port}; left as they are when absent.
inline void remote_endpoint_member(const boost::json::object& object, std::string& address,
                                   std::uint16_t& port) {
  const auto* v = object.if_contains("remoteEndpoint");
  if (!v || !v->is_object()) return;
  address = string_member(v->as_object(), "address");
  const auto* p = v->as_object().if_contains("port");
  if (p && p->is_int64()) port = static_cast<std::uint16_t>(p->as_int64());
}

}  // namespace switchboard::client
