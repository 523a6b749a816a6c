#include "switchboard/client/token.hpp"

#include <boost/url/parse.hpp>

#include "auth/sas.hpp"
#include "client/src/url.hpp"
#include "core/text.hpp"

namespace switchboard::client {
namespace {

// SCHEME://host[:port] for a base URL or a bare host[:port] (which means TLS), with the scheme in
// WebSocket form (ws, wss) or HTTP form (http, https).
std::string base_url(std::string_view ns, bool websocket) {
  std::string base(ns);
  while (!base.empty() && base.back() == '/') base.pop_back();
  const auto scheme_end = base.find("://");
  bool tls = true;
  if (scheme_end != std::string::npos) {
    const std::string scheme = core::ascii_lowered(base.substr(0, scheme_end));
    tls = scheme == "wss" || scheme == "https";
    base.erase(0, scheme_end + 3);
  }
  return std::string(websocket ? (tls ? "wss" : "ws") : (tls ? "https" : "http")) + "://" + base;
}

std::string trimmed_path(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return std::string(path);
}

std::string hc_uri(std::string_view ns, std::string_view path, std::string_view action,
                   std::string_view token, std::string_view id) {
  std::string uri = base_url(ns, true) + "/$hc/" + trimmed_path(path) + "?sb-hc-action=";
  uri += action;
  if (!token.empty()) uri = with_query_param(uri, "sb-hc-token", token);
  if (!id.empty()) uri = with_query_param(uri, "sb-hc-id", id);
  return uri;
}

}  // namespace

std::string listen_uri(std::string_view ns, std::string_view path, std::string_view token,
                       std::string_view id) {
  return hc_uri(ns, path, "listen", token, id);
}

std::string send_uri(std::string_view ns, std::string_view path, std::string_view token,
                     std::string_view id) {
  return hc_uri(ns, path, "connect", token, id);
}

std::string http_uri(std::string_view ns, std::string_view path, std::string_view token) {
  std::string uri = base_url(ns, false) + "/" + trimmed_path(path);
  if (!token.empty()) uri = with_query_param(uri, "sb-hc-token", token);
  return uri;
}

std::string token_audience(std::string_view uri) {
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed || !parsed->has_authority()) return std::string(uri);
  std::string path(parsed->encoded_path());
  const auto hc = path.find("$hc/");
  if (hc != std::string::npos) path.erase(hc, 4);
  if (path.empty()) path = "/";
  return "http://" + std::string(parsed->encoded_authority()) + path;
}

std::string create_relay_token_until(std::string_view uri, std::string_view key_name,
                                     std::string_view key, std::int64_t expiry) {
  return auth::create_token(token_audience(uri), key_name, key, expiry);
}

std::string create_relay_token(std::string_view uri, std::string_view key_name,
                               std::string_view key, std::chrono::seconds ttl) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return create_relay_token_until(uri, key_name, key, now + ttl.count());
}

std::int64_t token_expiry(std::string_view token) {
  const auto parsed = auth::parse_sas_token(token);
  return parsed ? parsed->expiry : 0;
}

std::string append_relay_token(std::string_view uri, std::string_view token) {
  return with_query_param(uri, "sb-hc-token", token);
}

}  // namespace switchboard::client
