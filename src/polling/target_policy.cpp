#include "polling/target_policy.hpp"

#include <boost/url/parse.hpp>

#include "core/text.hpp"

namespace switchboard::polling {
namespace {

std::string default_port(std::string_view port, bool secure) {
  return port.empty() ? (secure ? "443" : "80") : std::string(port);
}

bool public_v4(const boost::asio::ip::address_v4& a) {
  const auto b = a.to_bytes();
  if (a.is_loopback() || a.is_unspecified() || a.is_multicast()) return false;
  if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168))
    return false;                                        // RFC 1918
  if (b[0] == 100 && (b[1] & 0xC0) == 64) return false;  // 100.64.0.0/10
  if (b[0] == 169 && b[1] == 254) return false;          // link-local
  if (b[0] == 0 || b[0] >= 240 || a == boost::asio::ip::address_v4::broadcast()) return false;
  return true;
}

}  // namespace

std::optional<TargetPattern> parse_target_pattern(std::string_view text, bool allow_private) {
  const auto url = boost::urls::parse_uri(text);
  if (!url || (url->scheme() != "ws" && url->scheme() != "wss") || !url->has_authority() ||
      url->host().empty() || url->has_userinfo() || url->has_query() || url->has_fragment()) {
    return std::nullopt;
  }
  TargetPattern pattern;
  pattern.secure = url->scheme() == "wss";
  pattern.host = core::ascii_lowered(url->host());
  if (pattern.host.starts_with("*.")) {
    pattern.subdomains = true;
    pattern.host.erase(0, 2);
  }
  if (pattern.host.empty() || pattern.host.find('*') != std::string::npos) return std::nullopt;
  pattern.port = default_port(url->port(), pattern.secure);
  pattern.path_prefix = std::string(url->encoded_path());
  while (pattern.path_prefix.ends_with('/')) pattern.path_prefix.pop_back();
  pattern.allow_private = allow_private;
  return pattern;
}

const TargetPattern* match_target(const std::vector<TargetPattern>& patterns, bool secure,
                                  std::string_view host, std::string_view port,
                                  std::string_view path) {
  const std::string lower = core::ascii_lowered(host);
  const std::string defaulted = default_port(port, secure);
  for (const auto& p : patterns) {
    if (p.secure != secure || p.port != defaulted) continue;
    const bool host_ok = p.subdomains
                             ? lower.size() > p.host.size() + 1 && lower.ends_with(p.host) &&
                                   lower[lower.size() - p.host.size() - 1] == '.'
                             : lower == p.host;
    if (!host_ok) continue;
    if (!p.path_prefix.empty() && !(path == p.path_prefix || (path.starts_with(p.path_prefix) &&
                                                              path[p.path_prefix.size()] == '/'))) {
      continue;
    }
    return &p;
  }
  return nullptr;
}

bool public_address(const boost::asio::ip::address& address) {
  if (address.is_v4()) return public_v4(address.to_v4());
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped())
    return public_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  if (v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || v6.is_link_local())
    return false;
  const auto b = v6.to_bytes();
  if ((b[0] & 0xFE) == 0xFC) return false;  // fc00::/7
  return true;
}

}  // namespace switchboard::polling
