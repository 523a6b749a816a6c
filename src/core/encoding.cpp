#include "core/encoding.hpp"

#include <openssl/evp.h>

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

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

std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space) {
  const auto view = boost::urls::make_pct_string_view(text);
  if (!view) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = plus_as_space;
  return view->decode(opts);
}

}  // namespace switchboard::core
