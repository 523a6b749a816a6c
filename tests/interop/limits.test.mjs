// Connection-layer limits (docs/configuration.md [limits]) and listener failover for held senders:
// header size (431), handshake time (408), pending handshakes per source (429), pacing of
// repeated failures (section 7 row 10), re-dispatch of an accept whose listener left (6.2).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  connectUrl, createToken, listenUrl, openControl, sleep, wsConnect, withTimeout,
} from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';

// Opens a TCP connection, writes `request` (if any) and resolves the first response line.
function rawExchange(port, request, ms = 5000) {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => { if (request) socket.write(request); });
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        resolve(data.slice(0, end));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  }), ms, 'a response line');
}

function openIdle(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('request-head limits', () => {
  let server;
  before(async () => {
    server = await startServer({
      name: 'limits-head',
      config: { limits: { max_header_bytes: 2048, handshake_timeout: '500ms' } },
    });
  });
  after(async () => { await stopServer(server, assert); });

  test('a request head over max_header_bytes gets 431', async () => {
    const line = await rawExchange(server.port,
      `GET /$hc/x?sb-hc-action=listen HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
    assert.match(line, /^HTTP\/1\.1 431 /);
  });

  test('a head that does not complete within handshake_timeout gets 408', async () => {
    const started = Date.now();
    const line = await rawExchange(server.port, 'GET / HTTP/1.1\r\nHost: a\r\n', 5000);
    assert.match(line, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - started >= 400, 'answered before the timeout');
  });
});

// Its own server: with the 500 ms handshake_timeout above, idle connections could time out and
// free their slots before the extra one arrives on a loaded machine.
describe('pending-handshake cap', () => {
  let server;
  before(async () => {
    server = await startServer({ name: 'limits-pending', config: { limits: { max_pending_handshakes_per_source: 3 } } });
  });
  after(async () => { await stopServer(server, assert); });

  test('more pending handshakes than the per-source cap get 429, and the slots come back', async () => {
    const idle = await Promise.all([openIdle(server.port), openIdle(server.port), openIdle(server.port)]);
    await sleep(100);
    try {
      assert.match(await rawExchange(server.port, null), /^HTTP\/1\.1 429 /);
    } finally {
      for (const s of idle) s.destroy();
    }
    await sleep(200);
    // A plain request to a path with no listener: the HTTP sender's 502 (Hybrid Connections 1.3).
    assert.match(await rawExchange(server.port, 'GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n'), /^HTTP\/1\.1 502 /);
  });
});

describe('failure pacing', () => {
  let server;
  before(async () => {
    server = await startServer({ name: 'limits-pacing', config: { limits: { failed_handshakes_before_delay: 5 } } });
  });
  after(async () => { await stopServer(server, assert); });

  test('after 5 failures in 10 s further failing answers are held; successes are not', async () => {
    const bad = createToken(server.port, 'paced', { key: 'wrong-key' });
    const times = [];
    for (let i = 0; i < 6; i += 1) {
      const started = Date.now();
      const t = wsConnect(listenUrl(server.port, 'paced'), { headers: { ServiceBusAuthorization: bad } });
      const response = await t.refused(10_000);
      assert.equal(response.status, 401);
      times.push(Date.now() - started);
    }
    for (const ms of times.slice(0, 5)) assert.ok(ms < 1000, `early failures answered at once: ${times}`);
    assert.ok(times[5] >= 1800, `the 6th failure is held about 2 s: ${times}`);
    const started = Date.now();
    const good = await openControl(server.port, 'paced');
    assert.ok(Date.now() - started < 1000, 'a valid handshake is never delayed');
    good.ws.close();
  });
});

describe('listener failover', () => {
  let server;
  before(async () => { server = await startServer({ name: 'limits-failover' }); });
  after(async () => { await stopServer(server, assert); });

  test('an accept owed by a listener that leaves is re-dispatched to another one', async () => {
    const a = await openControl(server.port, 'failover');
    const b = await openControl(server.port, 'failover');
    const sender = wsConnect(connectUrl(server.port, 'failover'),
      { headers: { ServiceBusAuthorization: createToken(server.port, 'failover') } });
    // Whichever listener was picked gets the accept; do not consume the other's messages.
    const until = Date.now() + 5000;
    while (!a.messages.length && !b.messages.length && Date.now() < until) await sleep(10);
    const [gone, remaining] = a.messages.length ? [a, b] : [b, a];
    const firstAccept = await gone.nextAccept(100);
    gone.ws.close(1000, 'leaving');
    const second = await remaining.nextAccept(5000);
    assert.notEqual(second.id, firstAccept.id, 'a fresh rendezvous id');
    const stale = wsConnect(firstAccept.address);
    assert.equal((await stale.refused()).status, 403, 'the first address is no longer valid');
    const rendezvous = wsConnect(second.address);
    await rendezvous.opened();
    await sender.opened();
    sender.ws.send('across');
    assert.equal(String((await rendezvous.next()).data), 'across');
    sender.ws.close();
    remaining.ws.close();
  });
});
