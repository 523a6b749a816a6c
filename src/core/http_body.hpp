// Plain HTTP requests that the relay answers itself, beyond their head: the request body decoded
// as it arrives (Content-Length or chunked; Beast's parser does the decoding), and the framing of
// streamed responses. Implemented in http_wire.cpp, the one translation unit that includes Beast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/request_head.hpp"

namespace switchboard::core {

class Handshake;
struct RequestParser;

// Decodes the body of the request a Handshake has just read the head of; raw bytes go in, body
// bytes come out, and what follows the body (a pipelined next request) is kept.
class BodyDecoder {
 public:
  // Takes over the parser that read the handshake's head.
  explicit BodyDecoder(Handshake& handshake);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  bool chunked() const;
  std::optional<std::uint64_t> content_length() const;
  // Whether the request carries a body at all (chunked, or a non-zero Content-Length).
  bool has_body() const;
  // HTTP/1.1 without "Connection: close", or HTTP/1.0 with "Connection: keep-alive".
  bool keep_alive() const;
  bool done() const;
  bool failed() const { return failed_; }

  // Raw bytes from the connection.
  void push(const std::uint8_t* data, std::size_t n);
  // Raw bytes pushed but not yet decoded.
  std::size_t buffered() const { return input_.size() - input_head_; }
  // Decodes into `out`; returns the body bytes written (0 when more input is needed or done).
  std::size_t pull(std::uint8_t* out, std::size_t capacity);
  // Once done(): bytes pushed after the end of the body.
  std::string take_rest();

 private:
  std::shared_ptr<RequestParser> parser_;
  std::string input_;
  std::size_t input_head_ = 0;
  bool failed_ = false;
};

// "HTTP/1.1 {status} {reason}\r\n{headers}\r\n".
std::string render_response_head(int status, std::string_view reason,
                                 const std::vector<Header>& headers);
// A chunk of a chunked body: size line, data, CRLF.
void append_chunk(std::string& out, std::string_view data);
// The last chunk of a chunked body, with no trailers.
std::string_view last_chunk();
// The interim answer to "Expect: 100-continue".
std::string_view continue_response();

}  // namespace switchboard::core
