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

}  // namespace switchboard::core
