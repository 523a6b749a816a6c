// WebSocket frame codec (RFC 6455 section 5) for the relay's frame-level forwarding.
// Beast's websocket::stream answers a Close by itself, which makes the half-close of the Hybrid
// Connections protocol (section 4.6) impossible; the relay therefore reads and writes frames
// itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace switchboard::core::ws {

enum Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline bool is_control(std::uint8_t opcode) {
  return (opcode & 0x8) != 0;
}

constexpr std::size_t kMaxHeaderSize = 14;
constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxControlFrame = kMaxHeaderSize + kMaxControlPayload;

struct FrameHeader {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::uint8_t mask[4] = {0, 0, 0, 0};
  std::uint8_t header_size = 0;
  std::uint64_t payload_length = 0;
};

enum class HeaderStatus { kIncomplete, kComplete, kInvalid };

struct HeaderParse {
  HeaderStatus status = HeaderStatus::kIncomplete;
  const char* error = "";  // why a header is invalid, for the close reason
};

// Parses one frame header; validates RSV bits, opcodes and control-frame rules.
HeaderParse parse_header(std::span<const std::uint8_t> bytes, FrameHeader& header);

// Writes an unmasked (server-to-client) header with the minimal length encoding; returns its size.
std::size_t encode_header(std::uint8_t* out, bool fin, std::uint8_t opcode, std::uint64_t length);

// dst[i] = src[i] ^ mask[(offset + i) % 4]; dst may equal src or lie before it (in-place
// compaction).
void unmask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                 const std::uint8_t mask[4], std::uint64_t offset);

// Incremental UTF-8 validation across fragment and read boundaries (RFC 3629, no overlongs or
// surrogates).
class Utf8Validator {
 public:
  bool feed(const std::uint8_t* data, std::size_t n);
  bool complete() const { return need_ == 0; }
  void reset() {
    need_ = 0;
    lo_ = 0x80;
    hi_ = 0xBF;
  }

 private:
  std::uint8_t need_ = 0;   // continuation bytes still expected
  std::uint8_t lo_ = 0x80;  // bounds for the next continuation byte
  std::uint8_t hi_ = 0xBF;
};

bool valid_utf8(std::string_view text);

// Close payloads (RFC 6455 section 5.5.1 and 7.4).
bool valid_close_code(std::uint16_t code);
enum class CloseCheck { kValid, kProtocolError, kInvalidUtf8 };
CloseCheck check_close_payload(std::span<const std::uint8_t> payload);
// An unmasked Close frame; the reason is cut to fit the 125-byte control payload.
std::string make_close_frame(std::uint16_t code, std::string_view reason);
std::string make_control_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload);
std::string make_data_frame(std::uint8_t opcode, std::string_view payload);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 section 4.2.2).
std::string accept_key(std::string_view client_key);

}  // namespace switchboard::core::ws
