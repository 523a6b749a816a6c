// The JSON of HTTP relaying (protocol sections 4.3, 5.2, 3.5.3, 5.5): request messages built from
// a sender's request head, response messages parsed, and the response head a sender receives.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/request_head.hpp"

namespace switchboard::hybrid {

constexpr std::string_view kAllowedListenersHeader = "Microsoft-Relay-AllowedListeners";
constexpr std::string_view kDisallowedListenersHeader = "Microsoft-Relay-DisallowedListeners";

// Headers as one flat object: names as first received, repeated names (case-insensitive) joined
// with ", " in arrival order, bytes >= 0x80 taken as Latin-1. `keep` decides which go in.
boost::json::object joined_headers(const std::vector<core::Header>& headers,
                                   const std::function<bool(std::string_view name)>& keep);

// requestHeaders of section 5.2: hop-by-hop headers, every header named in Connection, Expect,
// the token header, the listener-targeting headers, and Authorization when it was the token.
boost::json::object request_headers_of(const core::RequestHead& head, bool authorization_consumed);

// requestTarget of section 5.2: origin form (an absolute-form target loses its scheme and
// authority), path byte for byte, query filtered as in section 1.4. Empty if the target has no
// path (e.g. "*").
std::string request_target_of(std::string_view target);

// The path of an origin- or absolute-form target, without the leading '/' ("hc1/x" for
// "http://host/hc1/x?q"); nullopt for other forms.
std::optional<std::string_view> request_path_of(std::string_view target);

// A response message (section 3.5.3), validated.
struct ResponseHead {
  std::string request_id;
  int status = 0;
  std::string description;  // CR/LF removed; empty = the standard phrase
  std::vector<core::Header> headers;
  bool body = false;
};

enum class ResponseParse {
  kOk,
  kNotResponse,  // no "response" object: not meant for HTTP relaying
  kNoRequestId,  // nothing to correlate it with: ignored
  kInvalid,      // statusCode or body unusable: the sender gets 502 (section 5.6)
};

// Parses {"response":{...}}; on kInvalid, `head.request_id` still names the request.
ResponseParse parse_response(const boost::json::object& message, ResponseHead& head);

// The headers a sender receives (section 5.5): the listener's minus hop-by-hop ones and invalid
// entries, Date added if absent, "1.1 {via_host}" appended to Via.
std::vector<core::Header> sender_response_headers(const std::vector<core::Header>& listener_headers,
                                                  std::string_view via_host);

// Whether a response to `method` with `status` carries no body (HEAD, 1xx, 204, 304).
bool bodiless_response(std::string_view method, int status);

}  // namespace switchboard::hybrid
