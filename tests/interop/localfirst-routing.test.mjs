// localfirst routing (shared/protocols/localfirst.md section 3: every row of the 3.2 table, 400,
// 414, 404), the page at GET /, the status API (section 9) and shutdown (section 4.10).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  SHUTDOWN_GRACE, assertPaired, getLocalfirst, getStatus, httpRequest, joinedIntro, openIntro, openPipe, openRaw, uid, upgradeStatus,
  waitForPeer, waitForSet, waitForStatus, withTimeout,
} from './lib/localfirst.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'localfirst-routing', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: {} } }); });
after(async () => { await stopServer(server, assert); });

// Opens target byte for byte and waits until /api/status lists peerId.
async function introAs(t, target, peerId) {
  const r = await openRaw(t, server.port, target);
  await waitForPeer(server.port, peerId);
  return r;
}

// Two raw pipe sockets exchange a text message each way: they are paired.
async function rawPaired(r1, r2, what) {
  r1.ws.sendText(`1:${what}`);
  const m1 = await r2.ws.readMessage(3000);
  assert.deepEqual({ type: m1.type, data: String(m1.data) }, { type: 'text', data: `1:${what}` }, `${what}: first -> second`);
  r2.ws.sendText(`2:${what}`);
  const m2 = await r1.ws.readMessage(3000);
  assert.deepEqual({ type: m2.type, data: String(m2.data) }, { type: 'text', data: `2:${what}` }, `${what}: second -> first`);
}

async function assertRefused(targets, status) {
  for (const target of targets) {
    assert.equal(await upgradeStatus(server.port, target), status, `upgrade ${target} answered before the handshake`);
  }
}

test('routing: literal segments match case-insensitively (/INTRODUCTION/p3 is peer p3)', { timeout: 10_000 }, async (t) => {
  await introAs(t, '/INTRODUCTION/p3', 'p3');
  await introAs(t, '/Introduction/p3b', 'p3b');
  const a = await openRaw(t, server.port, '/CONNECTION/lc-a/lc-b/lc-d');
  const b = await openRaw(t, server.port, '/connection/lc-b/lc-a/lc-d');
  await rawPaired(a, b, '/CONNECTION pairs with /connection');
});

test('routing: parameter values keep their case (/introduction/Alice is not alice)', { timeout: 10_000 }, async (t) => {
  const d = uid('case');
  const upper = await joinedIntro(t, server.port, 'Alice', [d]);
  const lower = await openIntro(t, server.port, 'alice');
  lower.join([d]);
  // Two distinct peers: each is introduced to the other.
  await lower.expectIntro('Alice', [d]);
  await upper.expectIntro('alice', [d]);
  const lf = await getLocalfirst(server.port);
  assert.ok(lf.peers.includes('Alice') && lf.peers.includes('alice'), `both listed: ${JSON.stringify(lf.peers)}`);
  const a = await openPipe(t, server.port, 'Alice', 'alice', d);
  const b = await openPipe(t, server.port, 'alice', 'Alice', d);
  await assertPaired(a, b);
});

test('routing: one trailing slash is accepted (/introduction/p2/, /connection/a/b/c/), two are not', { timeout: 10_000 }, async (t) => {
  await introAs(t, '/introduction/p2/', 'p2');
  const a = await openRaw(t, server.port, '/connection/ts-a/ts-b/ts-c/');
  const b = await openRaw(t, server.port, '/connection/ts-b/ts-a/ts-c');
  await rawPaired(a, b, 'trailing slash');
  await assertRefused(['/introduction/p2x//', '/connection/ts-a/ts-b/ts-c//'], 404);
});

test('routing: the query string is ignored (/introduction/p5?x=1 is peer p5)', { timeout: 10_000 }, async (t) => {
  await introAs(t, '/introduction/p5?x=1', 'p5');
  const lf = await getLocalfirst(server.port);
  assert.ok(!lf.peers.some((p) => p.includes('?')), `no peer id with the query: ${JSON.stringify(lf.peers)}`);
  const a = await openRaw(t, server.port, '/connection/q-a/q-b/q-c?x=1');
  const b = await openRaw(t, server.port, '/connection/q-b/q-a/q-c?y=2&z');
  await rawPaired(a, b, 'query ignored');
});

test('routing: parameters are percent-decoded (a%2Fb%20c is "a/b c"; + stays +) and compared decoded', { timeout: 10_000 }, async (t) => {
  await introAs(t, '/introduction/a%2Fb%20c', 'a/b c');
  await introAs(t, '/introduction/x+y', 'x+y');
  await introAs(t, '/introduction/%2B%25%3F', '+%?');
  await introAs(t, '/introduction/caf%C3%A9', 'caf\u00e9');
  const lf = await getLocalfirst(server.port);
  assert.ok(!lf.peers.includes('x y'), '+ is not a space');
  // The same decoded triple, percent-encoded differently on each side, pairs.
  const a = await openRaw(t, server.port, '/connection/r%20a/r%2Fb/doc%3F1');
  const b = await openRaw(t, server.port, '/connection/r%2fb/r%20a/doc%3f1');
  await rawPaired(a, b, 'decoded keys');
});

test('routing: each parameter is one non-empty segment (/introduction, /introduction/, /introduction/p4/extra: 404)', { timeout: 10_000 }, async () => {
  await assertRefused(['/introduction', '/introduction/', '/introduction/p4/extra', '/connection/a//c'], 404);
  const lf = await getLocalfirst(server.port);
  assert.ok(!lf.peers.includes('p4'), 'p4 not registered');
});

test('routing: wrong segment count on /connection is not matched (/connection/a/b, /connection/a/b/c/d: 404)', { timeout: 10_000 }, async () => {
  await assertRefused(['/connection/a/b', '/connection/a/b/c/d', '/connection', '/connection/a'], 404);
});

test('routing: an empty leading segment is not collapsed (//introduction/p1: 404)', { timeout: 10_000 }, async () => {
  await assertRefused(['//introduction/p1', '//connection/a/b/c'], 404);
  const lf = await getLocalfirst(server.port);
  assert.ok(!lf.peers.includes('p1'), 'p1 not registered');
});

test('routing: the express-ws suffix is not a route (/introduction/p6/.websocket: 404)', { timeout: 10_000 }, async () => {
  await assertRefused(['/introduction/p6/.websocket', '/connection/a/b/c/.websocket'], 404);
});

test('routing: other upgrade paths get 404 before the handshake', { timeout: 10_000 }, async () => {
  await assertRefused(['/', '/intro/p7', '/introductions/p7', '/prefix/introduction/p7', '/api/status'], 404);
});

test('routing: malformed percent-encoding in a parameter gets 400', { timeout: 10_000 }, async () => {
  await assertRefused([
    '/introduction/%ZZ', '/introduction/abc%', '/introduction/ab%2', '/introduction/%E0%A4%A',
    '/introduction/%C3%28', // decodeURIComponent semantics: invalid UTF-8 is malformed too
    '/connection/m-a/%GG/m-d',
  ], 400);
});

test('routing: a parameter longer than max_param_length (1024) gets 414; 1024 bytes is accepted', { timeout: 10_000 }, async (t) => {
  const atLimit = 'L'.repeat(1024);
  await introAs(t, `/introduction/${atLimit}`, atLimit);
  await assertRefused([`/introduction/${'L'.repeat(1025)}`, `/connection/a/b/${'d'.repeat(1025)}`, `/connection/${'a'.repeat(1025)}/b/c`], 414);
});

test('GET / is a 200 text/html page from Switchboard', { timeout: 10_000 }, async () => {
  const res = await httpRequest(server.port, '/');
  assert.equal(res.status, 200, 'GET / status (section 3.4)');
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8', 'GET / content type');
  assert.match(res.body.toString('utf8'), /Switchboard/, 'the dashboard names Switchboard');
});

test('non-upgrade requests to /introduction and /connection get 404', { timeout: 10_000 }, async () => {
  for (const path of ['/introduction/alice', '/connection/a/b/c']) {
    const res = await httpRequest(server.port, path);
    assert.equal(res.status, 404, `plain GET ${path} (section 3.4)`);
  }
});

test('/api/status localfirst object: peers once each, documentIds after a Join only, held and paired counts', { timeout: 15_000 }, async (t) => {
  const own = await startServer({ name: 'localfirst-routing-status', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: {} } });
  t.after(() => stopServer(own, assert));
  const port = own.port;
  const full = await getStatus(port);
  for (const key of ['server', 'relay', 'hybrid', 'localfirst']) assert.equal(typeof full[key], 'object', `status has ${key}`);
  assert.equal(typeof full.server.version, 'string', 'server.version');
  assert.deepEqual(full.localfirst, { peers: [], documentIds: {}, held: 0, paired: 0 }, 'idle server (section 9)');

  const [d1, d2] = ['doc-1', 'doc-2'];
  const alice1 = await openIntro(t, port, 'alice');
  const alice2 = await openIntro(t, port, 'alice');
  const bob = await openIntro(t, port, 'bob');
  let lf = await waitForStatus(port, (s) => s.peers.length === 2, 'alice and bob registered');
  assert.deepEqual([...lf.peers].sort(), ['alice', 'bob'], 'a peer with two sockets is listed once');
  assert.deepEqual(lf.documentIds, {}, 'a bare connect adds no set');

  alice2.join([d1, d2]);
  await waitForSet(port, 'alice', [d1, d2]);
  bob.join([]); // a valid, empty Join creates an empty set
  lf = await waitForSet(port, 'bob', []);
  assert.deepEqual(lf.documentIds, { alice: [d1, d2], bob: [] });

  const carol = await openIntro(t, port, 'carol');
  carol.leave([d1]);
  await waitForPeer(port, 'carol');
  alice1.leave([d2, d1]);
  lf = await waitForSet(port, 'alice', []);
  assert.deepEqual(lf.documentIds, { alice: [], bob: [] }, 'a peer that left everything keeps []; a Leave alone creates nothing');
  assert.deepEqual([...lf.peers].sort(), ['alice', 'bob', 'carol']);

  const x1 = await openPipe(t, port, 'x', 'y', d1);
  lf = await waitForStatus(port, (s) => s.held === 1, 'one held socket');
  assert.equal(lf.paired, 0);
  const y1 = await openPipe(t, port, 'y', 'x', d1);
  lf = await waitForStatus(port, (s) => s.paired === 1, 'one pair');
  assert.equal(lf.held, 0, 'pairing empties the holding table');
  const x2 = await openPipe(t, port, 'x', 'y', d1);
  lf = await waitForStatus(port, (s) => s.held === 1, 'a third socket is held');
  assert.equal(lf.paired, 1);

  for (const s of [x1, y1, x2, alice1, alice2, bob, carol]) s.ws.close(1000);
  lf = await waitForStatus(port, (s) => s.peers.length === 0 && s.held === 0 && s.paired === 0, 'everything closed');
  assert.deepEqual(lf, { peers: [], documentIds: {}, held: 0, paired: 0 }, 'back to empty');
});

test('SIGTERM closes introduction, held and paired sockets with 1001 and exits 0', { timeout: 20_000 }, async (t) => {
  // Pairs may drain for shutdown_grace (configuration.md) before their 1001; keep it short.
  const own = await startServer({ name: 'localfirst-routing-sigterm', config: { shutdown_grace: '1s', localfirst: {} } });
  t.after(async () => { if (own.isAlive()) await stopServer(own, assert); });
  const d = uid('bye');
  const intro = await joinedIntro(t, own.port, 'leaving', [d]);
  const held = await openPipe(t, own.port, 'h1', 'h2', d);
  const p1 = await openPipe(t, own.port, 'p1', 'p2', d);
  const p2 = await openPipe(t, own.port, 'p2', 'p1', d);
  await assertPaired(p1, p2);

  const signalled = Date.now();
  own.proc.kill('SIGTERM');
  for (const [what, s] of [['introduction', intro], ['held pipe', held], ['paired pipe 1', p1], ['paired pipe 2', p2]]) {
    const c = await s.closed(6000);
    assert.equal(c.code, 1001, `${what} socket close on shutdown (section 4.10): ${JSON.stringify(c)}`);
    t.diagnostic(`${what} closed ${c.code} "${c.reason}" ${Date.now() - signalled} ms after SIGTERM`);
  }
  assert.deepEqual(await withTimeout(own.exited, 15_000, 'the server to exit after SIGTERM'), { code: 0, signal: null }, 'exit status');
});
