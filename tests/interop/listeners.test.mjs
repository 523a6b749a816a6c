// Several listeners on one entity: random spread, failover, the 25-listener limit (section 6).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  closeHycoListener, connectUrl, createToken, hycoConnect, openControl, startHycoListener,
  track, WebSocket, listenUrl, wsConnect,
} from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'listeners' }); });
after(async () => { await stopServer(server, assert); });

// One hyco-ws connect; resolves the name of the listener that answered.
async function connectOnce(entity) {
  const sender = hycoConnect(connectUrl(server.port, entity), createToken(server.port, entity));
  try {
    await sender.opened(10_000);
    return String((await sender.next(5000)).data);
  } finally {
    sender.ws.terminate();
  }
}

async function connectMany(entity, count, parallel) {
  const names = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      next += 1;
      names.push(await connectOnce(entity));
    }
  }));
  return names;
}

function tally(names) {
  const counts = {};
  for (const n of names) counts[n] = (counts[n] ?? 0) + 1;
  return counts;
}

test('connects are spread over 3 listeners; after one leaves, all go to the other two', { timeout: 60_000 }, async (t) => {
  const entity = 'spread';
  const listeners = [];
  for (const name of ['L0', 'L1', 'L2']) {
    const l = await startHycoListener(server.port, entity, (sock) => {
      sock.on('open', () => sock.send(name));
    });
    listeners.push(l);
    t.after(() => closeHycoListener(l));
  }

  const first = tally(await connectMany(entity, 60, 6));
  t.diagnostic(`60 connects over 3 listeners: ${JSON.stringify(first)}`);
  // Uniform random choice (section 6.2): each gets 20 on average; fewer than 5 has p < 1e-4.
  for (const name of ['L0', 'L1', 'L2']) {
    assert.ok((first[name] ?? 0) >= 5, `listener ${name} got ${first[name] ?? 0} of 60: ${JSON.stringify(first)}`);
  }

  assert.equal(await closeHycoListener(listeners[0]), true, 'L0 control channel closed');
  const second = tally(await connectMany(entity, 30, 6));
  t.diagnostic(`30 connects after L0 left: ${JSON.stringify(second)}`);
  assert.equal(second.L0, undefined, 'nothing goes to a listener that left');
  assert.equal((second.L1 ?? 0) + (second.L2 ?? 0), 30);
});

test('25 listeners are accepted; the 26th gets 403; a freed slot can be used again', { timeout: 60_000 }, async (t) => {
  const entity = 'crowded';
  const token = createToken(server.port, entity);
  const controls = await Promise.all(Array.from({ length: 25 }, () => openControl(server.port, entity, { token })));
  t.after(() => controls.forEach((c) => c.ws.terminate()));

  const extra = track(new WebSocket(listenUrl(server.port, entity), {
    perMessageDeflate: false, headers: { ServiceBusAuthorization: token },
  }));
  t.after(() => extra.ws.terminate());
  const r = await extra.refused();
  assert.equal(r.status, 403);
  // Section 6.1 / D1.
  assert.ok(r.statusMessage.startsWith('The maximum number of listeners (25) for this Hybrid Connection has been reached.'),
    r.statusMessage);

  // Section 6.2: a listener whose control channel closes is removed at once.
  controls[0].ws.close(1000);
  await controls[0].closed();
  const again = await openControl(server.port, entity, { token });
  t.after(() => again.ws.terminate());

  // All 25 still receive work: a sender reaches one of them.
  const sender = hycoConnect(connectUrl(server.port, entity), token);
  t.after(() => sender.ws.terminate());
  const live = [...controls.slice(1), again];
  const accept = await Promise.any(live.map((c) => c.nextAccept(5000)));
  assert.ok(accept.address.includes('sb-hc-action=accept'));
});

test('a sender that connects the moment the listener sees its 101 is accepted, not refused', { timeout: 60_000 }, async () => {
  // The listener takes work from the moment its 101 is written; 200 tries make the race likely.
  for (let i = 0; i < 200; i += 1) {
    const entity = `instant-${i}`;
    const control = await openControl(server.port, entity);
    const sender = wsConnect(connectUrl(server.port, entity),
      { headers: { ServiceBusAuthorization: createToken(server.port, entity) } });
    try {
      const accept = await control.nextAccept(5000);
      assert.ok(accept.address.includes('sb-hc-action=accept'), `try ${i}`);
    } finally {
      sender.ws.terminate();
      control.ws.terminate();
    }
  }
});
