#include "core/body_reader.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/handshake.hpp"
#include "core/http_body.hpp"
#include "core/services.hpp"
#include "core/text.hpp"

namespace switchboard::core {
namespace {

constexpr std::size_t kPiece = std::size_t{16} * 1024;

class BodyReader : public std::enable_shared_from_this<BodyReader> {
 public:
  BodyReader(std::shared_ptr<Handshake> handshake, std::size_t limit, BodyDone done)
      : handshake_(std::move(handshake)),
        decoder_(*handshake_),
        limit_(limit),
        done_(std::move(done)),
        timer_(handshake_->context) {}

  void run() {
    const auto length = decoder_.content_length();
    if (length && *length > limit_) return finish(BodyOutcome::kTooLarge);
    timer_.expires_after(handshake_->services.limits.handshake_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (auto self = weak.lock(); self && !ec) self->finish(BodyOutcome::kTimedOut);
    });
    const auto expect = handshake_->request.find("Expect");
    if (expect && iequals(trim(*expect), "100-continue") && decoder_.has_body() &&
        !decoder_.done()) {
      asio::async_write(handshake_->socket, asio::buffer(continue_response()),
                        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          if (ec) return self->finish(BodyOutcome::kClosed);
                          self->drain();
                        });
      return;
    }
    drain();
  }

 private:
  // Decodes what has been pushed, then reads more until the body ends.
  void drain() {
    if (!done_) return;
    std::uint8_t out[kPiece];
    while (true) {
      if (decoder_.failed()) return finish(BodyOutcome::kMalformed);
      if (decoder_.done()) return finish(BodyOutcome::kComplete);
      const std::size_t n = decoder_.pull(out, sizeof out);
      if (n == 0) break;
      body_.append(reinterpret_cast<const char*>(out), n);
      if (body_.size() > limit_) return finish(BodyOutcome::kTooLarge);
    }
    handshake_->socket.async_read_some(
        asio::buffer(input_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (ec) return self->finish(BodyOutcome::kClosed);
          self->decoder_.push(self->input_, n);
          self->drain();
        });
  }

  void finish(BodyOutcome outcome) {
    timer_.cancel();
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    if (outcome == BodyOutcome::kTimedOut) {
      boost::system::error_code ignored;
      handshake_->socket.cancel(ignored);
    }
    done(outcome, outcome == BodyOutcome::kComplete ? std::move(body_) : std::string());
  }

  std::shared_ptr<Handshake> handshake_;
  BodyDecoder decoder_;
  std::size_t limit_;
  BodyDone done_;
  asio::steady_timer timer_;
  std::string body_;
  std::uint8_t input_[kPiece];
};

}  // namespace

void read_body(const std::shared_ptr<Handshake>& handshake, std::size_t limit, BodyDone done) {
  if (!handshake->parser) {  // an upgrade request has no body to read
    done(BodyOutcome::kComplete, {});
    return;
  }
  std::make_shared<BodyReader>(handshake, limit, std::move(done))->run();
}

}  // namespace switchboard::core
