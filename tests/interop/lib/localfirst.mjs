// localfirst helpers (shared/protocols/localfirst.md): MessagePack as upstream encodes it, ws 8
// introduction and pipe sockets that record everything they receive, the real v4.2.2 Client with
// its events recorded, and the JSON status API. Every wait has a timeout.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { Client } from '@localfirst/relay/Client.js';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';
import { sleep, track, withTimeout } from './hc.mjs';
import { rawUpgrade, OP } from './rawws.mjs';

export { Client, WebSocket, pack, unpack, sleep, withTimeout };

// How long a test waits to show that something did NOT happen (no message, no close). Bounded
// windows are the only way to observe an absence; every use says so in a comment.
export const QUIET_MS = 300;

// configuration.md shutdown_grace: on SIGTERM, pairs may drain this long before their 1001. Tests
// stop servers with pairs still open (after-hooks run before the sockets' own cleanup), so keep it short.
export const SHUTDOWN_GRACE = '200ms';

export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const fromHex = (text) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// Section 4.4 reference frames, spaces removed.
export const SPEC_HEX = {
  joinAmbitious: 'de0002a474797065a44a6f696eab646f63756d656e7449647391b2616d626974696f75732d6d6f6e676f6f7365',
  introAlice: 'de0003a474797065ac496e74726f64756374696f6ea6706565724964a5616c696365ab646f63756d656e7449647391b2616d626974696f75732d6d6f6e676f6f7365',
  introBob: 'de0003a474797065ac496e74726f64756374696f6ea6706565724964a3626f62ab646f63756d656e7449647391b2616d626974696f75732d6d6f6e676f6f7365',
  leaveAmbitious: 'de0002a474797065a54c65617665ab646f63756d656e7449647391b2616d626974696f75732d6d6f6e676f6f7365',
  heartbeat: 'de0001a474797065a9486561727462656174',
  joinD: 'de0002a474797065a44a6f696eab646f63756d656e7449647391a164',
};

// MessagePack as upstream's server and Client produce it (msgpackr defaults: map16 for objects).
export const encode = (value) => Buffer.from(pack(value));
export const introduction = (peerId, documentIds) => ({ type: 'Introduction', peerId, documentIds });

// Unique ids so that tests sharing one server never meet each other's peers or documents.
let counter = 0;
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}-${crypto.randomBytes(3).toString('hex')}`;
}

export const baseUrl = (port) => `ws://127.0.0.1:${port}`;
export const introUrl = (port, peerId) => `${baseUrl(port)}/introduction/${peerId}`;
export const pipeUrl = (port, local, remote, documentId) => `${baseUrl(port)}/connection/${local}/${remote}/${documentId}`;

// ---------------------------------------------------------------------------------------------
// HTTP

// One request on its own connection (no keep-alive agent left behind). Resolves
// { status, headers, body: Buffer }.
export function httpRequest(port, path, { method = 'GET', headers = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms waiting for ${method} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

// GET /api/status, parsed; asserts 200 and a JSON content type.
export async function getStatus(port) {
  const res = await httpRequest(port, '/api/status');
  assert.equal(res.status, 200, `GET /api/status: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'GET /api/status content type');
  return JSON.parse(res.body.toString('utf8'));
}

export async function getLocalfirst(port) {
  const status = await getStatus(port);
  assert.equal(typeof status.localfirst, 'object', `/api/status has no localfirst object: ${JSON.stringify(status)}`);
  return status.localfirst;
}

// Polls the localfirst status object until pred(lf) is true; resolves that object. Polling is the
// only way to observe server state that sends nothing on the wire (Join, Leave, holding).
export async function waitForStatus(port, pred, what, ms = 3000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await getLocalfirst(port);
    if (pred(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for /api/status: ${what}; last localfirst: ${JSON.stringify(last)}`);
    }
    await sleep(20);
  }
}

const sameList = (a, b) => Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);

// Waits until the server holds exactly documentIds as peerId's set (section 9 documentIds).
export const waitForSet = (port, peerId, documentIds, ms) =>
  waitForStatus(port, (lf) => sameList(lf.documentIds?.[peerId], documentIds), `documentIds[${peerId}] = ${JSON.stringify(documentIds)}`, ms);

export const waitForPeer = (port, peerId, present = true, ms) =>
  waitForStatus(port, (lf) => lf.peers.includes(peerId) === present, `peer ${peerId} ${present ? 'registered' : 'gone'}`, ms);

// ---------------------------------------------------------------------------------------------
// ws 8 sockets (perMessageDeflate off, as the server declines it anyway)

// Wraps hc.mjs track() with MessagePack helpers, ping counting and silence checks.
export function lfTrack(ws, label) {
  const t = track(ws);
  let pings = 0;
  const pingWaiters = [];
  ws.on('ping', () => {
    pings += 1;
    for (const w of pingWaiters.splice(0)) w();
  });
  return {
    ...t,
    label,
    get pings() { return pings; },
    send(data, opts) { ws.send(data, opts); },
    sendMsg(value) { ws.send(encode(value), { binary: true }); },
    join(documentIds) { this.sendMsg({ type: 'Join', documentIds }); },
    leave(documentIds) { this.sendMsg({ type: 'Leave', documentIds }); },
    // Next message; asserts it is one binary frame holding one MessagePack value.
    async intro(ms = 3000) {
      const m = await t.next(ms).catch((e) => { throw new Error(`${label}: ${e.message}`); });
      assert.equal(m.binary, true, `${label}: server messages on /introduction must be binary (section 4.1)`);
      return { value: unpack(m.data), bytes: Buffer.from(m.data) };
    },
    // Next message must be exactly Introduction{peerId, documentIds}, encoded as upstream does.
    async expectIntro(peerId, documentIds, ms = 3000) {
      const { value, bytes } = await this.intro(ms);
      assert.deepEqual(value, introduction(peerId, documentIds), `${label}: Introduction contents`);
      assert.equal(hex(bytes), hex(encode(introduction(peerId, documentIds))), `${label}: Introduction bytes (section 4.2)`);
    },
    async nextN(n, ms = 3000) {
      const deadline = Date.now() + ms;
      const out = [];
      while (out.length < n) {
        const left = Math.max(1, deadline - Date.now());
        out.push(await t.next(left).catch((e) => {
          throw new Error(`${label}: got ${out.length} of ${n} messages: ${e.message}`);
        }));
      }
      return out;
    },
    async waitPings(n, ms) {
      const deadline = Date.now() + ms;
      while (pings < n) {
        if (t.state.closed) throw new Error(`${label}: closed ${t.state.closed.code} ${t.state.closed.reason} after ${pings} pings`);
        await withTimeout(new Promise((resolve) => pingWaiters.push(resolve)), Math.max(1, deadline - Date.now()), `${label}: ping ${pings + 1} of ${n}`);
      }
    },
    roundTrip(ms) { return pingRoundTrip(ws, ms, label); },
    terminate() { ws.terminate(); },
  };
}

// Sends a Ping on a ws 8 socket (ours or a Client's pipe) and waits for its Pong. Frames are read
// in order, so once the Pong is back the server has read everything sent before the Ping.
export async function pingRoundTrip(ws, ms = 3000, label = 'socket') {
  const payload = crypto.randomBytes(8);
  let onPong;
  const got = new Promise((resolve) => {
    onPong = (data) => { if (Buffer.from(data).equals(payload)) resolve(); };
    ws.on('pong', onPong);
  });
  ws.ping(payload);
  try {
    await withTimeout(got, ms, `${label}: the Pong to our Ping`);
  } finally {
    ws.off('pong', onPong);
  }
}

// Asserts that none of the sockets received a message or a close during a bounded window.
// (An absence can only be observed over a window; QUIET_MS by default.)
export async function expectQuiet(sockets, what, ms = QUIET_MS) {
  await sleep(ms);
  for (const s of sockets) {
    const extra = s.messages.map((m) => (m.binary ? `binary ${hex(m.data)}` : `text ${JSON.stringify(Buffer.from(m.data).toString('utf8'))}`));
    assert.deepEqual(extra, [], `${s.label}: nothing may arrive (${what})`);
    assert.equal(s.state.closed, null, `${s.label}: must stay open (${what}), closed ${JSON.stringify(s.state.closed)}`);
  }
}

// Opens a ws 8 socket to url and waits for the 101; terminated after the test.
export async function openWs(t, url, label = url, opts = {}) {
  const s = lfTrack(new WebSocket(url, { perMessageDeflate: false, ...opts }), label);
  t.after(() => s.ws.terminate());
  await s.opened().catch((e) => { throw new Error(`${label}: ${e.message}`); });
  return s;
}

export const openIntro = (t, port, peerId, opts) => openWs(t, introUrl(port, peerId), `introduction ${peerId}`, opts);
export const openPipe = (t, port, local, remote, documentId, opts) =>
  openWs(t, pipeUrl(port, local, remote, documentId), `pipe ${local}->${remote}/${documentId}`, opts);

// Connects an introduction socket, sends Join and waits until the server holds the set.
export async function joinedIntro(t, port, peerId, documentIds) {
  const s = await openIntro(t, port, peerId);
  s.join(documentIds);
  await waitForSet(port, peerId, documentIds);
  return s;
}

// A pipe pair: a is held first, b pairs with it.
export async function openPair(t, port, a, b, documentId) {
  const pa = await openPipe(t, port, a, b, documentId);
  const pb = await openPipe(t, port, b, a, documentId);
  return [pa, pb];
}

// Sends a message each way and checks it arrives: proves that two pipe sockets are paired.
export async function assertPaired(pa, pb, tag = 'ping') {
  pa.send(`${tag}:${pa.label}`);
  const m1 = await pb.next(3000).catch((e) => { throw new Error(`${pb.label} waiting for ${pa.label}: ${e.message}`); });
  assert.deepEqual({ binary: m1.binary, text: Buffer.from(m1.data).toString('utf8') }, { binary: false, text: `${tag}:${pa.label}` },
    `${pb.label} receives what its partner ${pa.label} sent`);
  pb.send(Buffer.from(`${tag}:${pb.label}`), { binary: true });
  const m2 = await pa.next(3000).catch((e) => { throw new Error(`${pa.label} waiting for ${pb.label}: ${e.message}`); });
  assert.deepEqual({ binary: m2.binary, text: Buffer.from(m2.data).toString('utf8') }, { binary: true, text: `${tag}:${pb.label}` },
    `${pa.label} receives what its partner ${pb.label} sent`);
}

// ---------------------------------------------------------------------------------------------
// Raw sockets (lib/rawws.mjs) for frame-level checks

// Upgrades target byte for byte; asserts 101; destroyed after the test.
export async function openRaw(t, port, target, headers = []) {
  const r = await rawUpgrade(`${baseUrl(port)}${target}`, { headers });
  if (r.ws) t.after(() => r.ws.destroy());
  assert.equal(r.status, 101, `upgrade ${target}: ${r.status} ${r.statusMessage}`);
  return r;
}

// Next data or close frame, answering pings and skipping pongs.
export async function nextDataFrame(raw, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const f = await raw.nextFrame(Math.max(1, deadline - Date.now()));
    if (f.opcode === OP.PING) raw.sendFrame(OP.PONG, f.payload);
    else if (f.opcode !== OP.PONG) return f;
  }
}

// Status of an upgrade attempt: 101 or the HTTP status of the refusal.
export async function upgradeStatus(port, target) {
  const r = await rawUpgrade(`${baseUrl(port)}${target}`);
  if (r.ws) r.ws.destroy();
  return r.status;
}

// ---------------------------------------------------------------------------------------------
// The real v4.2.2 Client, unmodified, with its events recorded

export class LfClient {
  constructor(port, { peerId, documentIds = [], url = baseUrl(port) }) {
    this.peerId = peerId;
    this.events = []; // { type, peerId?, documentId? } in emission order
    this.pipes = []; // one record per peer-connect
    this.waiters = [];
    this.serverSockets = [];
    const client = new Client({ peerId, url });
    this.client = client;
    this.serverSockets.push(client.serverConnection);
    // Remember every introduction socket the Client creates (see close()).
    const connect = client.connectToServer;
    const seen = this.serverSockets;
    client.connectToServer = function connectToServer() {
      connect.call(this);
      seen.push(this.serverConnection);
    };
    client.on('server-connect', () => this.record({ type: 'server-connect' }));
    client.on('server-disconnect', () => this.record({ type: 'server-disconnect' }));
    client.on('peer-connect', ({ peerId: p, documentId, socket }) => {
      // Attached synchronously in the event, before any message can be dispatched.
      const pipe = { peerId: p, documentId, socket, messages: [], closed: null };
      socket.addEventListener('message', (ev) => {
        const binary = typeof ev.data !== 'string';
        pipe.messages.push({ binary, data: binary ? Buffer.from(ev.data) : ev.data });
        this.notify();
      });
      socket.addEventListener('close', (ev) => {
        pipe.closed = { code: ev.code, reason: ev.reason };
        this.notify();
      });
      this.pipes.push(pipe);
      this.record({ type: 'peer-connect', peerId: p, documentId });
    });
    client.on('peer-disconnect', ({ peerId: p, documentId }) => this.record({ type: 'peer-disconnect', peerId: p, documentId }));
    for (const d of documentIds) client.join(d);
  }

  record(event) {
    this.events.push(event);
    this.notify();
  }

  notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(cond, what, ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = cond();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`client ${this.peerId}: timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(this.events)}`);
      await withTimeout(new Promise((resolve) => this.waiters.push(resolve)), left, `client ${this.peerId}: ${what}`)
        .catch(() => {});
    }
  }

  count(type, peerId, documentId) {
    return this.events.filter((e) => e.type === type && (peerId === undefined || e.peerId === peerId)
      && (documentId === undefined || e.documentId === documentId)).length;
  }

  waitServerConnect(n = 1, ms) {
    return this.until(() => this.count('server-connect') >= n, `server-connect #${n}`, ms);
  }

  waitServerDisconnect(n = 1, ms) {
    return this.until(() => this.count('server-disconnect') >= n, `server-disconnect #${n}`, ms);
  }

  // The first pipe record for (peerId, documentId) at index >= after in this.pipes.
  waitPeer(peerId, documentId, { after = 0, ms } = {}) {
    return this.until(() => this.pipes.slice(after).find((p) => p.peerId === peerId && p.documentId === documentId),
      `peer-connect ${peerId}/${documentId}`, ms);
  }

  waitPeerDisconnect(peerId, documentId, n = 1, ms) {
    return this.until(() => this.count('peer-disconnect', peerId, documentId) >= n, `peer-disconnect ${peerId}/${documentId} #${n}`, ms);
  }

  // Next unread message on a pipe record: { binary, data } (data: string or Buffer).
  async nextMessage(pipe, ms = 5000) {
    await this.until(() => pipe.messages.length || pipe.closed, `a message on ${this.peerId}->${pipe.peerId}/${pipe.documentId}`, ms);
    if (!pipe.messages.length) throw new Error(`${this.peerId}->${pipe.peerId}/${pipe.documentId} closed ${JSON.stringify(pipe.closed)} while waiting for a message`);
    return pipe.messages.shift();
  }

  // Stops the Client for good and lets the test process exit.
  async close() {
    const c = this.client;
    // A reconnect timer that is already pending must not dial again.
    c.tryToReopen = () => {};
    c.connectToServer = () => {};
    c.join = () => c;
    const sockets = [...this.serverSockets, ...this.pipes.map((p) => p.socket)];
    c.disconnectServer(); // closes its pipes and its introduction socket, without a close code
    // Give the closing handshakes a moment, then cut whatever is left.
    const allClosed = () => sockets.every((s) => s.readyState === WebSocket.CLOSED);
    const deadline = Date.now() + 1000;
    while (!allClosed() && Date.now() < deadline) await sleep(10);
    for (const s of sockets) if (s.readyState !== WebSocket.CLOSED) s.terminate();
    // The v4.2.2 Client's send() polls isReady() every 100 ms on the introduction socket it was
    // called with, forever if that socket never opened (attempts against a stopped server, or a
    // disconnect while connecting). Those loops would keep this process alive. Marking the dead
    // sockets OPEN ends them; the send they then attempt goes to this stub and is dropped.
    c.serverConnection = { send() { throw new Error('client closed by the test'); }, close() {}, readyState: WebSocket.CLOSED };
    for (const s of this.serverSockets) Object.defineProperty(s, 'readyState', { value: WebSocket.OPEN, configurable: true });
    clearInterval(c.heartbeat);
  }
}

// A real Client for the test; closed after it.
export function startClient(t, port, opts) {
  const c = new LfClient(port, opts);
  t.after(() => c.close());
  return c;
}

// Waits until every client has a peer-connect for every other one on documentId.
export async function waitAllConnected(clients, documentId, ms = 8000) {
  await Promise.all(clients.flatMap((a) => clients.filter((b) => b !== a).map((b) => a.waitPeer(b.peerId, documentId, { ms }))));
}
