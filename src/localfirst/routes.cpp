#include "localfirst/routes.hpp"

#include "core/encoding.hpp"
#include "core/text.hpp"
#include "core/ws_frame.hpp"

namespace switchboard::localfirst {
namespace {

// Splits "/a/b/c" (after the prefix) into segments; one trailing slash is accepted, so
// "/a/b/" gives {a, b}. Empty segments elsewhere stay (and fail the match).
std::vector<std::string_view> segments_of(std::string_view rest) {
  std::vector<std::string_view> out;
  if (rest.empty() || rest.front() != '/') return out;
  rest.remove_prefix(1);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  while (true) {
    const auto slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

RouteMatch::Outcome route_kind(const std::vector<std::string_view>& segments) {
  if (segments.size() == 2 && core::iequals(segments[0], "introduction"))
    return RouteMatch::kIntroduction;
  if (segments.size() == 4 && core::iequals(segments[0], "connection"))
    return RouteMatch::kConnection;
  return RouteMatch::kNone;
}

}  // namespace

RouteMatch match_route(std::string_view path, std::string_view prefix,
                       std::size_t max_param_length) {
  RouteMatch match;
  if (!core::istarts_with(path, prefix)) return match;
  const auto segments = segments_of(path.substr(prefix.size()));
  const auto kind = route_kind(segments);
  if (kind == RouteMatch::kNone) return match;
  for (std::size_t i = 1; i < segments.size(); ++i) {
    if (segments[i].empty()) return match;  // each parameter is one non-empty segment
  }
  for (std::size_t i = 1; i < segments.size(); ++i) {
    // decodeURIComponent semantics: '+' stays '+', a bad escape or invalid UTF-8 is an error.
    auto decoded = core::percent_decode(segments[i]);
    if (!decoded || !core::ws::valid_utf8(*decoded)) {
      match.outcome = RouteMatch::kBadEncoding;
      match.params.clear();
      return match;
    }
    if (decoded->size() > max_param_length) {
      match.outcome = RouteMatch::kTooLong;
      match.params.clear();
      return match;
    }
    match.params.push_back(std::move(*decoded));
  }
  match.outcome = kind;
  return match;
}

}  // namespace switchboard::localfirst
