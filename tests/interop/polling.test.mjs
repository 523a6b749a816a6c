// HTTP fallback (polling.md): create, send, poll, jsonp and close over plain HTTP, with `self`
// targets resolved inside Switchboard: a localfirst pairing endpoint whose other side is a `ws`
// peer, and a Hybrid Connections sender whose listener is hyco-ws.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { API_KEY, acceptBridge, bridgeConfig, nextNotification, openControlChannel, readStream } from './lib/bridge.mjs';
import { closeHycoListener, connectUrl, createToken, startHycoListener } from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';
import { selfSignedCertificate } from './lib/tls.mjs';

let server;
let base;

// External targets: `ws` echo servers outside Switchboard, plain and TLS (self-signed
// certificates made with the openssl CLI), all on 127.0.0.1.
let plainPort;
let tlsPort;
let wrongNamePort;
const externals = [];
let certDir;

async function echoServer(tls) {
  const web = tls ? https.createServer({ key: tls.key, cert: tls.cert }) : http.createServer();
  web.on('upgrade', (req, socket) => {
    if (req.url === '/echo/redirect') {
      socket.end('HTTP/1.1 302 Found\r\nLocation: ws://example.com/\r\nContent-Length: 0\r\n\r\n');
    }
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  web.on('upgrade', (req, socket, head) => {
    if (req.url === '/echo/redirect') return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}|origin=${req.headers.origin ?? ''}|ua=${req.headers['user-agent']}`, { binary: isBinary }));
    });
  });
  await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));
  externals.push(web);
  return web.address().port;
}

before(async () => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-polling-tls-'));
  const good = selfSignedCertificate(certDir, 'good', 'DNS:localhost,IP:127.0.0.1');
  const wrong = selfSignedCertificate(certDir, 'wrong', 'DNS:not-this-host.example');
  plainPort = await echoServer(null);
  tlsPort = await echoServer(good);
  wrongNamePort = await echoServer(wrong);
  fs.writeFileSync(path.join(certDir, 'cas.pem'), Buffer.concat([good.cert, wrong.cert]));
  server = await startServer({
    name: 'polling',
    config: {
      polling: {
        expiry: '1500ms', max_sockets_per_client: 8, max_body: 65536, max_events: 50, heartbeat: '400ms', stream_cap: 4096,
        buffer: 65536, max_message: 200000, target_high_water: 65536,
        allow: [`ws://127.0.0.1:${plainPort}/public`],
        allow_private: [`ws://localhost:${plainPort}/echo`, `wss://localhost:${tlsPort}`, `wss://localhost:${wrongNamePort}`],
        ca_file: path.join(certDir, 'cas.pem'),
      },
      bridge: bridgeConfig(),
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});
after(() => {
  for (const e of externals) e.close();
  fs.rmSync(certDir, { recursive: true, force: true });
});
after(async () => { await stopServer(server, assert); });

async function api(path, body, { headers = {}, method = 'POST' } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

const poll = (socket, timeout = 2000) => api(`/polysocket/poll?socket=${encodeURIComponent(socket)}&timeout=${timeout}`, undefined, { method: 'GET' });

// A `ws` peer on one side of a localfirst pipe; the polysocket takes the reciprocal side.
let pipeCount = 0;
async function pipePair() {
  pipeCount += 1;
  const doc = `doc-${pipeCount}`;
  const peer = new WebSocket(`ws://127.0.0.1:${server.port}/connection/alice/bob/${doc}`, { perMessageDeflate: false });
  const inbox = [];
  const waiters = [];
  peer.on('message', (data, isBinary) => {
    const item = { data: Buffer.from(data), isBinary };
    const w = waiters.shift();
    if (w) w(item); else inbox.push(item);
  });
  const closed = new Promise((resolve) => peer.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => { peer.once('open', resolve); peer.once('error', reject); });
  const next = () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => waiters.push(r)));
  const created = await api('/polysocket/create', { target: `ws://127.0.0.1:${server.port}/connection/bob/alice/${doc}` });
  assert.equal(created.status, 200);
  assert.equal(created.json.ok, true, created.text);
  return { peer, next, closed, socket: created.json.socket, created };
}

// Polls until `count` non-heartbeat events arrived.
async function events(socket, count, ms = 5000) {
  const got = [];
  const deadline = Date.now() + ms;
  while (got.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${count} events: ${JSON.stringify(got)}`);
    const r = await poll(socket, 1000);
    assert.equal(r.status, 200, r.text);
    for (const e of r.json.events) if (e.type !== 'heartbeat') got.push(e);
  }
  return got;
}

describe('create, send, poll and close through a localfirst pipe', () => {
  test('text and binary both ways, in order, with the API headers', async () => {
    const { peer, next, socket, created } = await pipePair();
    assert.match(socket, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(created.json.relay, `127.0.0.1:${server.port}`);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    assert.equal(created.headers.get('access-control-allow-origin'), '*');
    assert.equal(created.headers.get('x-content-type-options'), 'nosniff');
    const sent = await api('/polysocket/send', { socket, events: [
      { type: 'string', data: 'hello \u2028 world' },
      { type: 'binary', data: Buffer.from([0, 1, 2, 255]).toString('base64') },
      { type: 'string', data: 'third' },
    ] });
    assert.equal(sent.status, 201);
    assert.equal(sent.text, '');
    const a = await next();
    assert.deepEqual([a.isBinary, a.data.toString()], [false, 'hello \u2028 world']);
    const b = await next();
    assert.deepEqual([b.isBinary, [...b.data]], [true, [0, 1, 2, 255]]);
    assert.equal((await next()).data.toString(), 'third');
    peer.send('from the peer');
    peer.send(Buffer.from([9, 8, 7]));
    const got = await events(socket, 2);
    assert.deepEqual(got, [{ type: 'string', data: 'from the peer' }, { type: 'binary', data: Buffer.from([9, 8, 7]).toString('base64') }]);
    peer.close(4001, 'peer done');
    const end = await events(socket, 1);
    assert.deepEqual(end, [{ type: 'close', code: 4001, reason: 'peer done' }]);
    assert.equal((await poll(socket, 0)).status, 403, 'the socket is gone once close was delivered');
  });

  test('a poll with nothing to deliver answers a heartbeat after its timeout; timeout=0 at once', async () => {
    const { socket } = await pipePair();
    const started = Date.now();
    const r = await poll(socket, 300);
    assert.deepEqual(r.json, { ok: true, events: [{ type: 'heartbeat' }] });
    assert.ok(Date.now() - started >= 280, 'waited for the timeout');
    const now = await poll(socket, 0);
    assert.deepEqual(now.json, { ok: true, events: [{ type: 'heartbeat' }] });
    assert.equal((await poll(socket, -1)).status, 400);
    assert.equal((await poll(socket, 'abc')).status, 400);
  });

  test('a new receive call supersedes the pending one, which gets no events', async () => {
    const { peer, socket } = await pipePair();
    const first = poll(socket, 5000);
    await new Promise((r) => setTimeout(r, 200));
    const second = poll(socket, 5000);
    const r1 = await first;
    assert.deepEqual(r1.json, { ok: true, events: [] });
    peer.send('for the second');
    const r2 = await second;
    assert.deepEqual(r2.json.events, [{ type: 'string', data: 'for the second' }]);
  });

  test('close sends the code and reason to the target and delivers its close event', async () => {
    const { closed, socket } = await pipePair();
    const r = await api('/polysocket/close', { socket, code: 4002, reason: 'bye' });
    assert.equal(r.status, 204);
    assert.deepEqual(await closed, { code: 4002, reason: 'bye' });
    const got = await events(socket, 1);
    assert.equal(got[0].type, 'close');
    assert.equal(got[0].code, 4002);
    assert.equal((await api('/polysocket/send', { socket, events: [] })).status, 403);
  });

  test('jsonp wraps the answer, escapes U+2028/2029 and validates the callback', async () => {
    const { peer, socket } = await pipePair();
    peer.send('line\u2028sep\u2029end');
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${base}/polysocket/jsonp?socket=${socket}&timeout=1000&callback=PolySocket._cb.c1`);
    assert.equal(res.headers.get('content-type'), 'application/javascript; charset=utf-8');
    const body = await res.text();
    assert.equal(body, 'PolySocket._cb.c1({"ok":true,"events":[{"type":"string","data":"line\\u2028sep\\u2029end"}]});');
    const bad = await fetch(`${base}/polysocket/jsonp?socket=${socket}&callback=alert(1)`);
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/json; charset=utf-8');
    const unknown = await fetch(`${base}/polysocket/jsonp?socket=nope&callback=cb`);
    assert.equal(unknown.status, 403);
    assert.equal(await unknown.text(), 'cb({"ok":false,"error":"unknown socket"});');
  });

  test('a socket without a receive call expires and its target is closed with 1001', async () => {
    const { closed, socket } = await pipePair();
    const end = await closed;
    assert.equal(end.code, 1001);
    assert.equal((await poll(socket, 0)).status, 403);
  });
});

// A streamed receive call: resolves { res, lines() } where lines() gives what has arrived so far.
function openStream(kind, socket) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/polysocket/${kind}?socket=${socket}&_=${Math.random()}`, (res) => {
      let text = '';
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => { ended = true; });
      resolve({ res, text: () => text, ended: () => ended, req });
    });
    req.on('error', reject);
  });
}

async function until(predicate, ms = 5000, what = 'a condition') {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('streamed receive calls', () => {
  test('xhr streaming: 2 KiB prelude, one event per line, heartbeats, a new stream after the cap', async () => {
    const { peer, socket } = await pipePair();
    const s = await openStream('xhr', socket);
    assert.equal(s.res.statusCode, 200);
    assert.equal(s.res.headers['content-type'], 'application/x-ndjson; charset=utf-8');
    assert.equal(s.res.headers['x-accel-buffering'], 'no');
    assert.equal(s.res.headers['transfer-encoding'], 'chunked');
    assert.equal(s.res.headers['cache-control'], 'no-store');
    await until(() => s.text().length >= 2049, 2000, 'the prelude');
    assert.equal(s.text().slice(0, 2049), `${' '.repeat(2048)}\n`);
    peer.send('one');
    peer.send(Buffer.from([1, 2]));
    await until(() => s.text().split('\n').filter((l) => l.trim()).length >= 2, 3000, 'two event lines');
    const lines = () => s.text().split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    assert.deepEqual(lines().slice(0, 2), [{ type: 'string', data: 'one' }, { type: 'binary', data: 'AQI=' }]);
    await until(() => lines().some((e) => e.type === 'heartbeat'), 2000, 'a heartbeat after 400 ms of silence');
    // Past 4 KiB of event lines (stream_cap) the response ends; the next stream continues.
    for (let i = 0; i < 10; i += 1) peer.send('x'.repeat(500));
    await until(() => s.ended(), 3000, 'the stream to end at the cap');
    const s2 = await openStream('xhr', socket);
    const parse = (stream) => stream.text().split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    const xs = () => [...parse(s), ...parse(s2)].filter((e) => e.type === 'string' && e.data.startsWith('x')).length;
    await until(() => xs() >= 10, 3000, 'all ten messages across the two streams');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(xs(), 10, 'each message delivered once');
    peer.close(1000, 'done');
    await until(() => s2.ended(), 3000, 'the stream to end after close');
    assert.deepEqual(JSON.parse(s2.text().trim().split('\n').at(-1)), { type: 'close', code: 1000, reason: 'done' });
  });

  test('sse: data lines, and a new receive call ends the open stream (supersession)', async () => {
    const { peer, socket } = await pipePair();
    const s = await openStream('sse', socket);
    assert.equal(s.res.headers['content-type'], 'text/event-stream; charset=utf-8');
    peer.send('over sse');
    await until(() => s.text().includes('over sse'), 3000, 'the event');
    assert.match(s.text(), /^data: \{"type":"string","data":"over sse"\}\n\n/);
    const next = poll(socket, 200);
    await until(() => s.ended(), 3000, 'the superseded stream to end');
    assert.deepEqual((await next).json.events, [{ type: 'heartbeat' }]);
  });
});

describe('bounds and backpressure', () => {
  test('a target far ahead of the client is held back, and nothing is lost (R4)', async () => {
    const { peer, socket } = await pipePair();
    const total = 200;
    for (let i = 0; i < total; i += 1) peer.send(`${i}:${'m'.repeat(20000)}`);  // 4 MB, buffer 64 KiB
    const seen = [];
    while (seen.length < total) {
      const r = await poll(socket, 2000);
      for (const e of r.json.events) if (e.type === 'string') seen.push(Number(e.data.split(':')[0]));
      if (r.json.events.some((e) => e.type === 'close')) break;
    }
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i), 'every message, in order, once');
  });

  test('a target message over max_message closes the target with 1009 (R5)', async () => {
    const { peer, closed, socket } = await pipePair();
    peer.send('x'.repeat(200001));
    const got = await events(socket, 1);
    assert.deepEqual(got, [{ type: 'close', code: 1009, reason: 'message too big' }]);
    assert.equal((await closed).code, 1009);
  });

  test("a send's 201 waits while the target does not take what it was sent", async () => {
    const { peer, socket } = await pipePair();
    let received = 0;
    peer.on('message', (data) => { received += data.length; });
    // A send does not keep a socket alive (section 6): a receive call stays pending meanwhile.
    let polling = true;
    const poller = (async () => { while (polling) await poll(socket, 1000); })();
    peer._socket.pause();  // the peer stops reading: the relay, then the target, fill up
    const chunk = 'y'.repeat(60000);
    let sent = 0;
    let held = null;
    for (let i = 0; i < 600 && !held; i += 1) {
      const pending = api('/polysocket/send', { socket, events: [{ type: 'string', data: chunk }] });
      const first = await Promise.race([pending, new Promise((r) => setTimeout(() => r(null), 1000))]);
      sent += chunk.length;
      if (first === null) held = pending; else assert.equal(first.status, 201);
    }
    assert.ok(held, `a send was held back after ${sent} bytes`);
    peer._socket.resume();
    assert.equal((await held).status, 201, 'released once the target drained');
    await until(() => received === sent, 10_000, 'every byte at the peer');
    polling = false;
    await poller;
  });
});

describe('external targets', () => {
  test('an allowlisted private target works only with allow_private; ours are the only headers', async () => {
    const created = await api('/polysocket/create', { target: `ws://localhost:${plainPort}/echo/room` }, { headers: { Origin: 'https://page.example' } });
    assert.equal(created.json.ok, true, created.text);
    const { socket } = created.json;
    assert.equal((await api('/polysocket/send', { socket, events: [{ type: 'string', data: 'out there' }] })).status, 201);
    assert.deepEqual(await events(socket, 1), [{ type: 'string', data: 'echo: out there|origin=https://page.example|ua=Switchboard-polysocket' }]);
    await api('/polysocket/close', { socket });
    // Allowlisted, but 127.0.0.1 is a loopback address and the entry does not allow private ones.
    const loopback = await api('/polysocket/create', { target: `ws://127.0.0.1:${plainPort}/public` });
    assert.deepEqual([loopback.json.ok, loopback.json.error], [false, 'target not allowed']);
    for (const target of [`ws://localhost:${plainPort}/echoes`, `ws://localhost:${plainPort}/`, `wss://localhost:${plainPort}/echo`, `ws://localhost:${tlsPort}/echo`]) {
      const r = await api('/polysocket/create', { target });
      assert.deepEqual([r.json.ok, r.json.error], [false, 'target not allowed'], target);
    }
  });

  test('wss: a verified certificate works; one for another name fails; redirects are not followed', async () => {
    const created = await api('/polysocket/create', { target: `wss://localhost:${tlsPort}/secure` });
    assert.equal(created.json.ok, true, created.text);
    await api('/polysocket/send', { socket: created.json.socket, events: [{ type: 'binary', data: 'AAE=' }] });
    assert.deepEqual(await events(created.json.socket, 1), [{ type: 'binary', data: 'AAE=' }]);
    const wrong = await api('/polysocket/create', { target: `wss://localhost:${wrongNamePort}/` });
    assert.deepEqual([wrong.json.ok, wrong.json.error], [false, 'connect failed']);
    const redirect = await api('/polysocket/create', { target: `ws://localhost:${plainPort}/echo/redirect` });
    assert.deepEqual([redirect.json.ok, redirect.json.error], [false, 'handshake failed: 302']);
  });
});

describe('S0 compatibility aliases (section 10)', () => {
  let s0;
  let s0base;
  before(async () => {
    s0 = await startServer({ name: 'polling-s0', config: { polling: { s0_compat: true } } });
    s0base = `http://127.0.0.1:${s0.port}`;
  });
  after(async () => { await stopServer(s0, assert); });

  test('target_ws, socket_id, /polysocket/socket and xhr-poll with S0 events; off by default', async () => {
    const peer = new WebSocket(`ws://127.0.0.1:${s0.port}/connection/alice/bob/s0doc`, { perMessageDeflate: false });
    const got = [];
    peer.on('message', (d) => got.push(String(d)));
    const closed = new Promise((r) => peer.on('close', r));
    await new Promise((resolve) => peer.once('open', resolve));
    const created = await fetch(`${s0base}/polysocket/create`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `target_ws=${encodeURIComponent(`ws://127.0.0.1:${s0.port}/connection/bob/alice/s0doc`)}`,
    });
    const body = await created.json();
    assert.equal(created.status, 200);
    assert.match(body.socket_id, /^[A-Za-z0-9_-]{22}$/);
    const sent = await fetch(`${s0base}/polysocket/socket`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ socket_id: body.socket_id, data: 'from s0' }) });
    assert.deepEqual([sent.status, await sent.text()], [201, 'Created']);
    await until(() => got.length === 1, 3000, 'the peer to get the message');
    assert.equal(got[0], 'from s0');
    peer.send('to s0');
    peer.send(Buffer.from([5, 6]));
    const events = [];
    while (events.length < 2) {
      const r = await (await fetch(`${s0base}/polysocket/xhr-poll?socket_id=${body.socket_id}`)).json();
      events.push(...r.events.filter((e) => e.event !== 'heartbeat'));
    }
    assert.deepEqual(events, [{ event: 'message', data: 'to s0' }, { event: 'message', data: 'BQY=', binary: true }]);
    peer.close();
    await closed;
    const end = await (await fetch(`${s0base}/polysocket/xhr-poll?socket_id=${body.socket_id}`)).json();
    assert.deepEqual(end, { events: [{ event: 'close' }] });
    const unknown = await fetch(`${s0base}/polysocket/xhr-poll?socket_id=nope`);
    assert.deepEqual([unknown.status, await unknown.json()], [400, { error: 'unknown socket' }]);
    const refused = await fetch(`${s0base}/polysocket/create`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ target_ws: 'ws://example.com/' }) });
    assert.deepEqual([refused.status, await refused.json()], [400, { error: 'target not allowed' }]);
    // Without the switch (the main server of this file) the aliases do not exist.
    assert.equal((await fetch(`${base}/polysocket/xhr-poll?socket_id=x`)).status, 404);
    assert.equal((await api('/polysocket/create', { target_ws: 'ws://example.com/' })).json.error, 'missing target');
  });

  test('shutdown: a pending receive call gets close 1001 going away', async () => {
    const own = await startServer({ name: 'polling-shutdown', config: { polling: {} } });
    const peer = new WebSocket(`ws://127.0.0.1:${own.port}/connection/alice/bob/sd`, { perMessageDeflate: false });
    await new Promise((resolve) => peer.once('open', resolve));
    const created = await (await fetch(`http://127.0.0.1:${own.port}/polysocket/create`, {
      method: 'POST', body: JSON.stringify({ target: `ws://127.0.0.1:${own.port}/connection/bob/alice/sd` }),
    })).json();
    const pending = fetch(`http://127.0.0.1:${own.port}/polysocket/poll?socket=${created.socket}&timeout=10000`).then((r) => r.json());
    await new Promise((r) => setTimeout(r, 200));
    const stopped = own.stop();
    assert.deepEqual(await pending, { ok: true, events: [{ type: 'close', code: 1001, reason: 'going away' }] });
    assert.equal((await stopped).code, 0);
  });
});

describe('a bridge device reached over HTTP', () => {
  test('a signed connect URL as the target: the device is notified, accepts, and bytes cross', async () => {
    const channel = await openControlChannel(server.port, 'poll-device');
    const signed = await (await fetch(`${base}/bridge/getSignedUrl?deviceId=poll-device&requestData=x`, { headers: { 'X-Api-Key': API_KEY } })).text();
    const created = await api('/polysocket/create', { target: signed });
    assert.equal(created.json.ok, true, created.text);
    const note = await nextNotification(channel);
    assert.equal(note.bridge.requestData, 'x');
    const device = await acceptBridge(note.bridge.acceptUrl);
    assert.equal((await api('/polysocket/send', { socket: created.json.socket, events: [{ type: 'string', data: 'to the device' }] })).status, 201);
    assert.equal((await readStream(device.inbox, 13)).data.toString(), 'to the device');
    device.ws.send(Buffer.from('from the device'));
    assert.deepEqual(await events(created.json.socket, 1), [{ type: 'binary', data: Buffer.from('from the device').toString('base64') }]);
    device.ws.close();
    channel.ws.close();
  });
});

describe('a Hybrid Connections listener reached over HTTP', () => {
  test('hyco-ws echoes what a polysocket sends', async () => {
    const entity = 'poll-echo';
    const listener = await startHycoListener(server.port, entity, (ws) => ws.on('message', (m) => ws.send(m)));  // hyco-ws's ws hands text over as a string
    try {
      const target = `${connectUrl(server.port, entity)}&sb-hc-token=${encodeURIComponent(createToken(server.port, entity))}`;
      const created = await api('/polysocket/create', { target });
      assert.equal(created.json.ok, true, created.text);
      const { socket } = created.json;
      assert.equal((await api('/polysocket/send', { socket, events: [{ type: 'string', data: 'echo me' }] })).status, 201);
      assert.deepEqual(await events(socket, 1), [{ type: 'string', data: 'echo me' }]);
      assert.equal((await api('/polysocket/close', { socket })).status, 204);
    } finally {
      await closeHycoListener(listener);
    }
  });

  test('a refused handshake is reported as handshake failed with its status', async () => {
    // /bridge/connect needs an X-Api-Key header, which polling clients cannot send.
    const r = await api('/polysocket/create', { target: `ws://127.0.0.1:${server.port}/bridge/connect?deviceId=d` });
    assert.deepEqual(r.json, { ok: false, error: 'handshake failed: 401', socket: '', relay: `127.0.0.1:${server.port}` });
    const lost = await api('/polysocket/create', { target: `ws://127.0.0.1:${server.port}/no/such/endpoint` });
    assert.equal(lost.json.error, 'handshake failed: 404');
  });
});

describe('refusals', () => {
  test('targets: missing, invalid, not allowed; origin mismatch', async () => {
    assert.deepEqual((await api('/polysocket/create', {})).json, { ok: false, error: 'missing target' });
    for (const target of ['http://127.0.0.1/x', '/relative', `ws://user@127.0.0.1:${server.port}/`, `ws://127.0.0.1:${server.port}/#frag`, 'ws://127.0.0.1:0/']) {
      const r = await api('/polysocket/create', { target });
      assert.equal(r.status, 400, target);
      assert.equal(r.json.error, 'invalid target', target);
    }
    for (const target of ['ws://example.com/socket', 'ws://10.0.0.1/', 'ws://127.0.0.1:1/', `ws://localhost:${server.port}/connection/a/b/c`]) {
      const r = await api('/polysocket/create', { target });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { ok: false, error: 'target not allowed', socket: '', relay: `127.0.0.1:${server.port}` }, target);
    }
    const mismatch = await api('/polysocket/create', { target: `ws://127.0.0.1:${server.port}/connection/a/b/c`, origin: 'https://evil.example' },
      { headers: { Origin: 'https://page.example' } });
    assert.deepEqual([mismatch.status, mismatch.json.error], [400, 'origin mismatch']);
  });

  test('send: every malformed request gets 400, too many events or bytes 413, unknown 403', async () => {
    const { socket } = await pipePair();
    const cases = [
      [{ events: [] }, 400],
      [{ socket }, 400],
      [{ socket, events: 'x' }, 400],
      [{ socket, events: [1] }, 400],
      [{ socket, events: [{ type: 'other', data: '' }] }, 400],
      [{ socket, events: [{ type: 'string', data: 1 }] }, 400],
      [{ socket, events: [{ type: 'binary', data: '!!!' }] }, 400],
      [{ socket, events: Array.from({ length: 51 }, () => ({ type: 'string', data: '' })) }, 413],
      [{ socket: 'unknown', events: [] }, 403],
      [{ socket, events: [] }, 201],
    ];
    for (const [body, status] of cases) assert.equal((await api('/polysocket/send', body)).status, status, JSON.stringify(body).slice(0, 80));
    assert.equal((await api('/polysocket/send', '{not json')).status, 400);
    // A lone surrogate cannot become UTF-8 text.
    assert.equal((await api('/polysocket/send', `{"socket":"${socket}","events":[{"type":"string","data":"a\\ud800b"}]}`)).status, 400);
    assert.equal((await api('/polysocket/send', JSON.stringify({ socket, events: [{ type: 'string', data: 'x'.repeat(70000) }] }))).status, 413);
    // A form body, with events JSON-encoded.
    const form = await fetch(`${base}/polysocket/send`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `socket=${socket}&events=${encodeURIComponent(JSON.stringify([{ type: 'string', data: 'form' }]))}`,
    });
    assert.equal(form.status, 201);
  });

  test('close validates code and reason; OPTIONS preflight; unknown paths and methods', async () => {
    const { socket } = await pipePair();
    assert.equal((await api('/polysocket/close', { socket, code: 1001 })).status, 400);
    assert.equal((await api('/polysocket/close', { socket, code: 2999 })).status, 400);
    assert.equal((await api('/polysocket/close', { socket, reason: 'x'.repeat(124) })).status, 400);
    assert.equal((await api('/polysocket/close', { socket: 'nope' })).status, 403);
    const pre = await fetch(`${base}/polysocket/send`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST, OPTIONS');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'Content-Type');
    assert.equal(pre.headers.get('access-control-max-age'), '600');
    assert.equal((await api('/polysocket/nothing', {})).status, 404);
    assert.equal((await api('/polysocket/poll', {})).status, 405);
  });

  test('sockets per client address are limited: 503 too many sockets', async () => {
    const made = [];
    let refused = null;
    for (let i = 0; i < 12 && !refused; i += 1) {
      const r = await api('/polysocket/create', { target: `ws://127.0.0.1:${server.port}/connection/lim${i}/other/d` });
      if (r.status === 503) refused = r; else made.push(r.json.socket);
    }
    assert.ok(refused, 'the limit was reached');
    assert.equal(refused.json.error, 'too many sockets');
    for (const socket of made) await api('/polysocket/close', { socket });
  });
});
