#include "switchboard/client/sender.hpp"

#include "client/src/url.hpp"

namespace switchboard::client {

void relayed_connect(asio::io_context& io, std::string_view url, SenderOptions options,
                     ConnectHandler handler) {
  std::string address = with_action(std::string(url), "connect");
  if (!options.token.empty()) {
    if (options.token_in == TokenPlacement::kQuery) {
      address = with_query_param(address, "sb-hc-token", options.token);
    } else {
      options.connect.headers.emplace_back("ServiceBusAuthorization", options.token);
    }
  }
  connect_websocket(io, address, std::move(options.connect), std::move(handler));
}

}  // namespace switchboard::client
