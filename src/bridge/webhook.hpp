// The webhook notifier (bridge protocol section 7.4): one signed POST per notification, no
// redirects followed, 2xx = delivered, a "decline" member in a 2xx body declines.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "bridge/settings.hpp"

namespace switchboard::bridge {

struct WebhookOutcome {
  enum Kind { kDelivered, kDeclined, kFailed } kind = kFailed;
  std::string detail;  // the decline reason (may be empty), or why delivery failed
};
using WebhookDone = std::function<void(WebhookOutcome)>;

// An error message when `url` is not an http:// URL with a host.
std::optional<std::string> check_webhook_url(std::string_view url);

// Posts `body` for `device_id` on `context`; `done` runs there, once, within settings.timeout.
void post_webhook(boost::asio::io_context& context, const WebhookSettings& settings,
                  std::string_view device_id, std::string body, WebhookDone done);

}  // namespace switchboard::bridge
