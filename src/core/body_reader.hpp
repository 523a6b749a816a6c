// Reads the whole body of a plain request the relay answers itself (small API bodies), within a
// size limit and the handshake timeout.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace switchboard::core {

class Handshake;

enum class BodyOutcome { kComplete, kTooLarge, kMalformed, kTimedOut, kClosed };
using BodyDone = std::function<void(BodyOutcome outcome, std::string body)>;

// `done` runs on the handshake's worker. "Expect: 100-continue" is answered first.
void read_body(const std::shared_ptr<Handshake>& handshake, std::size_t limit, BodyDone done);

}  // namespace switchboard::core
