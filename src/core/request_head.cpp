#include "core/request_head.hpp"

#include "core/text.hpp"

namespace switchboard::core {

std::optional<std::string_view> RequestHead::find(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

bool RequestHead::has_token(std::string_view name, std::string_view token) const {
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    for (const auto& entry : split_comma_list(h.value)) {
      if (iequals(entry, token)) return true;
    }
  }
  return false;
}

bool RequestHead::is_websocket_upgrade() const {
  return method == "GET" && has_token("Connection", "upgrade") && has_token("Upgrade", "websocket");
}

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view RequestHead::query() const {
  std::string_view t = target;
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

bool RequestHead::has_query() const {
  return target.find('?') != std::string::npos;
}

std::string websocket_base_url(std::string_view public_url, const RequestHead& request,
                               bool secure) {
  if (!public_url.empty()) {
    while (public_url.ends_with('/')) public_url.remove_suffix(1);
    if (istarts_with(public_url, "https://")) return "wss://" + std::string(public_url.substr(8));
    if (istarts_with(public_url, "http://")) return "ws://" + std::string(public_url.substr(7));
    return std::string(public_url);
  }
  return (secure ? "wss://" : "ws://") + std::string(request.find("Host").value_or("localhost"));
}

}  // namespace switchboard::core
