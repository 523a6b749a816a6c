// Plain HTTP/1.1 for the http scenario: the local service that the direct target and Switchboard's
// forwarder both call, and the load generator's keep-alive client connection. Boost.Beast parses
// the messages; the sockets follow the harness's reactor discipline (write at once, wait for
// writability only on a partial write).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "bench/harness/upgrade.hpp"

namespace switchboard::bench {

constexpr std::size_t kHttpBody = 1024;  // the service's answer to every request

// `switchboard-bench http-service`: a single-threaded keep-alive HTTP/1.1 server answering every
// request with 200 and kHttpBody bytes, on `listen` (HOST:PORT) until SIGINT/SIGTERM.
int run_http_service(const std::string& listen);

// A GET request for `target` on `to`, kept alive, with `headers`.
std::string render_get(const Endpoint& to, const std::string& target, const Headers& headers);

struct HttpResponse {
  int status = 0;
  std::size_t body_size = 0;
};

// One keep-alive client connection that sends the same request bytes, one request at a time. It
// connects on the first send, and again after a response that ended the connection.
class HttpClient {
 public:
  // `error` is empty when a whole response arrived.
  using Done = std::function<void(const std::string& error, const HttpResponse& response)>;
  virtual ~HttpClient() = default;
  virtual void send(Done done) = 0;
  // Closes the connection; a send in flight is not answered.
  virtual void abort() = 0;
  virtual std::uint64_t connects() const = 0;  // connections opened so far
};

std::shared_ptr<HttpClient> make_http_client(asio::io_context& io, const Endpoint& to,
                                             std::string request);

}  // namespace switchboard::bench
