// A relayed HTTP request as the listener sees it (section 5 of the Hybrid Connections document):
// inline on the control channel, or read from a rendezvous the listener opens; the response goes
// back inline when it is small and complete, over a rendezvous otherwise.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "switchboard/client/listener.hpp"

namespace boost::json {
class object;
}

namespace switchboard::client {

class RelayedHttp : public HttpExchange, public std::enable_shared_from_this<RelayedHttp> {
 public:
  static std::shared_ptr<RelayedHttp> create(asio::io_context& io, const ConnectOptions& options,
                                             WebSocket control);
  RelayedHttp(asio::io_context& io, const ConnectOptions& options, WebSocket control)
      : io_(io), options_(options), control_(std::move(control)) {}

  // Takes the fields of a `request` message; false when it has no address or id.
  bool parse(const boost::json::object& request);
  // Only an address and an id: the request itself comes over the rendezvous.
  bool rendezvous_only() const { return method_.empty(); }
  void set_inline_body(std::string body) { body_ = std::move(body); }
  // Opens the request's rendezvous and reads the full request message from it.
  void open_rendezvous(WebSocket::DoneHandler done);

  const std::string& method() const override { return method_; }
  const std::string& target() const override { return target_; }
  const Headers& headers() const override { return headers_; }
  const std::string& remote_address() const override { return remote_address_; }
  std::uint16_t remote_port() const override { return remote_port_; }
  bool has_body() const override { return has_body_; }
  void async_read_body(WebSocket::ReadHandler handler) override;
  void set_status(int status, std::string description) override;
  void add_header(std::string name, std::string value) override;
  void async_write(std::string_view data, WebSocket::DoneHandler done) override;
  void async_end(WebSocket::DoneHandler done) override;
  void abort() override;

 private:
  enum class Phase { kBuffering, kOpening, kStreaming, kDone };
  std::string head(bool body) const;
  void switch_to_rendezvous();
  void flush_to_rendezvous();
  void finish_on_rendezvous();
  void fail_waiters(const Error& error);

  asio::io_context& io_;
  ConnectOptions options_;
  WebSocket control_;     // the control channel the request came on
  WebSocket rendezvous_;  // the request's own WebSocket, once opened
  std::string id_, address_, method_, target_, remote_address_;
  std::uint16_t remote_port_ = 0;
  Headers headers_;
  bool has_body_ = false;
  std::string body_;  // an inline request body
  bool body_done_ = false;
  int status_ = 200;
  std::string description_;
  Headers response_headers_;
  std::string pending_;  // response bytes not sent yet
  Phase phase_ = Phase::kBuffering;
  bool head_sent_ = false;
  bool end_requested_ = false;
  bool aborted_ = false;
  std::vector<WebSocket::DoneHandler> waiters_;  // writes made while the rendezvous opens
  WebSocket::DoneHandler end_done_;
};

}  // namespace switchboard::client
