// The connect flow (section 4): what a listener is told in an accept, rejecting, single-use
// rendezvous, and the answers a sender or a plain HTTP client gets before any relay exists.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import {
  closeHycoListener, connectUrl, createToken, headerValue, hycoConnect, openControl,
  startHycoListener, tokenQuery, wsConnect,
} from './lib/hc.mjs';
import { acceptKeyFor, rawUpgrade } from './lib/rawws.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'accept' }); });
after(async () => { await stopServer(server, assert); });

async function control(t, entity) {
  const c = await openControl(server.port, entity);
  t.after(() => c.ws.terminate());
  return c;
}

function sidOf(address) {
  const m = /[?&]sb-hc-id=([^&]*)/.exec(address);
  assert.ok(m, `no sb-hc-id in ${address}`);
  return decodeURIComponent(m[1]);
}

// Opens the listener side of an accept with ws 8 and waits for both sides.
async function completeAccept(t, accept, sender) {
  const leg = wsConnect(accept.address);
  t.after(() => leg.ws.terminate());
  await leg.opened();
  await sender.opened();
  return leg;
}

test('accept address keeps suffix and app query byte for byte; connectHeaders and remoteEndpoint', { timeout: 30_000 }, async (t) => {
  const entity = 'hc1';
  const cc = await control(t, entity);
  const target = `/$hc/${entity}/orders/42?region=eu&x=%2F&sb-hc-action=connect`;
  const sendToken = createToken(server.port, `${entity}/orders/42`);

  // Token in the query: it must not reach the address (section 1.4).
  const pending = rawUpgrade(`ws://127.0.0.1:${server.port}${target}&${tokenQuery(sendToken)}`, {
    headers: [['X-Custom', 'abc'], ['X-Repeated', 'one'], ['X-Repeated', 'two']],
    timeoutMs: 10_000,
  });
  const accept = await cc.nextAccept();
  const prefix = `ws://127.0.0.1:${server.port}/$hc/${entity}/orders/42?region=eu&x=%2F&`;
  assert.ok(accept.address.startsWith(prefix), `address ${accept.address} should start with ${prefix} (section 4.2)`);
  assert.match(accept.address.slice(prefix.length), /^sb-hc-action=accept&sb-hc-id=[^&]+$/);
  assert.ok(!/sb-hc-token/i.test(accept.address), 'sb-hc-token leaked into the address');
  assert.equal(accept.id, sidOf(accept.address), 'id equals the sb-hc-id of the address (section 3.5.1)');
  // D9: {UUIDv4 when the sender gave no id}_{32 lower-case hex}.
  assert.match(accept.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}_[0-9a-f]{32}$/i);

  const h = accept.connectHeaders;
  assert.equal(typeof h, 'object');
  assert.equal(h['X-Custom'], 'abc', 'custom header, spelled as sent');
  assert.equal(h['X-Repeated'], 'one, two', 'repeated header joined with ", " (section 4.3)');
  assert.equal(h['Upgrade'], 'websocket');
  assert.equal(h['Sec-WebSocket-Version'], '13');
  assert.equal(h['Host'], `127.0.0.1:${server.port}`);
  assert.equal(headerValue(h, 'ServiceBusAuthorization'), undefined, 'ServiceBusAuthorization must be stripped (D4)');

  const ep = accept.remoteEndpoint;
  assert.equal(ep.address, '127.0.0.1');
  assert.ok(Number.isInteger(ep.port) && ep.port > 0 && ep.port < 65536, `remoteEndpoint.port ${ep.port} is a JSON integer`);

  const leg = wsConnect(accept.address);
  t.after(() => leg.ws.terminate());
  const sent = await pending;
  assert.equal(h['Sec-WebSocket-Key'], sent.key, "connectHeaders carries the sender's Sec-WebSocket-Key");
  assert.equal(ep.port, sent.localPort, "remoteEndpoint.port is the sender's source port");
  assert.equal(sent.status, 101, `sender upgrade: ${sent.status} ${sent.statusMessage}`);
  assert.equal(sent.headers['sec-websocket-accept'], acceptKeyFor(sent.key));
  assert.equal(sent.headers['sec-websocket-extensions'], undefined, 'no extensions negotiated (section 4.4)');
  t.after(() => sent.ws.destroy());
  await leg.opened();

  // The relay works in both directions with masking on the sender side.
  sent.ws.sendText('from sender');
  assert.equal(String((await leg.next()).data), 'from sender');
  leg.ws.send('from listener');
  const back = await sent.ws.readMessage();
  assert.equal(back.type, 'text');
  assert.equal(back.data.toString(), 'from listener');
  assert.equal(back.masked, false, 'frames to the sender are unmasked');
});

test('sender id and header token: id keeps the sender sb-hc-id, header token stripped', { timeout: 30_000 }, async (t) => {
  const entity = 'hc1-id';
  const cc = await control(t, entity);
  const sender = wsConnect(connectUrl(server.port, entity, { extra: 'sb-hc-id=corr-17' }), {
    headers: { ServiceBusAuthorization: createToken(server.port, entity), 'X-Custom': 'abc' },
  });
  t.after(() => sender.ws.terminate());
  const accept = await cc.nextAccept();
  // Section 4.2: id = {sender sb-hc-id}_{32 lower-case hex nonce}.
  assert.match(accept.id, /^corr-17_[0-9a-f]{32}$/);
  assert.equal(sidOf(accept.address), accept.id);
  assert.ok(accept.address.startsWith(`ws://127.0.0.1:${server.port}/$hc/${entity}?sb-hc-action=accept&sb-hc-id=`), accept.address);
  assert.equal(headerValue(accept.connectHeaders, 'ServiceBusAuthorization'), undefined, 'D4');
  assert.equal(accept.connectHeaders['X-Custom'], 'abc');
  assert.ok(accept.connectHeaders['Sec-WebSocket-Key'], 'Sec-WebSocket-Key present (section 4.3)');
  await completeAccept(t, accept, sender);
});

test('no listener: sender gets 404 "There are no listeners connected for the endpoint."', { timeout: 15_000 }, async (t) => {
  const entity = 'nobody-here';
  const sender = hycoConnect(connectUrl(server.port, entity), createToken(server.port, entity));
  t.after(() => sender.ws.terminate());
  const r = await sender.refused();
  assert.equal(r.status, 404);
  assert.ok(r.statusMessage.startsWith('There are no listeners connected for the endpoint.'), r.statusMessage);
  // Section 1.3: the tracking suffix follows the phrase.
  assert.match(r.statusMessage, /TrackingId:/);
});

test('reject: listener opens the E3 address, gets 410; sender gets 418 "No thanks"', { timeout: 15_000 }, async (t) => {
  const entity = 'rejecting';
  const cc = await control(t, entity);
  const sender = hycoConnect(connectUrl(server.port, entity), createToken(server.port, entity));
  t.after(() => sender.ws.terminate());
  const accept = await cc.nextAccept();
  const reject = wsConnect(`${accept.address}&sb-hc-statusCode=418&sb-hc-statusDescription=No+thanks`);
  t.after(() => reject.ws.terminate());
  assert.equal((await reject.refused()).status, 410, 'listener is answered 410 Gone (section 4.1 step 6)');
  const r = await sender.refused();
  assert.equal(r.status, 418);
  assert.equal(r.statusMessage, 'No thanks', 'description verbatim, no tracking suffix');
});

test('rendezvous addresses are single-use and unguessable (403)', { timeout: 30_000 }, async (t) => {
  const entity = 'single-use';
  const cc = await control(t, entity);
  const token = createToken(server.port, entity);

  const s1 = wsConnect(connectUrl(server.port, entity), { headers: { ServiceBusAuthorization: token } });
  t.after(() => s1.ws.terminate());
  const a1 = await cc.nextAccept();
  const leg1 = await completeAccept(t, a1, s1);
  s1.ws.send('first');
  assert.equal(String((await leg1.next()).data), 'first');

  const again = wsConnect(a1.address);
  t.after(() => again.ws.terminate());
  const r1 = await again.refused();
  assert.equal(r1.status, 403, 'second E2 on a used address');
  assert.ok(r1.statusMessage.startsWith('The rendezvous address is not valid.'), r1.statusMessage);

  const rejectUsed = wsConnect(`${a1.address}&sb-hc-statusCode=400&sb-hc-statusDescription=late`);
  t.after(() => rejectUsed.ws.terminate());
  assert.equal((await rejectUsed.refused()).status, 403, 'E3 on a used address');

  // The used address did not disturb the established relay.
  leg1.ws.send('still here');
  assert.equal(String((await s1.next()).data), 'still here');

  const s2 = wsConnect(connectUrl(server.port, entity), { headers: { ServiceBusAuthorization: token } });
  t.after(() => s2.ws.terminate());
  const a2 = await cc.nextAccept();
  const last = a2.address.slice(-1);
  assert.match(last, /[0-9a-f]/, 'address ends with the hex nonce (section 4.2)');
  const tampered = a2.address.slice(0, -1) + (last === '0' ? '1' : '0');
  const forged = wsConnect(tampered);
  t.after(() => forged.ws.terminate());
  const r2 = await forged.refused();
  assert.equal(r2.status, 403, 'tampered nonce');
  assert.ok(r2.statusMessage.startsWith('The rendezvous address is not valid.'), r2.statusMessage);

  // The genuine address still works once.
  const leg2 = await completeAccept(t, a2, s2);
  leg2.ws.send('second');
  assert.equal(String((await s2.next()).data), 'second');
});

test('a plain GET to /$hc/ gets 400 "This endpoint is only for web-socket requests"', { timeout: 15_000 }, async () => {
  const token = createToken(server.port, 'hc1');
  const res = await new Promise((resolve, reject) => {
    const req = http.get({
      host: '127.0.0.1', port: server.port, path: '/$hc/hc1?sb-hc-action=listen',
      headers: { ServiceBusAuthorization: token }, timeout: 5000,
    }, resolve);
    req.on('timeout', () => req.destroy(new Error('no answer to the plain GET within 5 s')));
    req.on('error', reject);
  });
  res.resume();
  assert.equal(res.statusCode, 400);
  assert.ok(res.statusMessage.startsWith('This endpoint is only for web-socket requests'), res.statusMessage);
});

test('unknown sb-hc-action gets 400', { timeout: 15_000 }, async (t) => {
  const token = createToken(server.port, 'hc1');
  for (const url of [
    `ws://127.0.0.1:${server.port}/$hc/hc1?sb-hc-action=bogus`,
    `ws://127.0.0.1:${server.port}/$hc/hc1/x?sb-hc-action=bogus&${tokenQuery(token)}`,
  ]) {
    const c = wsConnect(url, { headers: { ServiceBusAuthorization: token } });
    t.after(() => c.ws.terminate());
    const r = await c.refused();
    assert.equal(r.status, 400, url);
    // Section 3.2 row 2.
    assert.ok(r.statusMessage.startsWith('Bad Request: unrecognized sb-hc-action'), r.statusMessage);
  }
});

test('hyco-ws listener can send as soon as its rendezvous opens (section 7 row 11)', { timeout: 15_000 }, async (t) => {
  const entity = 'speaks-first';
  const listener = await startHycoListener(server.port, entity, (sock) => {
    sock.on('open', () => sock.send('hello from listener'));
  });
  t.after(() => closeHycoListener(listener));
  const sender = hycoConnect(connectUrl(server.port, entity), createToken(server.port, entity));
  t.after(() => sender.ws.terminate());
  await sender.opened();
  assert.equal(String((await sender.next()).data), 'hello from listener');
});
