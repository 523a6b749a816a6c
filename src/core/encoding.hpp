// Byte encodings used on the wire, as thin wrappers of OpenSSL and Boost.URL.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace switchboard::core {

std::string base64_encode(const unsigned char* data, std::size_t size);
// Strict padded base64 (no whitespace, no stray padding); nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);
// %XX decoding; with plus_as_space, '+' is a space (form encoding). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space = false);

}  // namespace switchboard::core
