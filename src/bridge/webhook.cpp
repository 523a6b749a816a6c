#include "bridge/webhook.hpp"

#include <chrono>
#include <memory>
#include <type_traits>

#include <openssl/ssl.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "auth/bridge_token.hpp"
#include "core/encoding.hpp"
#include "core/text.hpp"
#include "core/tls_client.hpp"

namespace switchboard::bridge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::string_view kDevicePlaceholder = "{deviceId}";

std::string with_device(std::string url, std::string_view encoded_id) {
  for (auto at = url.find(kDevicePlaceholder); at != std::string::npos;
       at = url.find(kDevicePlaceholder, at + encoded_id.size())) {
    url.replace(at, kDevicePlaceholder.size(), encoded_id);
  }
  return url;
}

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

// One POST: resolve, connect, (TLS handshake,) write, read, all under one deadline.
template <typename Stream>
class WebhookCall : public std::enable_shared_from_this<WebhookCall<Stream>> {
 public:
  template <typename... StreamArgs>
  WebhookCall(asio::io_context& context, const WebhookSettings& settings, WebhookDone done,
              StreamArgs&... stream_args)
      : resolver_(context),
        stream_(context, stream_args...),
        deadline_(context),
        settings_(settings),
        done_(std::move(done)) {}

  void run(const boost::urls::url_view& url, http::request<http::string_body> request) {
    host_ = url.host();
    port_ = url.has_port() ? std::string(url.port()) : (kTls ? "443" : "80");
    request_ = std::move(request);
    parser_.body_limit(settings_.max_response_body);
    if constexpr (kTls) {
      // SNI, and the certificate must name the host.
      if (!SSL_set_tlsext_host_name(stream_.native_handle(), host_.c_str())) {
        return finish({WebhookOutcome::kFailed, "cannot set the TLS server name"});
      }
      stream_.set_verify_mode(ssl::verify_peer);
      stream_.set_verify_callback(ssl::host_name_verification(host_));
    }
    // One deadline for everything, name resolution included.
    deadline_.expires_after(settings_.timeout);
    deadline_.async_wait([weak = this->weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->resolver_.cancel();
      self->finish({WebhookOutcome::kFailed, "timed out"});
    });
    resolver_.async_resolve(
        host_, port_,
        [self = this->shared_from_this()](boost::system::error_code ec,
                                          const tcp::resolver::results_type& results) {
          self->on_resolve(ec, results);
        });
  }

 private:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  void on_resolve(boost::system::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return fail("resolving " + host_, ec);
    beast::get_lowest_layer(stream_).async_connect(
        results, [self = this->shared_from_this()](boost::system::error_code e,
                                                   const tcp::endpoint&) { self->on_connect(e); });
  }

  void on_connect(boost::system::error_code ec) {
    if (ec) return fail("connect", ec);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::client,
                              [self = this->shared_from_this()](boost::system::error_code e) {
                                if (e) return self->fail("TLS handshake", e);
                                self->write();
                              });
    } else {
      write();
    }
  }

  void write() {
    http::async_write(stream_, request_,
                      [self = this->shared_from_this()](boost::system::error_code e, std::size_t) {
                        if (e) return self->fail("write", e);
                        self->read();
                      });
  }

  void read() {
    http::async_read(stream_, buffer_, parser_,
                     [self = this->shared_from_this()](boost::system::error_code e, std::size_t) {
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
    beast::get_lowest_layer(stream_).socket().close(ignored);
    if (auto done = std::move(done_)) done(std::move(outcome));
    done_ = nullptr;
  }

  tcp::resolver resolver_;
  Stream stream_;
  asio::steady_timer deadline_;
  const WebhookSettings& settings_;
  WebhookDone done_;
  std::string host_, port_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
};

}  // namespace

std::optional<std::string> check_webhook(const WebhookSettings& settings) {
  const std::string sample = with_device(settings.url, "device");
  const auto parsed = boost::urls::parse_uri(sample);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
      parsed->host().empty()) {
    return "the webhook URL must be http[s]://HOST[:PORT]/PATH, got '" + settings.url + "'";
  }
  if (!settings.ca_file.empty()) {
    ssl::context tls(ssl::context::tls_client);
    boost::system::error_code ec;
    tls.load_verify_file(settings.ca_file, ec);
    if (ec) return "cannot load the webhook ca_file '" + settings.ca_file + "': " + ec.message();
  }
  return std::nullopt;
}

WebhookClient::WebhookClient(const WebhookSettings& settings) : settings_(settings) {
  if (!core::istarts_with(settings.url, "https://")) return;
  std::string ignored;  // ca_file was checked by check_webhook at start-up
  tls_ = core::make_client_tls(settings.ca_file, ignored);
}

WebhookClient::~WebhookClient() = default;

void WebhookClient::post(asio::io_context& context, std::string_view device_id, std::string body,
                         WebhookDone done) const {
  const std::string encoded = core::percent_encode(device_id);
  const std::string target_url = with_device(settings_.url, encoded);
  const auto url = boost::urls::parse_uri(target_url);
  if (!url) {
    asio::post(context, [done = std::move(done)] {
      done({WebhookOutcome::kFailed, "invalid webhook URL"});
    });
    return;
  }
  const std::string timestamp =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  const std::string target =
      url->encoded_target().empty() ? std::string("/") : std::string(url->encoded_target());
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, url->encoded_host_and_port());
  request.set(http::field::user_agent, "switchboard/" SWITCHBOARD_VERSION);
  request.set(http::field::content_type, "application/json; charset=utf-8");
  request.set("X-Switchboard-Device-Id", encoded);
  request.set("X-Switchboard-Timestamp", timestamp);
  request.set("X-Switchboard-Signature",
              auth::webhook_signature(settings_.secret, timestamp, body));
  request.set(http::field::connection, "close");
  request.body() = std::move(body);
  request.prepare_payload();
  if (tls_) {
    std::make_shared<WebhookCall<TlsStream>>(context, settings_, std::move(done), *tls_)
        ->run(*url, std::move(request));
  } else {
    std::make_shared<WebhookCall<beast::tcp_stream>>(context, settings_, std::move(done))
        ->run(*url, std::move(request));
  }
}

}  // namespace switchboard::bridge
