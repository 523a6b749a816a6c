#include "core/tls_client.hpp"

#include <boost/asio/ssl/context.hpp>

namespace switchboard::core {

std::shared_ptr<boost::asio::ssl::context> make_client_tls(const std::string& ca_file,
                                                           std::string& error) {
  namespace ssl = boost::asio::ssl;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    tls->set_default_verify_paths(ec);
  } else {
    tls->load_verify_file(ca_file, ec);
  }
  if (ec) error = ec.message();
  return tls;
}

}  // namespace switchboard::core
