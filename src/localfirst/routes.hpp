// The two localfirst routes, matched as upstream's Express 4 router does (protocol section 3.2).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::localfirst {

struct RouteMatch {
  enum Outcome { kNone, kIntroduction, kConnection, kBadEncoding, kTooLong };
  Outcome outcome = kNone;
  // Decoded parameters: {peerId} or {local, remote, documentId}.
  std::vector<std::string> params;
};

// `path` is the request target up to '?'; `prefix` is "" or a mount path such as "/relay".
RouteMatch match_route(std::string_view path, std::string_view prefix,
                       std::size_t max_param_length);

}  // namespace switchboard::localfirst
