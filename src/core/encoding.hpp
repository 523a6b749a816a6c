// Byte encodings used on the wire, as thin wrappers of OpenSSL and Boost.URL.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::core {

std::string base64_encode(const unsigned char* data, std::size_t size);
// Strict padded base64 (no whitespace, no stray padding); nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);
// RFC 4648 section 5 without padding.
std::string base64url_encode(const unsigned char* data, std::size_t size);
// Strict: no '=', nothing outside the alphabet, no impossible length, unused bits zero.
std::optional<std::string> base64url_decode(std::string_view text);
// %XX decoding; with plus_as_space, '+' is a space (form encoding). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space = false);

// The name=value pieces of a query string or form body (no leading '?'), in order, form-decoded
// with a malformed escape left as it is (as .NET model binding); a piece without '=' has an empty
// value.
struct FormPair {
  std::string name;
  std::string value;
};
std::vector<FormPair> form_pairs(std::string_view query);
// The value of query parameter `name` (no leading '?'; names ASCII case-insensitive, the first
// occurrence wins), form-decoded with a malformed escape left as it is (as .NET model binding).
std::optional<std::string> form_param(std::string_view query, std::string_view name);
// Percent-encodes everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view text);

}  // namespace switchboard::core
