// The byte stream under a client connection: TCP, or TLS over TCP, chosen by the URL's scheme;
// and its set-up (certificate verification, SNI, host-name check).
#pragma once

#include <memory>
#include <variant>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <functional>

#include "client/src/url.hpp"
#include "switchboard/client/websocket.hpp"

namespace switchboard::client {

namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

using TlsStream = ssl::stream<tcp::socket>;

// TCP or TLS, chosen by the URL's scheme.
class Transport {
 public:
  explicit Transport(asio::io_context& io) : stream_(std::in_place_index<0>, io) {}
  void use_tls(std::shared_ptr<ssl::context> context) {
    tls_context_ = std::move(context);
    auto& io = static_cast<asio::io_context&>(tcp_socket().get_executor().context());
    stream_.emplace<1>(io, *tls_context_);
  }
  bool tls() const { return stream_.index() == 1; }
  TlsStream& tls_stream() { return std::get<1>(stream_); }
  tcp::socket& tcp_socket() {
    return stream_.index() == 0 ? std::get<0>(stream_) : std::get<1>(stream_).next_layer();
  }
  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_read_some(buffers, std::forward<Handler>(handler)); },
               stream_);
  }
  template <typename Buffers, typename Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { asio::async_write(s, buffers, std::forward<Handler>(handler)); },
               stream_);
  }
  template <typename Function>
  void visit(Function&& f) {
    std::visit(std::forward<Function>(f), stream_);
  }
  void close() {
    boost::system::error_code ignored;
    tcp_socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_socket().close(ignored);
  }

 private:
  std::shared_ptr<ssl::context> tls_context_;
  std::variant<tcp::socket, TlsStream> stream_;
};

// Prepares `transport` for TLS toward `host` when `tls`; an error when the trust store fails.
boost::system::error_code prepare_tls(Transport& transport, bool tls, const std::string& host,
                                      const ConnectOptions& options);

// Resolves url's host, connects (TCP_NODELAY) and, for TLS, completes the handshake.
void async_open(Transport& transport, tcp::resolver& resolver, const ParsedUrl& url,
                std::function<void(boost::system::error_code)> done);

}  // namespace switchboard::client
