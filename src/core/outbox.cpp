#include "core/outbox.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

namespace switchboard::core {
namespace {

// Returns bytes written, or -1 on a failed connection; a full socket buffer writes 0.
long write_some(Socket& socket, const std::uint8_t* data, std::size_t n) {
  boost::system::error_code ec;
  const std::size_t written = socket.write_some(asio::buffer(data, n), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return 0;
  if (ec) return -1;
  return static_cast<long>(written);
}

constexpr std::size_t kKeepCapacity =
    std::size_t{64} * 1024;  // larger buffers are released once drained

}  // namespace

Outbox::Result Outbox::write(Socket& socket, const std::uint8_t* data, std::size_t n) {
  if (!empty()) {
    bytes_.insert(bytes_.end(), data, data + n);
    return Result::kPending;
  }
  const long written = write_some(socket, data, n);
  if (written < 0) return Result::kFailed;
  if (static_cast<std::size_t>(written) == n) return Result::kDone;
  clear();
  bytes_.assign(data + written, data + n);
  return Result::kPending;
}

Outbox::Result Outbox::flush(Socket& socket) {
  while (!empty()) {
    const long written = write_some(socket, bytes_.data() + head_, pending());
    if (written < 0) return Result::kFailed;
    if (written == 0) {
      // Compact once the written prefix dominates, so appends do not grow without bound.
      if (head_ > bytes_.size() / 2) {
        bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
      return Result::kPending;
    }
    head_ += static_cast<std::size_t>(written);
  }
  clear();
  return Result::kDone;
}

void Outbox::clear() {
  head_ = 0;
  if (bytes_.capacity() > kKeepCapacity) {
    std::vector<std::uint8_t>().swap(bytes_);
  } else {
    bytes_.clear();
  }
}

}  // namespace switchboard::core
