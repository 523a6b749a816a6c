// Relayed WebSockets between real hyco-ws clients: payloads, sub-protocols, close codes,
// half-close (sections 4.4 to 4.6).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  MiB, closeHycoListener, connectUrl, createToken, hyco, hycoConnect, openControl, sha256, startHycoListener,
  track, wsConnect,
} from './lib/hc.mjs';
import { rawUpgrade } from './lib/rawws.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'relay' }); });
after(async () => { await stopServer(server, assert); });

// A hyco-ws listener that echoes every message as it came (section 8.4 example).
async function echoListener(t, entity) {
  const accepted = [];
  const listener = await startHycoListener(server.port, entity, (sock) => {
    accepted.push(sock);
    sock.on('message', (data) => sock.send(data));
  });
  t.after(() => closeHycoListener(listener));
  return { listener, accepted };
}

async function hycoSender(t, entity) {
  const url = connectUrl(server.port, entity);
  const sender = hycoConnect(url, createToken(server.port, entity));
  t.after(() => sender.ws.terminate());
  await sender.opened();
  return sender;
}

test('echo: text stays text, binary stays binary, bytes identical', { timeout: 30_000 }, async (t) => {
  await echoListener(t, 'echo-small');
  const sender = await hycoSender(t, 'echo-small');

  const text = 'hello \u00fcn\u00efc\u00f6de \u2603 \u{1F600}';
  sender.ws.send(text);
  const m1 = await sender.next();
  assert.equal(m1.binary, false, 'text came back as binary');
  assert.equal(typeof m1.data, 'string');
  assert.equal(m1.data, text);

  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  sender.ws.send(bytes);
  const m2 = await sender.next();
  assert.equal(m2.binary, true, 'binary came back as text');
  assert.ok(Buffer.from(m2.data).equals(bytes), 'binary payload changed');

  sender.ws.send('');
  const m3 = await sender.next();
  assert.equal(m3.binary, false);
  assert.equal(m3.data, '');

  // Order and type are kept per direction across a burst.
  for (let i = 0; i < 50; i++) sender.ws.send(i % 2 ? Buffer.from([i]) : `t${i}`);
  for (let i = 0; i < 50; i++) {
    const m = await sender.next();
    if (i % 2) assert.ok(m.binary && Buffer.from(m.data).equals(Buffer.from([i])), `message ${i}`);
    else assert.deepEqual({ binary: m.binary, data: m.data }, { binary: false, data: `t${i}` }, `message ${i}`);
  }
});

for (const size of [1 * MiB, 100 * MiB]) {
  test(`echo: one ${size / MiB} MiB binary message, sha256 identical`, { timeout: 180_000 }, async (t) => {
    const entity = `echo-${size / MiB}mib`;
    await echoListener(t, entity);
    const sender = await hycoSender(t, entity);
    const payload = crypto.randomBytes(size);
    const digest = sha256(payload);
    const started = Date.now();
    sender.ws.send(payload, { binary: true });
    const echoed = await sender.next(150_000);
    const ms = Date.now() - started;
    assert.equal(echoed.binary, true);
    assert.equal(echoed.data.length, size, 'echoed length');
    assert.equal(sha256(echoed.data), digest, 'sha256 of the echoed message');
    t.diagnostic(`${size / MiB} MiB round trip through hyco-ws: ${ms} ms`);
  });
}

test('sub-protocol: hyco-ws listener picks the first offered, both sides see it', { timeout: 30_000 }, async (t) => {
  const entity = 'subproto';
  const accepted = [];
  const listener = await startHycoListener(server.port, entity, (sock) => {
    accepted.push(sock);
    sock.on('open', () => sock.send(`protocol=${sock.protocol ?? ''}`));
  });
  t.after(() => closeHycoListener(listener));
  const url = connectUrl(server.port, entity);
  const token = createToken(server.port, entity);

  // hyco-ws's own WebSocket class (ws 1.1.5) sends the header exactly as given: "chat.v2, chat.v1".
  const s1 = track(new hyco(url, 'chat.v2, chat.v1', { headers: { ServiceBusAuthorization: token } }));
  t.after(() => s1.ws.terminate());
  await s1.opened();
  assert.equal(s1.ws.protocol, 'chat.v2', 'sender (hyco-ws WebSocket) protocol');
  assert.equal(String((await s1.next()).data), 'protocol=chat.v2', 'listener protocol');

  // ws 8 sends "chat.v2,chat.v1".
  const s2 = wsConnect(url, { protocols: ['chat.v2', 'chat.v1'], headers: { ServiceBusAuthorization: token } });
  t.after(() => s2.ws.terminate());
  await s2.opened();
  assert.equal(s2.ws.protocol, 'chat.v2', 'sender (ws 8) protocol');
  assert.equal(String((await s2.next()).data), 'protocol=chat.v2', 'listener protocol');

  // None offered: none selected on either side (section 4.4).
  const s3 = wsConnect(url, { headers: { ServiceBusAuthorization: token } });
  t.after(() => s3.ws.terminate());
  await s3.opened();
  assert.equal(s3.ws.protocol, '', 'sender protocol when none offered');
  assert.equal(String((await s3.next()).data), 'protocol=', 'listener protocol when none offered');
});

test('close code and reason pass both ways (4000 bye, 4001 later)', { timeout: 30_000 }, async (t) => {
  const entity = 'closecodes';
  const legs = [];
  const listener = await startHycoListener(server.port, entity, (sock) => legs.push(track(sock)));
  t.after(() => closeHycoListener(listener));

  const a = await hycoSender(t, entity);
  assert.equal(legs.length, 1);
  await legs[0].opened();
  a.ws.close(4000, 'bye');
  assert.deepEqual(await legs[0].closed(), { code: 4000, reason: 'bye' }, 'listener sees the sender close');
  await a.closed();

  const b = await hycoSender(t, entity);
  assert.equal(legs.length, 2);
  await legs[1].opened();
  legs[1].ws.close(4001, 'later');
  assert.deepEqual(await b.closed(), { code: 4001, reason: 'later' }, 'sender sees the listener close');
  await legs[1].closed();
});

test('half-close: after the sender closes, the listener leg can still send until its own Close', { timeout: 30_000 }, async (t) => {
  const entity = 'halfclose';
  const control = await openControl(server.port, entity);
  t.after(() => control.ws.terminate());
  const sender = wsConnect(connectUrl(server.port, entity), {
    headers: { ServiceBusAuthorization: createToken(server.port, entity) },
  });
  t.after(() => sender.ws.terminate());

  const accept = await control.nextAccept();
  const leg = await rawUpgrade(accept.address);
  assert.equal(leg.status, 101, `listener leg upgrade: ${leg.status} ${leg.statusMessage}`);
  t.after(() => leg.ws.destroy());
  await sender.opened();

  sender.ws.close(1000, 'done');
  const close1 = await leg.ws.readMessage();
  assert.deepEqual({ type: close1.type, code: close1.code, reason: close1.reason },
    { type: 'close', code: 1000, reason: 'done' }, 'sender Close forwarded verbatim (section 4.6)');
  assert.equal(close1.frame.masked, false, 'server frames are not masked');

  // Section 4.6: B -> A keeps flowing until B's own Close.
  leg.ws.sendText('one');
  leg.ws.sendText('two');
  leg.ws.sendClose(1000, 'ack');

  const m1 = await sender.next();
  const m2 = await sender.next();
  assert.deepEqual([String(m1.data), String(m2.data)], ['one', 'two'], 'messages sent after the Close reach the sender');
  assert.equal(m1.binary, false);
  assert.deepEqual(await sender.closed(), { code: 1000, reason: 'ack' }, "listener's Close completes the sender's handshake");
  await leg.ws.waitEnd(5000);
});
