// The webhook notifier (bridge protocol section 7.4): one signed POST per notification over http
// or https (certificate and host name verified), no redirects followed, 2xx = delivered, a
// "decline" member in a 2xx body declines.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "bridge/settings.hpp"

namespace boost::asio::ssl {
class context;
}

namespace switchboard::bridge {

struct WebhookOutcome {
  enum Kind { kDelivered, kDeclined, kFailed } kind = kFailed;
  std::string detail;  // the decline reason (may be empty), or why delivery failed
};
using WebhookDone = std::function<void(WebhookOutcome)>;

// An error message when `url` is not an http:// or https:// URL with a host, or `ca_file`
// cannot be loaded.
std::optional<std::string> check_webhook(const WebhookSettings& settings);

class WebhookClient {
 public:
  // `settings` must outlive the client.
  explicit WebhookClient(const WebhookSettings& settings);
  ~WebhookClient();
  WebhookClient(const WebhookClient&) = delete;
  WebhookClient& operator=(const WebhookClient&) = delete;

  // Posts `body` for `device_id` on `context`; `done` runs there, once, within settings.timeout.
  void post(boost::asio::io_context& context, std::string_view device_id, std::string body,
            WebhookDone done) const;

 private:
  const WebhookSettings& settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // for https URLs
};

}  // namespace switchboard::bridge
