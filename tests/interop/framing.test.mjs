// Byte-level checks with the raw client: the E1 handshake (section 3.1), keepalive (section 3.4),
// control-channel input rules (sections 3.5.5, 3.6), relay framing and close (sections 4.5, 4.6),
// and admission refusals that hyco-ws depends on (section 7 row 1, section 6.4).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectUrl, createToken, listenUrl, openControl, sleep, wsConnect } from './lib/hc.mjs';
import { OP, rawUpgrade } from './lib/rawws.mjs';
import { startServer, stopServer } from './lib/server.mjs';

const PING_INTERVAL_MS = 1000;

let server;
before(async () => {
  server = await startServer({
    name: 'framing',
    config: {
      limits: { ping_interval: '1s', ping_misses: 3 },
      entities: [{ path: 'no-ws', accept_websocket: false }],
    },
  });
});
after(async () => { await stopServer(server, assert); });

const auth = (path) => [['ServiceBusAuthorization', createToken(server.port, path)]];

async function rawControl(t, entity, extraHeaders = []) {
  const r = await rawUpgrade(listenUrl(server.port, entity), { headers: [...auth(entity), ...extraHeaders] });
  assert.equal(r.status, 101, `control channel upgrade: ${r.status} ${r.statusMessage}`);
  t.after(() => r.ws.destroy());
  return r;
}

// A relayed pair with raw clients on both legs.
async function rawPair(t, entity) {
  const control = await openControl(server.port, entity);
  t.after(() => control.ws.terminate());
  const pending = rawUpgrade(connectUrl(server.port, entity), { headers: auth(entity) });
  const accept = await control.nextAccept();
  const leg = await rawUpgrade(accept.address);
  assert.equal(leg.status, 101, `listener leg: ${leg.status} ${leg.statusMessage}`);
  t.after(() => leg.ws.destroy());
  const sender = await pending;
  assert.equal(sender.status, 101, `sender: ${sender.status} ${sender.statusMessage}`);
  t.after(() => sender.ws.destroy());
  return { sender: sender.ws, leg: leg.ws };
}

// The next data message, and the control frames seen before it; Pings are answered.
async function messageWithControlFrames(ws, ms = 5000) {
  const control = [];
  const parts = [];
  for (;;) {
    const f = await ws.nextFrame(ms);
    if (f.opcode === OP.PING || f.opcode === OP.PONG) {
      control.push(f);
      if (f.opcode === OP.PING) ws.sendFrame(OP.PONG, f.payload);
      continue;
    }
    parts.push(f);
    if (f.fin || f.opcode === OP.CLOSE) return { frames: parts, data: Buffer.concat(parts.map((p) => p.payload)), control };
  }
}

// The next frame that is not a server keepalive Ping (those are answered).
async function nextNonPing(ws, ms = 5000) {
  for (;;) {
    const f = await ws.nextFrame(ms);
    if (f.opcode !== OP.PING) return f;
    ws.sendFrame(OP.PONG, f.payload);
  }
}

test('E1 handshake: 101 without extensions or sub-protocol even when offered; version 12 gets 426', { timeout: 15_000 }, async (t) => {
  const r = await rawControl(t, 'handshake', [
    ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits'],
  ]);
  assert.equal(r.statusMessage, 'Switching Protocols');
  assert.equal(r.headers.upgrade?.toLowerCase(), 'websocket');
  assert.equal(r.headers['sec-websocket-extensions'], undefined, 'section 3.1: no Sec-WebSocket-Extensions');
  assert.equal(r.headers['sec-websocket-protocol'], undefined, 'section 3.1: no Sec-WebSocket-Protocol');

  const old = await rawUpgrade(listenUrl(server.port, 'handshake'), { headers: auth('handshake'), version: '12' });
  assert.equal(old.status, 426);
  assert.equal(old.headers['sec-websocket-version'], '13');
});

test('control channel: Ping answered with the same payload; Pong, non-JSON and unknown keys ignored', { timeout: 15_000 }, async (t) => {
  const entity = 'ctl-input';
  const { ws } = await rawControl(t, entity);
  ws.sendFrame(OP.PING, Buffer.from('are you there'));
  const pong = await nextNonPing(ws);
  assert.equal(pong.opcode, OP.PONG, `expected a Pong, got opcode ${pong.opcode}`);
  assert.equal(pong.payload.toString(), 'are you there');
  assert.equal(pong.masked, false);

  ws.sendFrame(OP.PONG, Buffer.from('unsolicited'));
  ws.sendText('this is not JSON');
  ws.sendText('{"somethingElse":{"x":1}}');
  ws.sendText(' { "renewToken" : { "token" : ' + JSON.stringify(createToken(server.port, entity)) + ' }, "extra": 1 } ');

  // Still open and still dispatching: a sender's accept arrives as one JSON text message.
  const sender = wsConnect(connectUrl(server.port, entity), { headers: { ServiceBusAuthorization: createToken(server.port, entity) } });
  t.after(() => sender.ws.terminate());
  const m = await ws.readMessage();
  assert.equal(m.type, 'text', `expected the accept, got ${m.type} ${m.code ?? ''} ${m.reason ?? ''}`);
  assert.equal(m.masked, false);
  const cmd = JSON.parse(m.data.toString('utf8'));
  assert.deepEqual(Object.keys(cmd), ['accept'], 'one top-level key (section 3.5)');
});

test('control channel: a frame with RSV1 set is closed with 1002', { timeout: 15_000 }, async (t) => {
  const { ws } = await rawControl(t, 'ctl-rsv');
  ws.sendFrame(OP.TEXT, Buffer.from('{}'), { rsv: 4 });
  const m = await ws.readMessage();
  assert.equal(m.type, 'close');
  assert.equal(m.code, 1002, 'section 3.6: RSV bits must be zero');
});

test('keepalive: Pings every ping_interval; a silent channel gets 1011 "Keepalive timeout.", an answering one stays', { timeout: 20_000 }, async (t) => {
  const entity = 'keepalive';
  const answering = await openControl(server.port, entity); // ws 8 answers Pings by itself
  t.after(() => answering.ws.terminate());
  const { ws } = await rawControl(t, entity);

  const opened = Date.now();
  const first = await ws.nextFrame(PING_INTERVAL_MS * 2.5);
  assert.equal(first.opcode, OP.PING, `first frame from the server should be a Ping, got ${first.opcode}`);
  // Section 3.4: after ping_misses (3) intervals without inbound frames, Close 1011 and drop.
  let close;
  for (;;) {
    const f = await ws.nextFrame(PING_INTERVAL_MS * 6);
    if (f.opcode === OP.CLOSE) { close = f; break; }
    assert.equal(f.opcode, OP.PING);
  }
  const elapsed = Date.now() - opened;
  assert.equal(close.payload.readUInt16BE(0), 1011);
  assert.ok(close.payload.subarray(2).toString().startsWith('Keepalive timeout.'), close.payload.subarray(2).toString());
  assert.ok(elapsed >= PING_INTERVAL_MS * 2, `closed after ${elapsed} ms, before ~3 ping intervals`);
  await ws.waitEnd(3000);
  t.diagnostic(`silent control channel closed after ${elapsed} ms (ping_interval 1 s, ping_misses 3)`);

  assert.equal(answering.state.closed, null, `the answering channel was closed: ${JSON.stringify(answering.state.closed)}`);
});

test('relay: fragments keep message boundaries; Pings are per leg; data after a received Close; empty Close', { timeout: 15_000 }, async (t) => {
  const { sender, leg } = await rawPair(t, 'raw-relay');

  sender.sendFrame(OP.TEXT, Buffer.from('Hel'), { fin: false });
  sender.sendFrame(OP.PING, Buffer.from('sender-ping')); // control frames may interleave fragments
  sender.sendFrame(OP.CONT, Buffer.from('lo, '), { fin: false });
  sender.sendFrame(OP.CONT, Buffer.from('w\u00f6rld'), { fin: true });
  const m1 = await messageWithControlFrames(leg);
  assert.equal(m1.frames[0].opcode, OP.TEXT);
  assert.equal(m1.data.toString(), 'Hello, w\u00f6rld', 'one text message, same bytes (section 4.5)');
  assert.ok(!m1.control.some((f) => f.payload.toString() === 'sender-ping'), "the sender's Ping must not be forwarded");

  const pong = await nextNonPing(sender);
  assert.equal(pong.opcode, OP.PONG, `expected the Pong, got opcode ${pong.opcode}`);
  assert.equal(pong.payload.toString(), 'sender-ping', "the server answers the sender's Ping itself (section 4.5)");

  leg.sendBinary(Buffer.from([0, 1, 2, 255]));
  const back = await sender.readMessage();
  assert.deepEqual({ type: back.type, data: [...back.data], masked: back.masked }, { type: 'binary', data: [0, 1, 2, 255], masked: false });

  // The listener closes first, with no payload: forwarded as no payload (section 4.6).
  leg.sendClose();
  const c1 = await sender.readMessage();
  assert.equal(c1.type, 'close');
  assert.equal(c1.frame.payload.length, 0, 'an empty Close stays empty');
  // The sender may still send; then its own Close (custom code) reaches the listener verbatim.
  sender.sendBinary(Buffer.from('late data'));
  sender.sendClose(4999, 'custom');
  const late = await leg.readMessage();
  assert.deepEqual({ type: late.type, text: late.data.toString() }, { type: 'binary', text: 'late data' });
  const c2 = await leg.readMessage();
  assert.deepEqual({ type: c2.type, code: c2.code, reason: c2.reason }, { type: 'close', code: 4999, reason: 'custom' });
  await Promise.all([sender.waitEnd(5000), leg.waitEnd(5000)]);
});

test('relay: a leg that drops without a Close makes the other leg get 1001', { timeout: 15_000 }, async (t) => {
  const { sender, leg } = await rawPair(t, 'raw-drop');
  sender.destroy();
  const m = await leg.readMessage();
  assert.equal(m.type, 'close');
  assert.equal(m.code, 1001, 'section 4.6');
  leg.sendClose(1001);
  await leg.waitEnd(5000);
});

test('sender without Sec-WebSocket-Key gets 400 and no accept is dispatched', { timeout: 15_000 }, async (t) => {
  const entity = 'keyless';
  const control = await openControl(server.port, entity);
  t.after(() => control.ws.terminate());
  const r = await rawUpgrade(connectUrl(server.port, entity), { headers: auth(entity), key: null });
  assert.equal(r.status, 400, `${r.status} ${r.statusMessage}`);
  // Section 7 row 1: a key-less accept would crash a hyco-ws listener.
  await sleep(500);
  assert.equal(control.messages.length, 0, 'an accept was sent for a key-less sender');
});

test('entity with accept_websocket = false: listeners connect, senders get 404', { timeout: 15_000 }, async (t) => {
  const control = await openControl(server.port, 'no-ws');
  t.after(() => control.ws.terminate());
  const sender = wsConnect(connectUrl(server.port, 'no-ws'), { headers: { ServiceBusAuthorization: createToken(server.port, 'no-ws') } });
  t.after(() => sender.ws.terminate());
  const r = await sender.refused();
  assert.equal(r.status, 404);
  // Section 6.4 / D14.
  assert.ok(r.statusMessage.startsWith('Endpoint does not accept WebSocket connections.'), r.statusMessage);
  await sleep(200);
  assert.equal(control.messages.length, 0, 'no accept for a refused sender');
});
