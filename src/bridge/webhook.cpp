#include "bridge/webhook.hpp"

#include <chrono>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "auth/bridge_token.hpp"
#include "core/encoding.hpp"

namespace switchboard::bridge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kDevicePlaceholder = "{deviceId}";

// A 2xx body that is a JSON object with a "decline" member declines; its reason is optional.
WebhookOutcome outcome_of(const std::string& body) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(body, ec);
  const auto* object = ec ? nullptr : value.if_object();
  const auto* decline = object ? object->if_contains("decline") : nullptr;
  if (decline == nullptr) return {WebhookOutcome::kDelivered, {}};
  std::string reason;
  if (const auto* d = decline->if_object()) {
    if (const auto* r = d->if_contains("reason"); r && r->is_string())
      reason = std::string(r->get_string());
  }
  return {WebhookOutcome::kDeclined, std::move(reason)};
}

class WebhookCall : public std::enable_shared_from_this<WebhookCall> {
 public:
  WebhookCall(asio::io_context& context, const WebhookSettings& settings, WebhookDone done)
      : resolver_(context),
        stream_(context),
        deadline_(context),
        settings_(settings),
        done_(std::move(done)) {}

  void run(std::string_view device_id, std::string body) {
    std::string url = settings_.url;
    const std::string encoded = core::percent_encode(device_id);
    for (auto at = url.find(kDevicePlaceholder); at != std::string::npos;
         at = url.find(kDevicePlaceholder, at + encoded.size())) {
      url.replace(at, kDevicePlaceholder.size(), encoded);
    }
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return finish({WebhookOutcome::kFailed, "invalid webhook URL"});
    host_ = parsed->host();
    port_ = parsed->has_port() ? std::string(parsed->port()) : "80";
    const std::string target =
        parsed->encoded_target().empty() ? std::string("/") : std::string(parsed->encoded_target());
    const std::string timestamp =
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    request_ = {http::verb::post, target, 11};
    request_.set(http::field::host, parsed->encoded_host_and_port());
    request_.set(http::field::user_agent, "switchboard/" SWITCHBOARD_VERSION);
    request_.set(http::field::content_type, "application/json; charset=utf-8");
    request_.set("X-Switchboard-Device-Id", encoded);
    request_.set("X-Switchboard-Timestamp", timestamp);
    request_.set("X-Switchboard-Signature",
                 auth::webhook_signature(settings_.secret, timestamp, body));
    request_.set(http::field::connection, "close");
    request_.body() = std::move(body);
    request_.prepare_payload();
    parser_.body_limit(settings_.max_response_body);
    // One deadline for everything, name resolution included (the stream's own covers I/O only).
    deadline_.expires_after(settings_.timeout);
    deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->resolver_.cancel();
      self->finish({WebhookOutcome::kFailed, "timed out"});
    });
    resolver_.async_resolve(
        host_, port_,
        [self = shared_from_this()](boost::system::error_code ec,
                                    const tcp::resolver::results_type& results) {
          self->on_resolve(ec, results);
        });
  }

 private:
  void on_resolve(boost::system::error_code ec, const tcp::resolver::results_type& results) {
    if (ec)
      return finish({WebhookOutcome::kFailed, "cannot resolve " + host_ + ": " + ec.message()});
    stream_.async_connect(
        results, [self = shared_from_this()](boost::system::error_code e, const tcp::endpoint&) {
          self->on_connect(e);
        });
  }

  void on_connect(boost::system::error_code ec) {
    if (ec) return fail("connect", ec);
    http::async_write(stream_, request_,
                      [self = shared_from_this()](boost::system::error_code e, std::size_t) {
                        self->on_write(e);
                      });
  }

  void on_write(boost::system::error_code ec) {
    if (ec) return fail("write", ec);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](boost::system::error_code e, std::size_t) {
                       self->on_read(e);
                     });
  }

  void on_read(boost::system::error_code ec) {
    if (ec) return fail("read", ec);
    const auto& response = parser_.get();
    const unsigned status = response.result_int();
    // Redirects are not followed: only a 2xx from this URL counts.
    if (status < 200 || status > 299) {
      return finish({WebhookOutcome::kFailed, "answered " + std::to_string(status)});
    }
    finish(outcome_of(response.body()));
  }

  void fail(std::string_view step, boost::system::error_code ec) {
    finish({WebhookOutcome::kFailed, std::string(step) + " failed: " + ec.message()});
  }

  void finish(WebhookOutcome outcome) {
    deadline_.cancel();
    boost::system::error_code ignored;
    stream_.socket().close(ignored);
    if (auto done = std::move(done_)) done(std::move(outcome));
    done_ = nullptr;
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer deadline_;
  const WebhookSettings& settings_;
  WebhookDone done_;
  std::string host_, port_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
};

}  // namespace

std::optional<std::string> check_webhook_url(std::string_view url) {
  std::string sample(url);
  for (auto at = sample.find(kDevicePlaceholder); at != std::string::npos;
       at = sample.find(kDevicePlaceholder)) {
    sample.replace(at, kDevicePlaceholder.size(), "device");
  }
  const auto parsed = boost::urls::parse_uri(sample);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    return "the webhook URL must be http://HOST[:PORT]/PATH (https is not supported yet), got '" +
           std::string(url) + "'";
  }
  return std::nullopt;
}

void post_webhook(asio::io_context& context, const WebhookSettings& settings,
                  std::string_view device_id, std::string body, WebhookDone done) {
  std::make_shared<WebhookCall>(context, settings, std::move(done))
      ->run(device_id, std::move(body));
}

}  // namespace switchboard::bridge
