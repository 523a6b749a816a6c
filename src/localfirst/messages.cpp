#include "localfirst/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>

#include <msgpack/null_visitor.hpp>
#include <msgpack/pack.hpp>
#include <msgpack/parse.hpp>
#include <msgpack/unpack.hpp>  // defines the length types that parse.hpp only declares

namespace switchboard::localfirst {
namespace {

constexpr std::string_view kHeartEmoji = "\u2764\ufe0f";

// Reads the keys `type` and `documentIds` of a top-level map while msgpack-cxx walks the frame;
// everything else is skipped. Only what is present is stored, never a claimed length.
class ClientMessageVisitor : public msgpack::null_visitor {
 public:
  bool visit_nil() { return scalar({}, false); }
  bool visit_boolean(bool /*v*/) { return scalar({}, false); }
  bool visit_positive_integer(std::uint64_t /*v*/) { return scalar({}, false); }
  bool visit_negative_integer(std::int64_t /*v*/) { return scalar({}, false); }
  bool visit_float32(float /*v*/) { return scalar({}, false); }
  bool visit_float64(double /*v*/) { return scalar({}, false); }
  // An empty str arrives with a null pointer.
  bool visit_str(const char* v, std::uint32_t size) {
    return scalar(size == 0 ? std::string_view() : std::string_view(v, size), true);
  }
  bool visit_bin(const char* /*v*/, std::uint32_t /*size*/) { return scalar({}, false); }
  bool visit_ext(const char* /*v*/, std::uint32_t /*size*/) { return scalar({}, false); }
  bool start_array(std::uint32_t /*num_elements*/) { return start_container(false); }
  bool end_array() { return end_container(); }
  bool start_map(std::uint32_t /*num_kv_pairs*/) { return start_container(true); }
  bool end_map() { return end_container(); }
  bool start_map_key() {
    if (depth_ == 1) at_key_ = true;
    return true;
  }
  bool start_map_value() {
    if (depth_ == 1) at_key_ = false;
    return true;
  }

  std::optional<ClientMessage> result() {
    if (!type_) return std::nullopt;
    ClientMessage message;
    if (*type_ == "Join" || *type_ == "Leave") {
      if (!ids_valid_) return std::nullopt;
      message.type = *type_ == "Join" ? MessageType::kJoin : MessageType::kLeave;
      message.document_ids = std::move(ids_);
    } else if (*type_ == "Heartbeat" || *type_ == kHeartEmoji) {
      message.type = MessageType::kHeartbeat;
    }
    return message;
  }

 private:
  enum class Key { kOther, kType, kDocumentIds };

  static Key key_named(std::string_view name) {
    if (name == "type") return Key::kType;
    if (name == "documentIds") return Key::kDocumentIds;
    return Key::kOther;
  }

  bool scalar(std::string_view text, bool is_str) {
    // A top-level scalar is not a message; stopping makes parse() fail.
    if (depth_ == 0) return false;
    if (depth_ == 1 && at_key_) {
      key_ = is_str ? key_named(text) : Key::kOther;
    } else if (depth_ == 1) {
      if (key_ == Key::kType) type_ = is_str ? std::optional(text) : std::nullopt;
      if (key_ == Key::kDocumentIds) reset_ids(false);
    } else if (depth_ == 2 && in_ids_) {
      if (!is_str) {
        ids_valid_ = false;
      } else if (ids_valid_) {
        ids_.emplace_back(text);
      }
    }
    return true;
  }

  bool start_container(bool is_map) {
    if (depth_ == 0) {
      // A top-level array is not a message; stopping makes parse() fail.
      if (!is_map) return false;
    } else if (depth_ == 1 && at_key_) {
      key_ = Key::kOther;
    } else if (depth_ == 1) {
      if (key_ == Key::kType) type_.reset();
      if (key_ == Key::kDocumentIds) reset_ids(!is_map);
    } else if (depth_ == 2 && in_ids_) {
      ids_valid_ = false;
    }
    ++depth_;
    return true;
  }

  bool end_container() {
    --depth_;
    if (depth_ <= 1) in_ids_ = false;
    return true;
  }

  // A new `documentIds` value replaces any earlier one (the last key wins).
  void reset_ids(bool is_array) {
    ids_.clear();
    ids_valid_ = is_array;
    in_ids_ = is_array;
  }

  std::size_t depth_ = 0;  // containers open around the current item
  bool at_key_ = false;    // at depth 1: reading a key, not a value
  Key key_ = Key::kOther;
  std::optional<std::string_view> type_;  // points into the frame
  std::vector<std::string> ids_;
  bool ids_valid_ = false;
  bool in_ids_ = false;  // inside the array of the current `documentIds` value
};

// msgpack-cxx's packer writes to any type with write(const char*, size_t).
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

}  // namespace

std::optional<ClientMessage> decode_client_message(std::string_view frame) {
  ClientMessageVisitor visitor;
  std::size_t offset = 0;
  try {
    if (!msgpack::parse(frame.data(), frame.size(), offset, visitor)) return std::nullopt;
  } catch (const std::exception&) {
    // msgpack-cxx throws on an ext32 of length 0xffffffff, and on allocation failure.
    return std::nullopt;
  }
  if (offset != frame.size()) return std::nullopt;
  return visitor.result();
}

std::string encode_introduction(std::string_view peer_id,
                                std::span<const std::string> document_ids) {
  // Map header, keys, "Introduction", and at most 5 header bytes for the peerId and the array.
  constexpr std::size_t kFixedBytes = 3 + 5 + 13 + 7 + 12 + 5 + 5;
  std::size_t size = kFixedBytes + peer_id.size();
  for (const std::string& id : document_ids) size += 5 + id.size();
  std::string out;
  out.reserve(size);

  // msgpackr always writes a map16 header, where msgpack-cxx would write a fixmap.
  out.append("\xde\x00\x03", 3);
  StringSink sink{out};
  msgpack::packer<StringSink> packer(sink);
  const auto pack_string = [&packer](std::string_view text) {
    packer.pack_str(static_cast<std::uint32_t>(text.size()));
    packer.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
  };
  pack_string("type");
  pack_string("Introduction");
  pack_string("peerId");
  pack_string(peer_id);
  pack_string("documentIds");
  packer.pack_array(static_cast<std::uint32_t>(document_ids.size()));
  for (const std::string& id : document_ids) pack_string(id);
  return out;
}

}  // namespace switchboard::localfirst
