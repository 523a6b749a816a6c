#include "polling/frontend.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "core/body_reader.hpp"
#include "core/encoding.hpp"
#include "core/random_id.hpp"
#include "core/text.hpp"
#include "core/tls_client.hpp"
#include "polling/polysocket_js.hpp"
#include "polling/session.hpp"
#include "polling/target_policy.hpp"
#include "polling/target_socket.hpp"

namespace switchboard::polling {
namespace asio = boost::asio;
namespace json = boost::json;
using core::Handshake;

namespace {

constexpr std::string_view kPrefix = "/polysocket/";
constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::size_t kMaxCloseReason = 123;

// "host:port" with the port defaulted by scheme, host lower-case.
std::string authority_of(std::string_view host, std::string_view port, bool secure) {
  return core::ascii_lowered(host) + ":" +
         (port.empty() ? (secure ? "443" : "80") : std::string(port));
}

// The Host header (or public URL authority) as "host:port".
std::string normalised_authority(std::string_view authority, bool secure) {
  const auto parsed = boost::urls::parse_authority(authority);
  if (!parsed) return core::ascii_lowered(authority);
  return authority_of(parsed->host(), parsed->port(), secure);
}

// ^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$
// IDNA is not available: only ASCII host names are matched at all.
bool ascii_host(std::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool valid_callback(std::string_view name) {
  const auto word = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$';
  };
  if (name.empty() || name.size() > 64 || !word(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return word(c) || (c >= '0' && c <= '9') || c == '.'; });
}

// Decoded base64, standard or URL-safe alphabet, padding optional.
std::optional<std::string> decode_base64(std::string data) {
  if (auto url = core::base64url_decode(data)) return url;
  while (data.size() % 4 != 0) data.push_back('=');
  if (data.empty()) return std::string();
  return core::base64_decode(data);
}

std::optional<long long> integer_of(const json::value& value) {
  if (value.is_int64()) return value.as_int64();
  if (value.is_uint64()) return static_cast<long long>(value.as_uint64());
  if (value.is_string()) {
    const auto text = std::string_view(value.as_string());
    long long out = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc{} && ptr == text.data() + text.size() && !text.empty()) return out;
  }
  return std::nullopt;
}

}  // namespace

// Parameters from the query string and the body (section 3.1); the body wins.
struct Frontend::Params {
  json::object fields;

  const json::value* get(std::string_view name) const { return fields.if_contains(name); }
  std::optional<std::string> text(std::string_view name) const {
    const auto* v = get(name);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  }

  void add_form(std::string_view text, bool overwrite) {
    for (auto& [name, value] : core::form_pairs(text)) {
      if (!name.empty() && (overwrite || !fields.contains(name))) fields[name] = std::move(value);
    }
  }

  // False for a body that is neither a JSON object nor a form.
  bool add_body(std::string_view content_type, std::string_view body) {
    const auto type =
        core::ascii_lowered(core::trim(content_type.substr(0, content_type.find(';'))));
    const auto start = body.find_first_not_of(" \t\r\n");
    const bool looks_json = start != std::string_view::npos && body[start] == '{';
    if (type == "application/x-www-form-urlencoded") {
      json::object query = std::move(fields);
      fields = {};
      add_form(body, true);
      // There, `events` is a JSON-encoded string.
      if (auto* events = fields.if_contains("events"); events && events->is_string()) {
        boost::system::error_code ec;
        auto parsed = json::parse(events->as_string(), ec);
        if (ec) return false;
        *events = std::move(parsed);
      }
      for (auto& [k, v] : query) {
        if (!fields.contains(k)) fields[k] = std::move(v);
      }
      return true;
    }
    if (type == "application/json" || type == "text/plain" || (type.empty() && looks_json)) {
      if (start == std::string_view::npos) return true;  // an empty body adds nothing
      boost::system::error_code ec;
      auto parsed = json::parse(body, ec);
      if (ec || !parsed.is_object()) return false;
      for (auto& [k, v] : parsed.as_object()) fields[k] = std::move(v);
      return true;
    }
    return body.empty() || start == std::string_view::npos;
  }
};

bool owns_path(std::string_view path) {
  return path.starts_with(kPrefix) || path == "/polysocket.js";
}

Frontend::Frontend(const Settings& settings, core::Services& services)
    : settings_(settings), services_(services) {
  for (const auto* list : {&settings.allow, &settings.allow_private}) {
    for (const auto& text : *list) {
      if (auto pattern = parse_target_pattern(text, list == &settings.allow_private)) {
        patterns_.push_back(std::move(*pattern));
      }
    }
  }
  if (std::any_of(patterns_.begin(), patterns_.end(),
                  [](const TargetPattern& p) { return p.secure; })) {
    std::string error;
    tls_ = core::make_client_tls(settings.ca_file, error);
    if (!error.empty()) spdlog::error("polling: TLS trust for wss targets: {}", error);
  }
  if (!settings.public_url.empty()) {
    const auto url = boost::urls::parse_uri(settings.public_url);
    if (url && url->has_authority()) {
      const bool secure = url->scheme() == "https" || url->scheme() == "wss";
      public_authority_ = authority_of(url->host(), url->port(), secure);
      public_host_ = std::string(url->encoded_host_and_port());
    }
  }
}

std::vector<core::Header> Frontend::api_headers(const Handshake& handshake) const {
  std::vector<core::Header> headers{{"Cache-Control", "no-store"},
                                    {"Pragma", "no-cache"},
                                    {"Expires", "0"},
                                    {"X-Content-Type-Options", "nosniff"}};
  // Section 3.3: any origin by default; with an allowlist, the listed origin echoed.
  if (settings_.allowed_origins.empty()) {
    headers.push_back({"Access-Control-Allow-Origin", "*"});
  } else if (const auto origin = handshake.request.find("Origin")) {
    if (std::find(settings_.allowed_origins.begin(), settings_.allowed_origins.end(), *origin) !=
        settings_.allowed_origins.end()) {
      headers.push_back({"Access-Control-Allow-Origin", std::string(*origin)});
    }
    headers.push_back({"Vary", "Origin"});
  }
  return headers;
}

void Frontend::reply(const std::shared_ptr<Handshake>& handshake, int status, std::string body,
                     std::string_view content_type) const {
  auto headers = api_headers(*handshake);
  if (status == 204 && handshake->request.method == "OPTIONS") {
    headers.push_back({"Access-Control-Allow-Methods", "GET, POST, OPTIONS"});
    headers.push_back({"Access-Control-Allow-Headers", "Content-Type"});
    headers.push_back({"Access-Control-Max-Age", "600"});
  }
  core::respond(handshake, {status, std::string(core::standard_reason(status)), std::move(headers),
                            std::move(body), std::string(content_type)});
}

void Frontend::error(const std::shared_ptr<Handshake>& handshake, int status,
                     std::string_view message) const {
  spdlog::debug("polling: {} {} from {}: {} {}", handshake->request.method,
                handshake->request.path(), handshake->remote.address, status, message);
  reply(handshake, status, error_json(message), kJson);
}

void Frontend::handle(const std::shared_ptr<Handshake>& handshake) {
  const auto& head = handshake->request;
  const auto path = head.path();
  if (path == "/polysocket.js") {
    // Section 11: the only cacheable resource of the API.
    core::respond(handshake, {200,
                              "OK",
                              {{"Cache-Control", "public, max-age=3600"},
                               {"Access-Control-Allow-Origin", "*"},
                               {"X-Content-Type-Options", "nosniff"}},
                              std::string(kPolysocketJs),
                              "application/javascript; charset=utf-8"});
    return;
  }
  const auto name = path.substr(kPrefix.size());
  if (head.is_websocket_upgrade()) {
    core::refuse(handshake, {400, "Bad Request: the polysocket API takes plain HTTP requests."});
    return;
  }
  const bool s0 = settings_.s0_compat;
  const bool post =
      name == "create" || name == "send" || name == "close" || (s0 && name == "socket");
  const bool get = name == "poll" || name == "jsonp" || name == "xhr" || name == "sse" ||
                   (s0 && name == "xhr-poll");
  if (!post && !get) return error(handshake, 404, "not found");
  if (head.method == "OPTIONS") return reply(handshake, 204, {}, {});
  if ((post && head.method != "POST") || (get && head.method != "GET")) {
    return error(handshake, 405, "method not allowed");
  }
  if (get) {
    return receive(handshake, name == "jsonp"      ? ReceiveKind::kJsonp
                              : name == "xhr"      ? ReceiveKind::kXhr
                              : name == "sse"      ? ReceiveKind::kSse
                              : name == "xhr-poll" ? ReceiveKind::kS0Poll
                                                   : ReceiveKind::kPoll);
  }
  core::read_body(
      handshake, settings_.max_body,
      [this, handshake, which = std::string(name)](core::BodyOutcome outcome,
                                                   const std::string& body) {
        if (outcome == core::BodyOutcome::kTooLarge) {
          return error(handshake, 413, "request body too large");
        }
        if (outcome != core::BodyOutcome::kComplete) {
          return error(handshake, 400, "malformed request body");
        }
        Params params;
        params.add_form(handshake->request.query(), false);
        if (!params.add_body(handshake->request.find("Content-Type").value_or(""), body)) {
          return error(handshake, 400, "invalid body");
        }
        if (which == "create") return create(handshake, params);
        if (which == "send") return send(handshake, params);
        if (which == "socket") return s0_send(handshake, params);
        close(handshake, params);
      });
}

std::string Frontend::relay_host(const Handshake& handshake) const {
  if (!public_host_.empty()) return public_host_;
  return std::string(handshake.request.find("Host").value_or(""));
}

bool Frontend::is_self(std::string_view authority, const Handshake& handshake) const {
  if (!public_authority_.empty() && authority == public_authority_) return true;
  const auto host = handshake.request.find("Host");
  return host && authority == normalised_authority(*host, handshake.secure);
}

void Frontend::create(const std::shared_ptr<Handshake>& handshake, const Params& params) {
  // S0 (section 10): `target_ws`, and every failure a 400 {"error": ...}.
  const bool s0 = settings_.s0_compat && !params.get("target") && params.get("target_ws");
  const auto error = [&](const std::shared_ptr<Handshake>& h, int status, std::string_view text) {
    if (s0) return reply(h, 400, json::serialize(json::object{{"error", text}}), kJson);
    this->error(h, status, text);
  };
  const auto request_origin = handshake->request.find("Origin");
  if (!settings_.allowed_origins.empty() && request_origin &&
      std::find(settings_.allowed_origins.begin(), settings_.allowed_origins.end(),
                *request_origin) == settings_.allowed_origins.end()) {
    return error(handshake, 403, "origin not allowed");
  }
  const auto target = params.text(s0 ? "target_ws" : "target");
  if (!target || target->empty()) return error(handshake, 400, "missing target");
  const auto url = boost::urls::parse_uri(*target);
  const bool secure = url && url->scheme() == "wss";
  if (!url || (url->scheme() != "ws" && !secure) || !url->has_authority() || url->host().empty() ||
      url->has_userinfo() || url->has_fragment() ||
      (url->has_port() && (url->port().empty() || url->port_number() == 0))) {
    return error(handshake, 400, "invalid target");
  }
  std::string origin;
  const auto origin_param = params.text("origin");
  if (request_origin) {
    if (origin_param && *origin_param != *request_origin) {
      return error(handshake, 400, "origin mismatch");
    }
    origin = std::string(*request_origin);
  } else if (origin_param) {
    const auto parsed = boost::urls::parse_uri(*origin_param);
    if (parsed && parsed->has_authority() && !parsed->host().empty() &&
        (parsed->path().empty() || parsed->path() == "/") && !parsed->has_query()) {
      origin = *origin_param;
    }
  }
  const std::string relay = relay_host(*handshake);
  const bool self = is_self(authority_of(url->host(), url->port(), secure), *handshake);
  // Section 5: `self` targets, or allowlisted ones; nothing is resolved or dialled for any other.
  const TargetPattern* pattern =
      self ? nullptr
           : match_target(patterns_, secure, url->host(), url->port(),
                          url->encoded_path().empty() ? std::string_view("/")
                                                      : std::string_view(url->encoded_path()));
  if (!self && (pattern == nullptr || !ascii_host(url->host()) || (secure && !tls_))) {
    if (s0) return error(handshake, 400, "target not allowed");
    return reply(
        handshake, 200,
        json::serialize(json::object{
            {"ok", false}, {"error", "target not allowed"}, {"socket", ""}, {"relay", relay}}),
        kJson);
  }
  const std::string client = handshake->remote.address;
  const auto bytes = core::random_bytes(16);
  const std::string id = core::base64url_encode(bytes.data(), bytes.size());
  std::shared_ptr<Session> session;
  {
    const std::lock_guard lock(mutex_);
    auto& mine = per_client_[client];
    if (mine >= settings_.max_sockets_per_client || sessions_.size() >= settings_.max_sockets) {
      if (mine == 0) per_client_.erase(client);
      session = nullptr;
    } else {
      session = std::make_shared<Session>(
          handshake->context, settings_, id, relay,
          [this](const std::shared_ptr<Handshake>& h, int status, std::string body,
                 std::string_view type) { reply(h, status, std::move(body), type); },
          [this, client](const std::string& gone) { forget(gone, client); });
      sessions_.emplace(id, session);
      ++mine;
    }
  }
  if (!session) return error(handshake, 503, "too many sockets");
  std::string path = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
  if (url->has_query()) path += "?" + std::string(url->encoded_query());
  auto& context = handshake->context;
  if (self) {
    session->open(
        handshake,
        [&, path, origin](TargetSocket::Handlers handlers) {
          return TargetSocket::open_self(context, services_, handshake->remote,
                                         std::string(url->encoded_host_and_port()), path, origin,
                                         settings_, std::move(handlers));
        },
        s0);
    return;
  }
  const ExternalTarget external{
      secure,
      core::ascii_lowered(url->host()),
      url->has_port() ? std::string(url->port()) : std::string(secure ? "443" : "80"),
      std::string(url->encoded_host_and_port()),
      path,
      origin,
      pattern->allow_private};
  session->open(
      handshake,
      [&](TargetSocket::Handlers handlers) {
        return TargetSocket::open_external(context, external, settings_, tls_.get(),
                                           std::move(handlers));
      },
      s0);
}

std::optional<std::string> Frontend::socket_of(const Params& params) const {
  auto id = params.text("socket");
  if (!id && settings_.s0_compat) id = params.text("socket_id");
  return id;
}

void Frontend::s0_send(const std::shared_ptr<Handshake>& handshake, const Params& params) {
  const auto fail = [&](std::string_view text) {
    reply(handshake, 400, json::serialize(json::object{{"error", text}}), kJson);
  };
  const auto id = socket_of(params);
  const auto data = params.text("data");
  if (!id || !data) return fail("socket_id and data are required");
  auto session = find(*id);
  if (!session) return fail("unknown socket");
  asio::post(session->context(), [session, handshake, data = *data]() mutable {
    session->send(handshake, {OutgoingEvent{true, std::move(data)}}, true);
  });
}

void Frontend::send(const std::shared_ptr<Handshake>& handshake, const Params& params) {
  const auto id = socket_of(params);
  if (!id || id->empty()) return error(handshake, 400, "missing socket");
  const auto* events = params.get("events");
  if (events == nullptr || !events->is_array()) return error(handshake, 400, "invalid events");
  if (events->as_array().size() > settings_.max_events) {
    return error(handshake, 413, "too many events");
  }
  // All or nothing: every event is checked before any is sent.
  std::vector<OutgoingEvent> out;
  out.reserve(events->as_array().size());
  for (const auto& event : events->as_array()) {
    const auto* object = event.if_object();
    const auto* type = object ? object->if_contains("type") : nullptr;
    const auto* data = object ? object->if_contains("data") : nullptr;
    if (!type || !type->is_string() || !data || !data->is_string()) {
      return error(handshake, 400, "invalid event");
    }
    if (type->as_string() == "string") {
      out.push_back({true, std::string(data->as_string())});
    } else if (type->as_string() == "binary") {
      auto decoded = decode_base64(std::string(data->as_string()));
      if (!decoded) return error(handshake, 400, "invalid base64");
      out.push_back({false, std::move(*decoded)});
    } else {
      return error(handshake, 400, "invalid event type");
    }
  }
  auto session = find(*id);
  if (!session) return error(handshake, 403, "unknown socket");
  asio::post(session->context(), [session, handshake, out = std::move(out)]() mutable {
    session->send(handshake, std::move(out));
  });
}

void Frontend::close(const std::shared_ptr<Handshake>& handshake, const Params& params) {
  const auto id = socket_of(params);
  if (!id || id->empty()) return error(handshake, 400, "missing socket");
  long long code = 1000;
  if (const auto* given = params.get("code")) {
    const auto parsed = integer_of(*given);
    if (!parsed || (*parsed != 1000 && (*parsed < 3000 || *parsed > 4999))) {
      return error(handshake, 400, "invalid code");
    }
    code = *parsed;
  }
  std::string reason;
  if (const auto* given = params.get("reason")) {
    if (!given->is_string() || given->as_string().size() > kMaxCloseReason) {
      return error(handshake, 400, "invalid reason");
    }
    reason = std::string(given->as_string());
  }
  auto session = find(*id);
  if (!session) return error(handshake, 403, "unknown socket");
  asio::post(session->context(), [session, handshake, code, reason = std::move(reason)]() mutable {
    session->close(handshake, static_cast<std::uint16_t>(code), std::move(reason));
  });
}

void Frontend::receive(const std::shared_ptr<Handshake>& handshake, ReceiveKind kind) {
  const bool jsonp = kind == ReceiveKind::kJsonp;
  const auto query = handshake->request.query();
  std::string callback;
  if (jsonp) {
    callback = core::form_param(query, "callback").value_or("");
    // Without a valid callback nothing can be wrapped safely: plain JSON (section 7.3).
    if (!valid_callback(callback)) return error(handshake, 400, "invalid callback");
  }
  auto fail = [&](int status, std::string_view message) {
    if (!jsonp) return error(handshake, status, message);
    reply(handshake, status, jsonp_body(callback, error_json(message)),
          "application/javascript; charset=utf-8");
  };
  auto id = core::form_param(query, "socket").value_or("");
  if (id.empty() && settings_.s0_compat) id = core::form_param(query, "socket_id").value_or("");
  if (kind == ReceiveKind::kS0Poll) {
    // S0: a 15 s hold, and 400 {"error": ...} for an unknown socket.
    auto session = find(id);
    if (!session) {
      return reply(handshake, 400, R"({"error":"unknown socket"})", kJson);
    }
    asio::post(session->context(), [session, handshake] {
      session->receive(handshake, ReceiveKind::kS0Poll, std::chrono::seconds(15), {});
    });
    return;
  }
  if (id.empty()) return fail(400, "missing socket");
  core::Duration timeout = settings_.poll_timeout;
  if (const auto given = core::form_param(query, "timeout")) {
    long long ms = 0;
    const auto [ptr, ec] = std::from_chars(given->data(), given->data() + given->size(), ms);
    if (ec != std::errc{} || ptr != given->data() + given->size() || ms < 0) {
      return fail(400, "invalid timeout");
    }
    timeout = std::min<core::Duration>(core::Duration(ms), settings_.poll_timeout_cap);
  }
  auto session = find(id);
  if (!session) return fail(403, "unknown socket");
  if (kind == ReceiveKind::kXhr || kind == ReceiveKind::kSse) {
    // A stream's writes and timers run on the socket's thread, so its connection moves there.
    const auto detached = core::detach(handshake->socket);
    asio::post(session->context(), [this, session, detached, request = handshake->request,
                                    remote = handshake->remote, kind,
                                    headers = api_headers(*handshake)]() mutable {
      auto& context = session->context();
      auto moved = std::make_shared<Handshake>(services_, context, core::attach(context, detached),
                                               std::move(remote), core::SourceTicket{});
      moved->request = std::move(request);
      session->receive(moved, kind, {}, {}, std::move(headers));
    });
    return;
  }
  asio::post(session->context(), [session, handshake, kind, timeout, callback] {
    session->receive(handshake, kind, timeout, callback);
  });
}

std::shared_ptr<Session> Frontend::find(const std::string& id) const {
  const std::lock_guard lock(mutex_);
  const auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void Frontend::forget(const std::string& id, const std::string& client) {
  const std::lock_guard lock(mutex_);
  if (sessions_.erase(id) == 0) return;
  const auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

void Frontend::shutdown() {
  std::vector<std::shared_ptr<Session>> all;
  {
    const std::lock_guard lock(mutex_);
    for (auto& [id, session] : sessions_) all.push_back(session);
  }
  for (auto& session : all) asio::post(session->context(), [session] { session->shut_down(); });
}

std::size_t Frontend::sockets() const {
  const std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace switchboard::polling
