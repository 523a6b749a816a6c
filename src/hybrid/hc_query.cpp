#include "hybrid/hc_query.hpp"

#include "core/random_id.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

#include <algorithm>

namespace switchboard::hybrid {
namespace {

constexpr std::string_view kHcPrefix = "sb-hc-";

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string ascii_lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

// Form decoding like .NET WebUtility.UrlDecode, which leaves a malformed escape as it is.
std::string form_decode(std::string_view text) {
  const auto view = boost::urls::make_pct_string_view(text);
  if (!view) return std::string(text);
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  return view->decode(opts);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  while (true) {
    const auto at = text.find(separator);
    pieces.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return pieces;
    text.remove_prefix(at + 1);
  }
}

// Lower-cased decoded name of an sb-hc-* "name=value" piece; nullopt for anything else.
// Parsing and filtering share this so that a parameter Switchboard reads is never forwarded.
std::optional<std::string> hc_name(std::string_view piece) {
  const auto eq = piece.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::string name = ascii_lowered(form_decode(piece.substr(0, eq)));
  if (!name.starts_with(kHcPrefix)) return std::nullopt;
  return name;
}

std::optional<std::string>* slot_for(HcParams& params, std::string_view name) {
  if (name == "sb-hc-action") return &params.action;
  if (name == "sb-hc-id") return &params.id;
  if (name == "sb-hc-token") return &params.token;
  if (name == "sb-hc-statuscode") return &params.status_code;
  if (name == "sb-hc-statusdescription") return &params.status_description;
  return nullptr;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

HcParams parse_hc_params(std::string_view query) {
  HcParams params;
  for (const auto piece : split(query, '&')) {
    const auto name = hc_name(piece);
    if (!name) continue;
    auto* slot = slot_for(params, *name);
    if (slot == nullptr || slot->has_value()) continue;
    *slot = form_decode(piece.substr(piece.find('=') + 1));
  }
  return params;
}

FilteredQuery filter_app_query(std::string_view query) {
  FilteredQuery out;
  bool first = true;
  for (const auto piece : split(query, '&')) {
    if (hc_name(piece)) continue;
    if (!first) out.text += '&';
    out.text += piece;
    first = false;
  }
  // A lone empty piece would forward a bare '?', so only text counts as a query.
  out.present = !out.text.empty();
  return out;
}

std::string listener_id_from(std::string_view sb_hc_id) {
  const auto id = sb_hc_id.substr(0, sb_hc_id.find('_'));
  return id.empty() ? core::random_uuid_v4() : std::string(id);
}

std::vector<std::string> split_listener_list(std::string_view header_value) {
  std::vector<std::string> ids;
  for (const auto piece : split(header_value, ',')) {
    const auto id = trim(piece);
    if (!id.empty()) ids.emplace_back(id);
  }
  return ids;
}

}  // namespace switchboard::hybrid
