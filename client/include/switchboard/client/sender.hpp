// A Hybrid Connections sender: a WebSocket to a listener through the relay.
#pragma once

#include <string>
#include <string_view>

#include "switchboard/client/websocket.hpp"

namespace switchboard::client {

enum class TokenPlacement { kHeader, kQuery };

struct SenderOptions {
  std::string token;  // a SAS token with the Send right; empty for anonymous entities
  TokenPlacement token_in = TokenPlacement::kHeader;  // ServiceBusAuthorization, or sb-hc-token
  ConnectOptions connect;                             // headers, sub-protocols, timeout, TLS
};

// `url` is a send address (wss://HOST/$hc/PATH[/suffix][?query]); sb-hc-action=connect is added
// when missing. The handler gets the relayed WebSocket once the listener accepted, or the
// listener's (or the relay's) status and reason phrase.
void relayed_connect(asio::io_context& io, std::string_view url, SenderOptions options,
                     ConnectHandler handler);

struct HttpReply {
  int status = 0;
  std::string reason;
  Headers headers;
  std::string body;
};

struct HttpRequestOptions {
  std::string method = "GET";
  Headers headers;
  std::string body;
  std::string token;  // a SAS token with the Send right; empty for anonymous entities
  TokenPlacement token_in = TokenPlacement::kHeader;
  ConnectOptions connect;  // TLS settings; `timeout` covers the whole exchange
  std::size_t max_body = std::size_t{64} << 20;  // a longer response body fails the request
};

// One HTTP request to a listener through the relay; `url` is http[s]://HOST/ENTITY[/suffix].
// Every status is a reply (the relay's own 404/502/504 included); Error means no reply.
void relayed_request(asio::io_context& io, std::string_view url, HttpRequestOptions options,
                     std::function<void(const Error&, HttpReply)> handler);

}  // namespace switchboard::client
