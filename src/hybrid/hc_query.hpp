#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::hybrid {

// The sb-hc-* parameters of section 1.2, form-decoded; absent when not in the query.
struct HcParams {
  std::optional<std::string> action, id, token, status_code, status_description;
};

// Query without the leading '?'. Names match ASCII case-insensitively; first occurrence wins.
HcParams parse_hc_params(std::string_view query);

// Forwarded application query of section 1.4, without '?'; present = whether a '?' is due.
struct FilteredQuery {
  std::string text;
  bool present = false;
};

// Query without '?'. Drops "name=value" pieces whose name is sb-hc-*; keeps the rest verbatim.
FilteredQuery filter_app_query(std::string_view query);

// Listener id of section 6.3: sb-hc-id without any "_..." suffix; empty => random UUIDv4.
std::string listener_id_from(std::string_view sb_hc_id);

}  // namespace switchboard::hybrid
