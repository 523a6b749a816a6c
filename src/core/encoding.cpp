#include "core/encoding.hpp"

#include <openssl/evp.h>

#include <boost/url/encode.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "core/text.hpp"

namespace switchboard::core {
namespace {

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

std::string base64_encode(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');  // +1: EVP_EncodeBlock writes a NUL
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// EVP_DecodeBlock alone would trim whitespace and keep padding bytes.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
  const auto body = text.substr(0, text.size() - padding);
  for (char c : body) {
    if (!is_base64_char(c)) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (written < 0 || static_cast<std::size_t>(written) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

std::string base64url_encode(const unsigned char* data, std::size_t size) {
  std::string out = base64_encode(data, size);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string padded;
  padded.reserve(text.size() + 3);
  for (const char c : text) {
    if (c == '+' || c == '/') return std::nullopt;  // standard alphabet only after mapping
    padded.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  while (padded.size() % 4 != 0) padded.push_back('=');
  if (padded.empty()) return std::string();
  auto out = base64_decode(padded);
  // Re-encoding must give the same text: rejects non-zero unused bits, so one raw value has one
  // token.
  if (!out ||
      base64url_encode(reinterpret_cast<const unsigned char*>(out->data()), out->size()) != text) {
    return std::nullopt;
  }
  return out;
}

std::vector<FormPair> form_pairs(std::string_view query) {
  std::vector<FormPair> pairs;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto piece = query.substr(0, amp);
    const auto eq = piece.find('=');
    const auto raw_name = piece.substr(0, eq);
    const auto raw_value = eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
    pairs.push_back({percent_decode(raw_name, true).value_or(std::string(raw_name)),
                     percent_decode(raw_value, true).value_or(std::string(raw_value))});
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return pairs;
}

std::optional<std::string> form_param(std::string_view query, std::string_view name) {
  for (auto& pair : form_pairs(query)) {
    if (iequals(pair.name, name)) return std::move(pair.value);
  }
  return std::nullopt;
}

std::string percent_encode(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space) {
  const auto view = boost::urls::make_pct_string_view(text);
  if (!view) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = plus_as_space;
  return view->decode(opts);
}

}  // namespace switchboard::core
