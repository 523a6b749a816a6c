// TLS client settings for connections Switchboard makes itself (webhooks, polling targets):
// TLS 1.2 or later, peers verified against the system's CAs or a PEM file.
#pragma once

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace switchboard::core {

// `error` is set when the CAs cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_client_tls(const std::string& ca_file,
                                                           std::string& error);

}  // namespace switchboard::core
