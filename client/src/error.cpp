#include "switchboard/client/error.hpp"

namespace switchboard::client {
namespace {

class Category : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "switchboard.client"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kOk:
        return "ok";
      case Errc::kBadUrl:
        return "not a ws://, wss://, http:// or https:// URL";
      case Errc::kRejected:
        return "rejected";
      case Errc::kBadHandshake:
        return "bad WebSocket handshake";
      case Errc::kClosed:
        return "closed";
      case Errc::kProtocolError:
        return "WebSocket protocol error";
      case Errc::kMessageTooBig:
        return "message too big";
      case Errc::kTimeout:
        return "timed out";
      case Errc::kStopped:
        return "stopped";
      case Errc::kInvalidMessage:
        return "invalid control message";
    }
    return "unknown error";
  }
};

}  // namespace

const boost::system::error_category& client_category() {
  static const Category category;
  return category;
}

boost::system::error_code make_error_code(Errc e) {
  return {static_cast<int>(e), client_category()};
}

std::string Error::message() const {
  if (!code) return "ok";
  if (code == make_error_code(Errc::kRejected)) {
    return "rejected: " + std::to_string(status) + (reason.empty() ? "" : " " + reason);
  }
  if (code == make_error_code(Errc::kBadHandshake)) return "bad handshake: " + reason;
  if (close_code != 0) {
    std::string text = code == make_error_code(Errc::kClosed) ? "closed" : code.message();
    text += ": " + std::to_string(close_code);
    if (!close_reason.empty()) text += " " + close_reason;
    return text;
  }
  return code.message();
}

}  // namespace switchboard::client
