#include "hybrid/hc_query.hpp"

#include "core/encoding.hpp"
#include "core/random_id.hpp"
#include "core/text.hpp"

#include <algorithm>

namespace switchboard::hybrid {
namespace {

constexpr std::string_view kHcPrefix = "sb-hc-";

// Form decoding like .NET WebUtility.UrlDecode, which leaves a malformed escape as it is.
std::string form_decode(std::string_view text) {
  return core::percent_decode(text, /*plus_as_space=*/true).value_or(std::string(text));
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
  std::string name = core::ascii_lowered(form_decode(piece.substr(0, eq)));
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

}  // namespace switchboard::hybrid
