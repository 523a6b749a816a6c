#include "client/src/url.hpp"

#include <boost/url/parse.hpp>

#include "core/encoding.hpp"
#include "core/text.hpp"

namespace switchboard::client {

std::optional<ParsedUrl> parse_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || !parsed->has_authority() || parsed->host().empty()) return std::nullopt;
  const std::string scheme = core::ascii_lowered(parsed->scheme());
  ParsedUrl out;
  if (scheme == "wss" || scheme == "https") {
    out.tls = true;
  } else if (scheme != "ws" && scheme != "http") {
    return std::nullopt;
  }
  out.port = out.tls ? 443 : 80;
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) return std::nullopt;
    out.port = parsed->port_number();
  }
  out.host = parsed->host_address();
  out.authority = parsed->encoded_host_and_port();
  out.target = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) out.target += "?" + std::string(parsed->encoded_query());
  return out;
}

std::string with_action(std::string url, std::string_view action) {
  const auto query = url.find('?');
  if (query != std::string::npos &&
      core::ascii_lowered(url.substr(query)).find("sb-hc-action=") != std::string::npos) {
    return url;
  }
  return with_query_param(url, "sb-hc-action", action);
}

std::string with_query_param(std::string_view url, std::string_view name, std::string_view value) {
  std::string out(url);
  const auto hash = out.find('#');
  if (hash != std::string::npos) out.resize(hash);
  if (out.find('?') == std::string::npos) {
    out += '?';
  } else if (out.back() != '?' && out.back() != '&') {
    out += '&';
  }
  out += name;
  out += '=';
  out += core::percent_encode(value);
  return out;
}

}  // namespace switchboard::client
