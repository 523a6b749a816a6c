// Bytes waiting for a slow receiver. Writes go out at once; only what the kernel did not take is
// kept here, and the owner waits for writability only while something is kept (Redis-style).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/socket.hpp"

namespace switchboard::core {

class Outbox {
 public:
  enum class Result { kDone, kPending, kFailed };

  // Writes now whatever the socket takes and keeps the rest; keeps everything if bytes are
  // already waiting (order is preserved).
  Result write(Socket& socket, const std::uint8_t* data, std::size_t n);
  Result write(Socket& socket, const std::string& data) {
    return write(socket, reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  }
  // Keeps bytes without writing (for a leg whose socket has not arrived yet).
  void keep(const std::uint8_t* data, std::size_t n) {
    bytes_.insert(bytes_.end(), data, data + n);
  }
  // Call when the socket is writable again.
  Result flush(Socket& socket);
  std::size_t pending() const { return bytes_.size() - head_; }
  bool empty() const { return pending() == 0; }
  void clear();

 private:
  std::vector<std::uint8_t> bytes_;
  std::size_t head_ = 0;  // first byte not yet written
};

}  // namespace switchboard::core
