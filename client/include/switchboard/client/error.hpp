// What went wrong, with everything the relay said about it: the HTTP status and reason phrase of a
// refused handshake, or the close code and reason of a closed WebSocket.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <boost/system/error_code.hpp>

namespace switchboard::client {

enum class Errc {
  kOk = 0,
  kBadUrl = 1,      // not a ws://, wss://, http:// or https:// URL
  kRejected,        // the server answered the upgrade with a status other than 101
  kBadHandshake,    // a 101 that does not complete the WebSocket handshake
  kClosed,          // the peer sent a Close (see close_code)
  kProtocolError,   // the peer broke RFC 6455
  kMessageTooBig,   // a whole message above the reader's limit
  kTimeout,         // a deadline passed
  kStopped,         // the owner stopped the object
  kInvalidMessage,  // a control message that does not follow the protocol
};

const boost::system::error_category& client_category();
boost::system::error_code make_error_code(Errc e);

struct Error {
  boost::system::error_code code;  // empty on success
  int status = 0;                  // HTTP status of a refused handshake
  std::string reason;              // its reason phrase
  std::uint16_t close_code = 0;    // the peer's close code (1005 when its Close had none)
  std::string close_reason;

  explicit operator bool() const { return static_cast<bool>(code); }
  bool closed() const { return code == make_error_code(Errc::kClosed); }
  // One line for logs and command-line tools: "rejected: 401 The token has expired."
  std::string message() const;

  static Error from(boost::system::error_code code) { return Error{code}; }
  static Error from(Errc e) { return Error{make_error_code(e)}; }
};

}  // namespace switchboard::client

namespace boost::system {
template <>
struct is_error_code_enum<switchboard::client::Errc> : std::true_type {};
}  // namespace boost::system
