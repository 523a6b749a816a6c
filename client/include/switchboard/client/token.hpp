// Addresses and Shared Access Signature tokens, built the way the npm hyco-ws helpers build them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard::client {

// wss://NAMESPACE/$hc/PATH?sb-hc-action=listen. `ns` may be a host, host:port or a full base
// URL (ws://127.0.0.1:8080, https://relay.example.com); a bare host means wss on the default port.
std::string listen_uri(std::string_view ns, std::string_view path, std::string_view token = {},
                       std::string_view id = {});
// wss://NAMESPACE/$hc/PATH?sb-hc-action=connect
std::string send_uri(std::string_view ns, std::string_view path, std::string_view token = {},
                     std::string_view id = {});
// https://NAMESPACE/PATH (the HTTP sender address).
std::string http_uri(std::string_view ns, std::string_view path, std::string_view token = {});

// The resource a token for `uri` names, as createRelayToken derives it: any scheme becomes http,
// the query and fragment go, the first "$hc/" goes, the port stays.
std::string token_audience(std::string_view uri);

// "SharedAccessSignature sr=…&sig=…&se=…&skn=…" for `uri`, valid for `ttl`.
std::string create_relay_token(std::string_view uri, std::string_view key_name,
                               std::string_view key,
                               std::chrono::seconds ttl = std::chrono::hours(1));
// The same with an explicit expiry (Unix seconds).
std::string create_relay_token_until(std::string_view uri, std::string_view key_name,
                                     std::string_view key, std::int64_t expiry);
// The expiry (se) of a token, 0 when it has none.
std::int64_t token_expiry(std::string_view token);

// `uri` with &sb-hc-token=<token, URL-encoded> (or ?sb-hc-token=… when it has no query).
std::string append_relay_token(std::string_view uri, std::string_view token);

}  // namespace switchboard::client
