// The -H side of `switchboard forward`: a relayed HTTP request made again to a local HTTP service,
// its response streamed back through the relay.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "switchboard/client/listener.hpp"

namespace switchboard::tools {

struct HttpTarget {
  std::string host;
  unsigned short port = 80;
  std::string base_path;  // without a trailing '/'
  std::string entity;     // the prefix removed from relayed targets
};

// "http://HOST:PORT[/PATH]"
std::optional<HttpTarget> parse_http_target(std::string_view text);

// Request bodies are collected up to this size (the relay does not forward Content-Length).
constexpr std::size_t kMaxForwardedRequestBody = std::size_t{64} << 20;

// Makes each relayed request again to the target, over kept-alive connections.
class HttpForwarder {
 public:
  HttpForwarder(boost::asio::io_context& io, HttpTarget target,
                std::function<void(std::string_view)> say);
  ~HttpForwarder();
  void handle(std::shared_ptr<client::HttpExchange> exchange);

  struct Pool;

 private:
  boost::asio::io_context& io_;
  HttpTarget target_;
  std::function<void(std::string_view)> say_;
  std::shared_ptr<Pool> pool_;
};

}  // namespace switchboard::tools
