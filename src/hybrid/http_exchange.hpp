// One relayed plain HTTP request (protocol section 5): the sender's request goes to a listener
// inline on its control channel or over a rendezvous (E4), and the listener's response comes
// back to the sender, streamed, with backpressure both ways. Lives on the sender's thread; the
// E4 rendezvous is moved onto it. A kept-alive connection then reads its next request.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "core/http_body.hpp"
#include "core/outbox.hpp"
#include "core/services.hpp"
#include "core/ws_channel.hpp"
#include "hybrid/listener.hpp"
#include "hybrid/registry.hpp"

namespace switchboard::hybrid {

namespace asio = boost::asio;

// Where an admitted request goes: settled by the front end before the exchange starts.
struct HttpRoute {
  ResolvedEntity entity;
  std::string raw_path;  // after the leading '/', as sent
  std::string host;      // the namespace host the sender addressed (Via, tracking suffixes)
  std::string base_id;   // the sender's sb-hc-id
  ListenerFilter filter;
  boost::json::object request_headers;
  std::string request_target;
};

class HttpExchange : public std::enable_shared_from_this<HttpExchange> {
 public:
  HttpExchange(const Settings& settings, Registry& registry,
               std::shared_ptr<core::Handshake> handshake, HttpRoute route);
  ~HttpExchange();

  void start();
  // Posted here from the listener's thread.
  void on_control_response(const Listener::ControlResponse& response);
  void on_listener_lost();
  // Posted here once the listener's E4 upgrade for this request was answered with 101.
  void on_rendezvous(core::DetachedSocket socket, std::string leftover);

 private:
  enum class Stage {
    kReadingInline,       // reading a body that may go inline
    kAwaitingRendezvous,  // rendezvous-only: the listener has yet to open E4
    kAwaitingResponse,
    kStreamingResponse,
    kDone,
  };
  enum class Framing { kLength, kChunked, kUntilClose, kNone };

  void on_sender_readable();
  bool pull_inline();
  bool pump_request();
  void dispatch(bool inline_form);
  void send_request_over_rendezvous();
  void send_body_piece(std::string_view bytes, bool last);
  void on_rendezvous_text(const std::string& text);
  void on_rendezvous_fragment(std::span<const std::uint8_t> bytes, bool last);
  void on_rendezvous_end();
  void begin_response(const ResponseHead& head, std::optional<std::uint64_t> length);
  void write_body(std::string_view bytes);
  void end_response();
  void fail(int status, std::string_view reason, bool tracked, const std::string& body = {},
            std::string_view content_type = {});
  void abort(std::string_view why);
  void finish(bool tombstone);
  void release_connection();
  void watch_sender();
  void write_to_sender(std::string_view bytes);
  bool on_write_result(core::Outbox::Result result);
  void arm_sender(core::Socket::wait_type wait);
  void on_sender_writable();
  void arm_timer(core::Duration after);
  void on_timer();
  void send_continue();

  const Settings& settings_;
  Registry& registry_;
  std::shared_ptr<core::Handshake> handshake_;
  const core::Limits& limits_;
  HttpRoute route_;
  core::BodyDecoder decoder_;
  Stage stage_ = Stage::kReadingInline;
  std::string id_;
  std::string request_message_;  // the full request JSON, for a rendezvous-only request
  std::optional<ResponseHead> pending_head_;  // waits for the first body piece to pick framing
  std::string body_;                          // inline body, or what was read before a rendezvous
  bool streaming_request_ = false;            // the body goes to the listener over E4 as it arrives
  bool first_piece_sent_ = false;
  bool continue_sent_ = false;
  bool keep_alive_ = false;
  bool sender_read_armed_ = false;
  bool sender_write_armed_ = false;
  bool sender_gone_ = false;
  bool head_sent_ = false;
  bool response_body_expected_ = false;  // a body:true response whose body is still coming
  bool discard_body_ = false;            // that body must not reach the sender (HEAD, 204, 304)
  bool response_done_ = false;
  bool released_ = false;  // the connection went on to its next request, or is closing
  Framing framing_ = Framing::kNone;
  core::Outbox outbox_;  // toward the sender
  std::shared_ptr<core::WsChannel> rendezvous_;
  asio::steady_timer timer_;         // response head deadline, then body idle deadline
  asio::steady_timer window_timer_;  // inline_read_window for chunked bodies
};

// An E4 for a request that already ended (tombstone, section 5.4): answered 101 by the caller,
// its response drained and discarded, then closed with 1000.
void drain_rendezvous(asio::io_context& context, const core::Limits& limits,
                      core::Duration idle_timeout, core::Socket socket, std::string leftover);

}  // namespace switchboard::hybrid
