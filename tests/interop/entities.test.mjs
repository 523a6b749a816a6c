// Configured entities in strict mode (sections 1.3, 6.1, 6.4) and the accept timeout (section 4.1
// step 7, D2), with strict_entities = true and accept_timeout = 2 s.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectUrl, createToken, listenUrl, openControl, wsConnect } from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';

const ACCEPT_TIMEOUT_MS = 2000;

let server;
before(async () => {
  server = await startServer({
    name: 'entities',
    config: {
      hybrid: { strict_entities: true, accept_timeout: '2s' },
      entities: [{ path: 'known' }, { path: 'deep/er/path' }, { path: 'pair', max_listeners: 2 }],
    },
  });
});
after(async () => { await stopServer(server, assert); });

function sender(t, pathAndSuffix, { appQuery, tokenPath = pathAndSuffix } = {}) {
  const s = wsConnect(connectUrl(server.port, pathAndSuffix, { appQuery }), {
    headers: { ServiceBusAuthorization: createToken(server.port, tokenPath) },
  });
  t.after(() => s.ws.terminate());
  return s;
}

async function control(t, entity) {
  const c = await openControl(server.port, entity);
  t.after(() => c.ws.terminate());
  return c;
}

async function expectRefused(t, tracked, status, phrase) {
  const r = await tracked.refused();
  assert.equal(r.status, status, `${r.status} ${r.statusMessage}`);
  assert.ok(r.statusMessage.startsWith(phrase), `"${r.statusMessage}" should start with "${phrase}"`);
}

test('strict: unknown entities get 404 "Endpoint does not exist." for listeners and senders', { timeout: 15_000 }, async (t) => {
  const listen = wsConnect(listenUrl(server.port, 'unknown'), {
    headers: { ServiceBusAuthorization: createToken(server.port, 'unknown') },
  });
  t.after(() => listen.ws.terminate());
  await expectRefused(t, listen, 404, 'Endpoint does not exist.');
  await expectRefused(t, sender(t, 'unknown'), 404, 'Endpoint does not exist.');
  // Section 1.3: prefixes end at a '/' boundary; a prefix of an entity path is no entity.
  await expectRefused(t, sender(t, 'knownx'), 404, 'Endpoint does not exist.');
  await expectRefused(t, sender(t, 'deep/er'), 404, 'Endpoint does not exist.');
});

test('strict: a configured entity without listeners gets the "no listeners" 404', { timeout: 15_000 }, async (t) => {
  await expectRefused(t, sender(t, 'known'), 404, 'There are no listeners connected for the endpoint.');
});

test('entity resolution: suffixes, case-insensitive match, multi-segment entities', { timeout: 15_000 }, async (t) => {
  const known = await control(t, 'known');
  const s1 = sender(t, 'KNOWN/Orders/%41', { appQuery: 'q=1' });
  const a1 = await known.nextAccept();
  // The request path is kept exactly as the sender sent it (section 4.2).
  assert.ok(a1.address.startsWith(`ws://127.0.0.1:${server.port}/$hc/KNOWN/Orders/%41?q=1&sb-hc-action=accept&`), a1.address);
  const leg1 = wsConnect(a1.address);
  t.after(() => leg1.ws.terminate());
  await leg1.opened();
  await s1.opened();

  const deep = await control(t, 'deep/er/path');
  const s2 = sender(t, 'deep/er/path/x');
  const a2 = await deep.nextAccept();
  assert.ok(a2.address.startsWith(`ws://127.0.0.1:${server.port}/$hc/deep/er/path/x?sb-hc-action=accept&`), a2.address);
  const leg2 = wsConnect(a2.address);
  t.after(() => leg2.ws.terminate());
  await leg2.opened();
  await s2.opened();
});

test('per-entity max_listeners: the third listener on "pair" gets 403 (2)', { timeout: 15_000 }, async (t) => {
  await control(t, 'pair');
  await control(t, 'pair');
  const third = wsConnect(listenUrl(server.port, 'pair'), {
    headers: { ServiceBusAuthorization: createToken(server.port, 'pair') },
  });
  t.after(() => third.ws.terminate());
  await expectRefused(t, third, 403, 'The maximum number of listeners (2) for this Hybrid Connection has been reached.');
});

test('accept timeout: the sender gets 504 after accept_timeout; the late accept gets 403', { timeout: 15_000 }, async (t) => {
  const c = await control(t, 'known');
  const started = Date.now();
  const s = sender(t, 'known');
  const accept = await c.nextAccept();
  await expectRefused(t, s, 504, 'The listener did not accept the connection in time.');
  const waited = Date.now() - started;
  t.diagnostic(`504 after ${waited} ms (accept_timeout ${ACCEPT_TIMEOUT_MS} ms)`);
  assert.ok(waited >= ACCEPT_TIMEOUT_MS - 100 && waited < ACCEPT_TIMEOUT_MS + 2000, `504 after ${waited} ms`);

  const late = wsConnect(accept.address);
  t.after(() => late.ws.terminate());
  await expectRefused(t, late, 403, 'The rendezvous address is not valid.');
});

// The rest runs in dynamic mode beside a configured entity.
test('dynamic mode: a listener must name an entity exactly, never a configured one plus a suffix', async (t) => {
  const dynamic = await startServer({ name: 'entities-dynamic', config: { entities: [{ path: 'fixed' }] } });
  t.after(() => stopServer(dynamic, assert));
  for (const path of ['fixed/sub', 'FIXED/sub/more']) {
    const refused = wsConnect(listenUrl(dynamic.port, path),
      { headers: { ServiceBusAuthorization: createToken(dynamic.port, path) } });
    await expectRefused(t, refused, 404, 'Endpoint does not exist.');
  }
  const empty = wsConnect(`ws://127.0.0.1:${dynamic.port}/$hc/?sb-hc-action=listen`,
    { headers: { ServiceBusAuthorization: createToken(dynamic.port, '') } });
  await expectRefused(t, empty, 404, 'Endpoint does not exist.');
  const other = await openControl(dynamic.port, 'fresh/sub');  // nothing configured above it
  other.ws.close();
});

test('a path of thousands of segments gets a proper answer and the server keeps serving', async (t) => {
  const deep = `${'/'.repeat(14000)}x`;  // 14,000 empty segments: within max_header_bytes
  const started = Date.now();
  const s = sender(t, deep, { tokenPath: 'known' });
  const r = await s.refused(10_000);
  assert.ok([401, 403, 404].includes(r.status), `${r.status} ${r.statusMessage}`);
  const c = await control(t, 'known');
  c.ws.close();
  // A hang guard only: this bound does not tell linear from quadratic resolution.
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});
