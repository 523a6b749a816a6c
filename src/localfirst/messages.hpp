// The MessagePack messages of the localfirst introduction socket (protocol sections 4.1-4.4, 4.7),
// wire-compatible with @localfirst/relay v4 (msgpackr on both ends).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::localfirst {

enum class MessageType { kJoin, kLeave, kHeartbeat, kOther };

struct ClientMessage {
  MessageType type = MessageType::kOther;
  std::vector<std::string> document_ids;  // Join and Leave only
};

// One binary frame from a client. nullopt when the frame is not exactly one MessagePack map with a
// string `type` (trailing bytes, not a map, not MessagePack, `type` missing or not a string). Join
// and Leave are nullopt unless `documentIds` is an array whose elements are all strings (it may be
// empty). "Heartbeat" and the heart emoji type "\u2764\ufe0f" are kHeartbeat; other type strings
// are kOther. Unknown keys are ignored whatever their value (nested maps/arrays included); key
// order free; if a key repeats, the last one wins (msgpackr builds a JS object). Keys that are not
// strings are ignored. Memory use is bounded by the frame size, never by a claimed length.
std::optional<ClientMessage> decode_client_message(std::string_view frame);

// The Introduction frame payload, byte-identical to upstream's msgpackr output (section 4.2): a
// map16 with the keys type, peerId, documentIds in that order; strings and arrays in their
// shortest form.
std::string encode_introduction(std::string_view peer_id,
                                std::span<const std::string> document_ids);

}  // namespace switchboard::localfirst
