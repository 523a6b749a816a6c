// HTTP relaying (section 5): plain HTTP senders (Node http, curl) reach the real hyco-https 1.4.5
// listener; raw control channels (ws 8) play listeners for the cases hyco-https cannot produce
// (no answer, disappearing, out-of-order and string-status responses, late rendezvous).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createToken, openControl, sha256, sleep, tokenQuery, withTimeout, wsConnect } from './lib/hc.mjs';
import { closeHttpsListener, curl, readBody, send, startHttpsListener } from './lib/http.mjs';
import { startServer, stopServer } from './lib/server.mjs';

const RESPONSE_TIMEOUT_MS = 1500;
const BIG = crypto.randomBytes(10 * 1024 * 1024);
const LISTEN_ONLY = { name: 'listen-only', key: 'listen-key' };

let server;
let port;
const listeners = [];
before(async () => {
  server = await startServer({
    name: 'http',
    config: {
      hybrid: { response_timeout: `${RESPONSE_TIMEOUT_MS}ms`, body_idle_timeout: '1500ms', tombstone_ttl: '30s' },
      entities: [
        { path: 'anon', requires_client_authorization: false, accept_websocket: false },
        { path: 'nohttp', accept_http: false },
        { path: 'files', accept_websocket: false, rules: [{ ...LISTEN_ONLY, rights: ['Listen'] }] },
      ],
    },
  });
  port = server.port;
  listeners.push(await startHttpsListener(port, 'files', serve));
  listeners.push(await startHttpsListener(port, 'anon', serve));
});
after(async () => {
  for (const l of listeners) await closeHttpsListener(l);
  await stopServer(server, assert);
});

// The hyco-https application: /echo answers what arrived, /status/N answers N, /big/N sends N
// bytes of BIG, /delay/MS/TAG answers TAG after MS.
function serve(req, res) {
  readBody(req).then((body) => {
    const [, , what, arg, tag] = req.url.split('?')[0].split('/');
    if (what === 'status') {
      res.statusCode = Number(arg);
      res.end();
    } else if (what === 'big') {
      res.setHeader('Content-Type', 'application/octet-stream');
      res.end(BIG.subarray(0, Number(arg)));
    } else if (what === 'delay') {
      setTimeout(() => res.end(tag), Number(arg));
    } else if (what === 'name') {
      res.end(arg);
    } else {
      res.statusCode = 200;
      res.statusMessage = 'Echoed';
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('X-Listener', 'hyco-https');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, length: body.length, sha: sha256(body) }));
    }
  });
}

const auth = (entity = 'files') => ({ ServiceBusAuthorization: createToken(port, entity) });

test('GET, POST, PUT, DELETE and HEAD: method, path, query and headers arrive as specified', { timeout: 30_000 }, async () => {
  for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
    const body = method === 'GET' || method === 'DELETE' ? undefined : `payload for ${method}`;
    const r = await send(port, `/files/echo/Sub%2FPath?a=1&sb-hc-id=corr&b=%2F&&c`, {
      method, body, headers: { ...auth(), 'X-Custom': 'v1', 'Content-Type': 'text/plain', 'x-multi': ['one', 'two'] },
    });
    assert.equal(r.status, 200, `${method}: ${r.status} ${r.statusMessage} ${r.body}`);
    assert.equal(r.statusMessage, 'Echoed', 'the status description passes through verbatim');
    assert.match(r.headers.via, /^1\.1 127\.0\.0\.1$/, 'Via appended (section 5.5)');
    assert.equal(r.headers['x-listener'], 'hyco-https');
    assert.ok(r.headers.date, 'Date added');
    const seen = JSON.parse(r.body);
    assert.equal(seen.method, method);
    assert.equal(seen.url, '/files/echo/Sub%2FPath?a=1&b=%2F&&c', 'path byte for byte, sb-hc-* removed from the query');
    assert.equal(seen.headers['x-custom'], 'v1');
    assert.equal(seen.headers['x-multi'], 'one, two', 'repeated headers joined with ", "');
    assert.equal(seen.headers.servicebusauthorization, undefined, 'the token header is stripped');
    assert.equal(seen.headers.host, undefined, 'Host is dropped (D5)');
    assert.equal(seen.headers.connection, undefined, 'hop-by-hop headers are dropped');
    assert.equal(seen.length, body ? Buffer.byteLength(body) : 0);
    if (body) assert.equal(seen.sha, sha256(Buffer.from(body)));
  }
  const head = await send(port, '/files/echo/x', { method: 'HEAD', headers: auth() });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0, 'no body for HEAD');
});

test('204 and 304 carry no body, and the connection stays usable after them (keep-alive)', { timeout: 30_000 }, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const ports = new Set();
    for (const path of ['/files/status/204', '/files/status/304', '/files/echo/after', '/files/status/204', '/files/echo/again']) {
      const r = await send(port, path, { headers: auth(), agent });
      ports.add(r.headers['x-listener'] ?? 'none');
      if (path.includes('status')) {
        assert.equal(r.status, Number(path.split('/').pop()));
        assert.equal(r.body.length, 0);
        assert.equal(r.headers['content-length'], undefined);
        assert.equal(r.headers['transfer-encoding'], undefined);
      } else {
        assert.equal(r.status, 200, `${r.status} ${r.statusMessage}: the zero-length frame after body:false was discarded`);
        assert.equal(JSON.parse(r.body).url, path);
      }
    }
    const sockets = Object.values(agent.freeSockets).flat();
    assert.equal(sockets.length, 1, 'all five requests went over one kept-alive connection');
  } finally {
    agent.destroy();
  }
});

test('100 KB and 10 MB request and response bodies arrive intact (checksummed)', { timeout: 60_000 }, async () => {
  for (const size of [100 * 1024, 10 * 1024 * 1024]) {
    const body = BIG.subarray(0, size);
    const up = await send(port, '/files/echo/upload', { method: 'POST', body, headers: auth(), timeoutMs: 30_000 });
    assert.equal(up.status, 200, `${up.status} ${up.statusMessage}`);
    const seen = JSON.parse(up.body);
    assert.equal(seen.length, size);
    assert.equal(seen.sha, sha256(body), `upload of ${size} bytes`);
    const down = await send(port, `/files/big/${size}`, { headers: auth(), timeoutMs: 30_000 });
    assert.equal(down.status, 200);
    assert.equal(down.body.length, size);
    assert.equal(sha256(down.body), sha256(body), `download of ${size} bytes`);
    assert.equal(down.headers['content-type'], 'application/octet-stream');
  }
});

async function* pieces(buffer, size, pauseMs = 0) {
  for (let at = 0; at < buffer.length; at += size) {
    yield buffer.subarray(at, at + size);
    if (pauseMs) await sleep(pauseMs);
  }
}

test('chunked uploads: a small one inline, a large and a slow one over the rendezvous', { timeout: 60_000 }, async () => {
  for (const [size, piece, pause] of [[3000, 1000, 0], [2 * 1024 * 1024, 64 * 1024, 0], [5000, 1000, 300]]) {
    const body = BIG.subarray(0, size);
    const r = await send(port, '/files/echo/chunked', { method: 'POST', body: pieces(body, piece, pause), headers: auth(), timeoutMs: 30_000 });
    assert.equal(r.status, 200, `${r.status} ${r.statusMessage}`);
    const seen = JSON.parse(r.body);
    assert.equal(seen.length, size);
    assert.equal(seen.sha, sha256(body));
    assert.equal(seen.headers['transfer-encoding'], undefined, 'Transfer-Encoding is not forwarded');
  }
});

test('200 concurrent requests with random listener delays each get their own response', { timeout: 60_000 }, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      send(port, `/files/delay/${Math.floor(Math.random() * 500)}/tag-${i}`, { headers: auth(), agent, timeoutMs: 30_000 })));
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `tag-${i}`);
    });
  } finally {
    agent.destroy();
  }
});

test('two listeners on one entity share the load', { timeout: 30_000 }, async (t) => {
  const make = (name) => startHttpsListener(port, 'shared', (req, res) => res.end(name));
  const a = await make('a');
  const b = await make('b');
  t.after(() => Promise.all([closeHttpsListener(a), closeHttpsListener(b)]));
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 60; i++) {
    const r = await send(port, '/shared/x', { headers: auth('shared') });
    assert.equal(r.status, 200);
    counts[r.body.toString()] += 1;
  }
  assert.ok(counts.a >= 10 && counts.b >= 10, `both listeners served requests: ${JSON.stringify(counts)}`);
});

test('curl as sender: token in the query, POST with Expect: 100-continue, status and body intact', { timeout: 30_000 }, async (t) => {
  const body = BIG.subarray(0, 200_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-curl-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'body.bin');
  fs.writeFileSync(file, body);
  const url = `http://127.0.0.1:${port}/files/echo/curl?x=1&${tokenQuery(createToken(port, 'files'))}`;
  const r = await curl(['-sS', '-v', '-H', 'Expect: 100-continue', '-H', 'Content-Type: application/octet-stream',
    '--data-binary', `@${file}`, url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /< HTTP\/1\.1 100 Continue/, 'Switchboard answered the Expect itself');
  assert.match(r.stderr, /< HTTP\/1\.1 200 Echoed/);
  const seen = JSON.parse(r.stdout);
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/files/echo/curl?x=1', 'sb-hc-token never reaches the listener');
  assert.equal(seen.sha, sha256(body));
  assert.equal(seen.headers.expect, undefined, 'Expect is not forwarded');
  const get = await curl(['-sS', '-o', '-', '-w', '%{http_code}', `http://127.0.0.1:${port}/files/big/1000?${tokenQuery(createToken(port, 'files'))}`]);
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout.subarray(-3).toString(), '200');
  assert.equal(sha256(get.stdout.subarray(0, -3)), sha256(BIG.subarray(0, 1000)));
});

test('no listener: 502; unknown entity in strict terms and disabled HTTP: 404', { timeout: 15_000 }, async () => {
  const none = await send(port, '/nobody/x', { headers: auth('nobody') });
  assert.equal(none.status, 502);
  assert.match(none.statusMessage, /^There are no listeners connected for the endpoint\. TrackingId:/);
  assert.equal(none.headers.via, undefined, 'answers Switchboard originates carry no Via');
  const off = await send(port, '/nohttp/x', { headers: auth('nohttp') });
  assert.equal(off.status, 404);
  assert.match(off.statusMessage, /^Endpoint does not accept HTTP requests\./);
});

test('401 and 403: missing, forged and misdirected tokens; Authorization as the token; anonymous entity', { timeout: 15_000 }, async () => {
  const missing = await send(port, '/files/echo/x');
  assert.equal(missing.status, 401);
  assert.match(missing.statusMessage, /^Unauthorized: no security token was supplied\./);
  const forged = await send(port, '/files/echo/x', {
    headers: { ServiceBusAuthorization: createToken(port, 'files', { key: 'not-the-key' }) },
  });
  assert.equal(forged.status, 401);
  assert.match(forged.statusMessage, /token has an invalid signature/);
  const elsewhere = await send(port, '/files/echo/x', { headers: { ServiceBusAuthorization: createToken(port, 'other') } });
  assert.equal(elsewhere.status, 403);
  assert.match(elsewhere.statusMessage, /^InvalidAudience/);
  const listenOnly = await send(port, '/files/echo/x', {
    headers: { ServiceBusAuthorization: createToken(port, 'files', { keyName: LISTEN_ONLY.name, key: LISTEN_ONLY.key }) },
  });
  assert.equal(listenOnly.status, 403);
  assert.match(listenOnly.statusMessage, /does not grant the Send right/);
  const bearer = await send(port, '/files/echo/x', { headers: { Authorization: 'Bearer abc' } });
  assert.equal(bearer.status, 401, 'a non-SAS Authorization is no token');
  const viaAuthorization = await send(port, '/files/echo/x', { headers: { Authorization: createToken(port, 'files') } });
  assert.equal(viaAuthorization.status, 200, 'Authorization is the token when no other is given');
  assert.equal(JSON.parse(viaAuthorization.body).headers.authorization, undefined, 'and then it is stripped');
  const anon = await send(port, '/anon/echo/x', { headers: { Authorization: 'Bearer for-the-app' } });
  assert.equal(anon.status, 200, 'anonymous entity needs no token');
  assert.equal(JSON.parse(anon.body).headers.authorization, 'Bearer for-the-app', 'and forwards Authorization');
});

test('a listener that disappears mid-request makes the sender get 502 at once', { timeout: 15_000 }, async (t) => {
  const control = await openControl(port, 'vanish');
  t.after(() => control.ws.terminate());
  const started = Date.now();
  const pending = send(port, '/vanish/x', { headers: auth('vanish') });
  const cmd = await control.nextCommand();
  assert.ok(cmd.request, JSON.stringify(cmd));
  control.ws.terminate();
  const r = await pending;
  assert.equal(r.status, 502);
  assert.match(r.statusMessage, /^The listener disconnected before responding\./);
  assert.ok(Date.now() - started < 2000, 'not after a timeout');
});

test('a slow listener gets the sender a 504 with the JSON body; its late rendezvous is still accepted', { timeout: 15_000 }, async (t) => {
  const control = await openControl(port, 'slow');
  t.after(() => control.ws.terminate());
  const started = Date.now();
  const pending = send(port, '/slow/x', { headers: auth('slow') });
  const { request } = await control.nextCommand();
  const r = await pending;
  const waited = Date.now() - started;
  assert.equal(r.status, 504);
  assert.equal(r.headers['content-type'], 'application/json');
  const error = JSON.parse(r.body).error;
  assert.equal(error.code, 'GatewayTimeout');
  assert.match(error.message, /did not respond in the required time\. TrackingId:[0-9a-f-]+, Timestamp:\d{4}-/);
  assert.ok(waited >= RESPONSE_TIMEOUT_MS - 100 && waited < RESPONSE_TIMEOUT_MS + 2000, `504 after ${waited} ms`);
  // Section 5.4: hyco-https crashes on a non-101 answer to its rendezvous, so a late one gets 101,
  // its response is drained, and it is closed with 1000.
  const late = wsConnect(request.address);
  t.after(() => late.ws.terminate());
  await late.opened();
  late.ws.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, body: true } }));
  late.ws.send(Buffer.from('too late'));
  const closed = await late.closed();
  assert.equal(closed.code, 1000);
  const unknown = wsConnect(request.address.replace(/sb-hc-id=[^&]+/, 'sb-hc-id=nonsense'));
  t.after(() => unknown.ws.terminate());
  assert.equal((await unknown.refused()).status, 403, 'unknown ids are refused');
});

test('responses out of order, string status codes, and a response on a listener-opened rendezvous', { timeout: 15_000 }, async (t) => {
  const control = await openControl(port, 'raw');
  t.after(() => control.ws.terminate());
  const first = send(port, '/raw/one', { headers: auth('raw') });
  const one = (await control.nextCommand()).request;
  const second = send(port, '/raw/two', { method: 'POST', body: 'hi', headers: auth('raw') });
  const two = (await control.nextCommand()).request;
  assert.equal(one.requestTarget, '/raw/one');
  assert.equal(two.method, 'POST');
  assert.equal(two.body, true);
  const body = await control.next();
  assert.ok(body.binary, 'the inline body follows its request as one binary message');
  assert.equal(body.data.toString(), 'hi');
  // Second first, with a string status and a body in two fragments.
  control.ws.send(JSON.stringify({ response: { requestId: two.id, statusCode: '201', statusDescription: 'Made', responseHeaders: { 'x-order': '2' }, body: true } }));
  control.ws.send(Buffer.from('part1,'), { fin: false });
  control.ws.send(Buffer.from('part2'), { fin: true });
  const r2 = await second;
  assert.equal(r2.status, 201);
  assert.equal(r2.statusMessage, 'Made');
  assert.equal(r2.body.toString(), 'part1,part2');
  // The first over a rendezvous the listener opens itself, as listeners do for large responses.
  const rendezvous = wsConnect(one.address);
  t.after(() => rendezvous.ws.terminate());
  await rendezvous.opened();
  rendezvous.ws.send(JSON.stringify({ response: { requestId: one.id, statusCode: 200, body: true } }));
  rendezvous.ws.send(Buffer.from('over '), { fin: false });
  rendezvous.ws.send(Buffer.from('the rendezvous'), { fin: false });
  rendezvous.ws.send(Buffer.alloc(0), { fin: true });
  const r1 = await first;
  assert.equal(r1.status, 200);
  assert.equal(r1.headers['transfer-encoding'], 'chunked', 'a streamed body of unknown length is chunked');
  assert.equal(r1.body.toString(), 'over the rendezvous');
  assert.equal((await rendezvous.closed()).code, 1000, 'the rendezvous is closed after its response');
  // An invalid status code.
  const third = send(port, '/raw/three', { headers: auth('raw') });
  const three = (await control.nextCommand()).request;
  control.ws.send(JSON.stringify({ response: { requestId: three.id, statusCode: 'lots' } }));
  const r3 = await third;
  assert.equal(r3.status, 502);
  assert.match(r3.statusMessage, /^Invalid response from the listener\./);
});

test('listener targeting: AllowedListeners and DisallowedListeners pick listeners by id and are stripped', { timeout: 15_000 }, async (t) => {
  const control = await openControl(port, 'targeted', { query: 'sb-hc-id=alpha' });
  t.after(() => control.ws.terminate());
  const none = await send(port, '/targeted/x', { headers: { ...auth('targeted'), 'Microsoft-Relay-AllowedListeners': 'beta' } });
  assert.equal(none.status, 404);
  assert.match(none.statusMessage, /^None of the connected listeners meet the AllowedListeners\/DisallowedListeners criteria/);
  const excluded = await send(port, '/targeted/x', { headers: { ...auth('targeted'), 'Microsoft-Relay-DisallowedListeners': 'ALPHA' } });
  assert.equal(excluded.status, 404);
  const pending = send(port, '/targeted/x', { headers: { ...auth('targeted'), 'Microsoft-Relay-AllowedListeners': 'beta, alpha' } });
  const { request } = await control.nextCommand();
  assert.equal(request.requestHeaders['Microsoft-Relay-AllowedListeners'], undefined);
  assert.equal(request.remoteEndpoint.address, '127.0.0.1');
  assert.equal(typeof request.remoteEndpoint.port, 'number');
  assert.match(request.address, /\/\$hc\/targeted\/x\?sb-hc-action=request&sb-hc-id=/);
  control.ws.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200 } }));
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '0');
});

test('a sender whose request body stalls gets 408 after body_idle_timeout', { timeout: 15_000 }, async () => {
  const socket = net.connect({ host: '127.0.0.1', port });
  let answer = '';
  socket.on('data', (c) => { answer += c; });
  const ended = new Promise((resolve) => socket.on('close', resolve));
  socket.write(`POST /files/echo/stall HTTP/1.1\r\nHost: 127.0.0.1\r\nServiceBusAuthorization: ${createToken(port, 'files')}\r\n` +
    'Content-Length: 100\r\n\r\nonly ten b');
  await withTimeout(ended, 10_000, 'the stalled connection to be answered and closed');
  assert.match(answer, /^HTTP\/1\.1 408 Request Timeout: the request body stalled\./);
});
