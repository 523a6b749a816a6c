#include "admin/status.hpp"

#include <boost/json.hpp>

#include "bridge/frontend.hpp"
#include "core/relay_pump.hpp"
#include "hybrid/registry.hpp"
#include "localfirst/frontend.hpp"

namespace switchboard::admin {
namespace json = boost::json;

namespace {

// The dashboard: what this server is, and its live counts from /api/status.
constexpr std::string_view kDashboard = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem;
         color: #1d2330; background: #f7f8fa; }
  h1 { margin-bottom: 0.2rem; }
  .lead { color: #555; margin-top: 0; }
  .counts { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1.5rem 0; }
  .count { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 1rem 1.4rem;
           min-width: 9rem; }
  .count b { display: block; font-size: 2rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #e4e7ec; }
  #state { color: #888; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>Switchboard</h1>
<p class="lead">A self-hosted relay: programs behind NAT and firewalls are reached, and reach each
other, over WebSockets, with no inbound port opened on their side. This server speaks Azure Relay
Hybrid Connections (<code>/$hc/</code>), the <code>@localfirst/relay</code> v4 protocol
(<code>/introduction</code>, <code>/connection</code>) and device bridges (<code>/bridge/</code>).</p>
<div class="counts">
  <div class="count"><b id="listeners">&ndash;</b>listeners</div>
  <div class="count"><b id="peers">&ndash;</b>localfirst peers</div>
  <div class="count"><b id="pairs">&ndash;</b>active relayed pairs</div>
  <div class="count"><b id="held">&ndash;</b>held pipe sockets</div>
  <div class="count"><b id="devices">&ndash;</b>bridge devices online</div>
  <div class="count"><b id="bridges">&ndash;</b>active bridges</div>
</div>
<h2>Hybrid Connections entities</h2>
<table><thead><tr><th>path</th><th>listeners</th></tr></thead><tbody id="entities"></tbody></table>
<p id="state">loading&hellip;</p>
<script>
function show(id, value) { document.getElementById(id).textContent = value; }
function refresh() {
  fetch('/api/status', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (s) {
    show('listeners', s.hybrid.listeners);
    show('peers', s.localfirst.peers.length);
    show('pairs', s.relay.active_pairs);
    show('held', s.localfirst.held);
    show('devices', s.bridge.devices);
    show('bridges', s.bridge.active);
    var rows = document.getElementById('entities');
    rows.textContent = '';
    s.hybrid.entities.forEach(function (e) {
      var tr = rows.insertRow(), path = tr.insertCell(), n = tr.insertCell();
      path.textContent = e.path;
      n.textContent = e.listeners;
    });
    show('state', 'updated ' + new Date().toLocaleTimeString() + ', up ' + s.server.uptime_seconds + ' s');
  }).catch(function (e) { show('state', 'status unavailable: ' + e); });
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

json::array strings(const std::vector<std::string>& values) {
  json::array out;
  out.reserve(values.size());
  for (const auto& value : values) out.emplace_back(value);
  return out;
}

}  // namespace

std::string status_json(const Sources& sources) {
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - sources.started);
  json::array entities;
  std::size_t listeners = 0;
  for (const auto& entity : sources.hybrid.entities()) {
    listeners += entity.listeners;
    entities.push_back(json::object{{"path", entity.path}, {"listeners", entity.listeners}});
  }
  const auto localfirst = sources.localfirst.status();
  const auto bridge = sources.bridge.status();
  json::object document_ids;
  for (const auto& [peer, ids] : localfirst.directory.document_ids) {
    document_ids[peer] = strings(ids);
  }
  const json::object status{
      {"server",
       json::object{{"version", SWITCHBOARD_VERSION}, {"uptime_seconds", uptime.count()}}},
      {"relay", json::object{{"active_pairs", core::RelayPump::active_pairs()}}},
      {"hybrid", json::object{{"listeners", listeners}, {"entities", std::move(entities)}}},
      {"localfirst", json::object{{"peers", strings(localfirst.directory.peers)},
                                  {"documentIds", std::move(document_ids)},
                                  {"held", localfirst.held},
                                  {"paired", localfirst.paired}}},
      {"bridge",
       json::object{
           {"devices", bridge.channels}, {"pending", bridge.pending}, {"active", bridge.active}}}};
  return json::serialize(status);
}

bool handle(const std::shared_ptr<core::Handshake>& handshake, const Sources& sources) {
  const auto& request = handshake->request;
  if (request.method != "GET" || request.is_websocket_upgrade()) return false;
  const auto path = request.path();
  if (path == "/") {
    core::respond(handshake, {200,
                              "OK",
                              {{"Cache-Control", "no-store"}},
                              std::string(kDashboard),
                              "text/html; charset=utf-8"});
    return true;
  }
  if (path == "/api/status") {
    core::respond(
        handshake,
        {200, "OK", {{"Cache-Control", "no-store"}}, status_json(sources), "application/json"});
    return true;
  }
  return false;
}

}  // namespace switchboard::admin
