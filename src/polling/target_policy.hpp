// Which targets a polysocket may open besides `self` ones (polling protocol sections 5.1 and
// 5.3): an allowlist of URL patterns, and the addresses a resolved external host may have.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace switchboard::polling {

struct TargetPattern {
  bool secure = false;      // wss
  std::string host;         // lower-case; without the "*." of a subdomain pattern
  bool subdomains = false;  // "*.example.com": any name under example.com, not itself
  std::string port;         // defaulted by scheme
  std::string path_prefix;  // "" or "/x/y", matched on a '/' boundary
  bool allow_private = false;
};

// "ws[s]://host[:port][/path]"; nullopt when it is not such a pattern.
std::optional<TargetPattern> parse_target_pattern(std::string_view text, bool allow_private);

// The first pattern the target matches (scheme, host, port after defaulting, path prefix; the
// query is ignored), or null.
const TargetPattern* match_target(const std::vector<TargetPattern>& patterns, bool secure,
                                  std::string_view host, std::string_view port,
                                  std::string_view path);

// False for loopback, RFC 1918, 100.64.0.0/10, link-local, fc00::/7, multicast and unspecified
// addresses (IPv4-mapped IPv6 addresses are judged as IPv4).
bool public_address(const boost::asio::ip::address& address);

}  // namespace switchboard::polling
