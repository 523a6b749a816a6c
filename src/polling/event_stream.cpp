#include "polling/event_stream.hpp"

#include <boost/asio/write.hpp>

#include "core/http_body.hpp"

namespace switchboard::polling {
namespace asio = boost::asio;

namespace {

constexpr std::string_view kHeartbeat = R"({"type":"heartbeat"})";
constexpr std::size_t kPreludeSpaces = 2048;

}  // namespace

EventStream::EventStream(std::shared_ptr<core::Handshake> handshake, Format format,
                         std::vector<core::Header> headers, core::Duration heartbeat)
    : handshake_(std::move(handshake)),
      format_(format),
      headers_(std::move(headers)),
      heartbeat_(heartbeat),
      chunked_(handshake_->request.version >= 11),
      timer_(handshake_->context) {}

void EventStream::start() {
  auto headers = std::move(headers_);
  headers.push_back({"Content-Type", format_ == Format::kNdjson
                                         ? "application/x-ndjson; charset=utf-8"
                                         : "text/event-stream; charset=utf-8"});
  headers.push_back({"X-Accel-Buffering", "no"});
  headers.push_back({"Connection", "close"});
  if (chunked_) headers.push_back({"Transfer-Encoding", "chunked"});
  out_ = core::render_response_head(200, "OK", headers);
  // Old browsers buffer the first 2 KiB before they report progress (section 7.5).
  if (format_ == Format::kNdjson) {
    append_body(std::string(kPreludeSpaces, ' ') + "\n");
  }
  flush();
  arm_heartbeat();
}

void EventStream::write_event(std::string_view json) {
  if (ended_) return;
  event_bytes_ += json.size() + 1;
  append_line(json);
  arm_heartbeat();
  flush();
}

void EventStream::append_line(std::string_view json) {
  std::string line;
  if (format_ == Format::kNdjson) {
    line.reserve(json.size() + 1);
    line.append(json).push_back('\n');
  } else {
    line.reserve(json.size() + 8);
    line.append("data: ").append(json).append("\n\n");
  }
  append_body(line);
}

// Body bytes, as a chunk on HTTP/1.1 and as they are on HTTP/1.0 (close-delimited).
void EventStream::append_body(std::string_view bytes) {
  if (chunked_) {
    core::append_chunk(out_, bytes);
  } else {
    out_ += bytes;
  }
}

void EventStream::end() {
  if (ended_) return;
  ended_ = true;
  timer_.cancel();
  on_progress = nullptr;
  on_lost = nullptr;
  if (lost_) return;
  if (chunked_) out_ += core::last_chunk();
  // What is left, then a graceful close, once the write in progress is done.
  if (in_flight_ == 0) core::send_and_close(handshake_, std::move(out_));
}

void EventStream::flush() {
  if (in_flight_ > 0 || out_.empty() || lost_) return;
  writing_ = std::move(out_);
  out_.clear();
  in_flight_ = writing_.size();
  asio::async_write(handshake_->socket, asio::buffer(writing_),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->in_flight_ = 0;
                      if (ec) {
                        self->lost_ = true;
                        self->timer_.cancel();
                        if (auto lost = std::move(self->on_lost)) lost();
                        return;
                      }
                      if (self->ended_) {
                        core::send_and_close(self->handshake_, std::move(self->out_));
                        return;
                      }
                      self->flush();
                      if (self->on_progress) self->on_progress();
                    });
}

void EventStream::arm_heartbeat() {
  timer_.expires_after(heartbeat_);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->ended_) return;
    self->append_line(kHeartbeat);
    self->flush();
    self->arm_heartbeat();
  });
}

}  // namespace switchboard::polling
