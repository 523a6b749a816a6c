#include "hybrid/http_messages.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <ctime>

#include <boost/json.hpp>

#include "core/text.hpp"
#include "hybrid/hc_query.hpp"

namespace switchboard::hybrid {
namespace json = boost::json;

namespace {

// Header bytes >= 0x80 are taken as Latin-1 (protocol section 4.3).
std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (b >> 6));
      out += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out;
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::any_of(names.begin(), names.end(),
                     [name](std::string_view n) { return core::iequals(name, n); });
}

// RFC 9110 token characters.
bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7F) return false;
    return std::string_view("\"(),/:;<=>?@[\\]{}").find(c) == std::string_view::npos;
  });
}

std::string http_date() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 40> text{};
  const auto n = std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return std::string(text.data(), n);
}

std::optional<int> status_of(const json::value& value) {
  if (value.is_int64()) {
    const auto v = value.as_int64();
    if (v >= 100 && v <= 999) return static_cast<int>(v);
    return std::nullopt;
  }
  if (value.is_uint64()) {
    const auto v = value.as_uint64();
    if (v >= 100 && v <= 999) return static_cast<int>(v);
    return std::nullopt;
  }
  if (value.is_double()) {  // 200.0 is an integer; 200.5 is not
    const double v = value.as_double();
    if (v >= 100 && v <= 999 && v == static_cast<double>(static_cast<int>(v)))
      return static_cast<int>(v);
    return std::nullopt;
  }
  if (value.is_string()) {  // the protocol guide's example sends "200"
    const auto text = core::trim(std::string_view(value.as_string()));
    int v = 0;
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), v);
    if (parsed.ec != std::errc{} || parsed.ptr != text.data() + text.size()) return std::nullopt;
    if (v >= 100 && v <= 999) return v;
  }
  return std::nullopt;
}

// Header values may come as numbers or booleans (hyco-https passes setHeader values through).
std::optional<std::string> header_text(const json::value& value) {
  if (value.is_string()) return std::string(value.as_string());
  if (value.is_int64()) return std::to_string(value.as_int64());
  if (value.is_uint64()) return std::to_string(value.as_uint64());
  if (value.is_bool()) return value.as_bool() ? "true" : "false";
  if (value.is_double()) return json::serialize(value);
  return std::nullopt;
}

std::string without_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

}  // namespace

json::object joined_headers(const std::vector<core::Header>& headers,
                            const std::function<bool(std::string_view name)>& keep) {
  json::object out;
  for (const auto& header : headers) {
    if (!keep(header.name)) continue;
    bool joined = false;
    for (auto& [name, value] : out) {
      if (core::iequals(name, header.name)) {
        value.as_string() = std::string(value.as_string()) + ", " + latin1_to_utf8(header.value);
        joined = true;
        break;
      }
    }
    if (!joined) out[latin1_to_utf8(header.name)] = latin1_to_utf8(header.value);
  }
  return out;
}

json::object request_headers_of(const core::RequestHead& head, bool authorization_consumed) {
  std::vector<std::string> named_by_connection;
  for (const auto& header : head.headers) {
    if (!core::iequals(header.name, "Connection")) continue;
    for (auto& token : core::split_comma_list(header.value))
      named_by_connection.push_back(std::move(token));
  }
  return joined_headers(head.headers, [&](std::string_view name) {
    if (core::hop_by_hop_header(name) ||
        one_of(name, {"Host", "Expect", "ServiceBusAuthorization", kAllowedListenersHeader,
                      kDisallowedListenersHeader})) {
      return false;
    }
    if (authorization_consumed && core::iequals(name, "Authorization")) return false;
    return std::none_of(named_by_connection.begin(), named_by_connection.end(),
                        [name](const std::string& n) { return core::iequals(name, n); });
  });
}

std::optional<std::string_view> request_path_of(std::string_view target) {
  if (!target.starts_with('/')) {
    const auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    target.remove_prefix(scheme_end + 3);
    const auto path_start = target.find_first_of("/?");
    target =
        path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
    if (!target.starts_with('/')) return std::string_view();  // "http://host?q": empty path
  }
  const auto path = target.substr(0, target.find('?'));
  return path.substr(1);
}

std::string request_target_of(std::string_view target) {
  const auto path = request_path_of(target);
  if (!path) return {};
  std::string out = "/" + std::string(*path);
  const auto q = target.find('?');
  if (q != std::string_view::npos) {
    const auto query = filter_app_query(target.substr(q + 1));
    if (query.present) out += "?" + query.text;
  }
  return out;
}

ResponseParse parse_response(const json::object& message, ResponseHead& head) {
  const auto* response = message.if_contains("response");
  if (response == nullptr || !response->is_object()) return ResponseParse::kNotResponse;
  const auto& r = response->as_object();
  const auto* id = r.if_contains("requestId");
  if (id == nullptr || !id->is_string() || id->as_string().empty())
    return ResponseParse::kNoRequestId;
  head.request_id = std::string(id->as_string());
  const auto* code = r.if_contains("statusCode");
  const auto status = code ? status_of(*code) : std::nullopt;
  if (!status) return ResponseParse::kInvalid;
  head.status = *status;
  if (const auto* description = r.if_contains("statusDescription");
      description != nullptr && description->is_string()) {
    head.description = without_crlf(std::string_view(description->as_string()));
  }
  if (const auto* headers = r.if_contains("responseHeaders");
      headers != nullptr && headers->is_object()) {
    for (const auto& [name, value] : headers->as_object()) {
      auto text = header_text(value);
      if (text) head.headers.push_back({std::string(name), std::move(*text)});
    }
  }
  if (const auto* body = r.if_contains("body"); body != nullptr && !body->is_null()) {
    if (!body->is_bool()) return ResponseParse::kInvalid;
    head.body = body->as_bool();
  }
  return ResponseParse::kOk;
}

std::vector<core::Header> sender_response_headers(const std::vector<core::Header>& listener_headers,
                                                  std::string_view via_host) {
  std::vector<core::Header> out;
  bool has_date = false;
  std::optional<std::size_t> via;
  for (const auto& header : listener_headers) {
    if (core::hop_by_hop_header(header.name) || !valid_header_name(header.name)) continue;
    if (header.value.find_first_of("\r\n") != std::string::npos) continue;
    if (core::iequals(header.name, "Date")) has_date = true;
    if (core::iequals(header.name, "Via") && !via) via = out.size();
    out.push_back(header);
  }
  const std::string hop = "1.1 " + std::string(via_host);
  if (via) {
    out[*via].value += ", " + hop;
  } else {
    out.push_back({"Via", hop});
  }
  if (!has_date) out.push_back({"Date", http_date()});
  return out;
}

bool bodiless_response(std::string_view method, int status) {
  return method == "HEAD" || (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace switchboard::hybrid
