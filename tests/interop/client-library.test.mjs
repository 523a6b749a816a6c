// The C++ client library (Switchboard::client) against the server, through relay-echo, the example
// consumer built here against the installed package (examples/client): accept and reject,
// sub-protocols, relayed HTTP from curl and Node http, token renewal, reconnection, failover, and
// interoperability with hyco-ws.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { buildExample, fnv1a, startProcess } from './lib/client.mjs';
import { createToken, hycoConnect, listenUrl, connectUrl, sleep, wsConnect } from './lib/hc.mjs';
import { curl, readBody, send, sendToken, startHttpsListener, closeHttpsListener } from './lib/http.mjs';
import { runProgram } from './lib/client.mjs';
import { KEY, KEY_NAME, startServer, stopServer } from './lib/server.mjs';

let server;
let example;
const listeners = [];

before(async () => {
  example = await buildExample();
  // token_grace 0: a listener that did not renew would lose its channel the moment se passes.
  server = await startServer({ name: 'client-library', config: { hybrid: { token_grace: '0s' } } });
});
after(async () => {
  for (const l of listeners) await l.stop();
  await stopServer(server, assert);
  if (example) fs.rmSync(example.work, { recursive: true, force: true });
});

async function startEcho(entity, args = [], port = server.port, name = `relay-echo-${entity}`) {
  const l = startProcess(example.bin, [listenUrl(port, entity), '--key-name', KEY_NAME, '--key', KEY, ...args], { name });
  listeners.push(l);
  await l.waitLine(/^state connected$/);
  return l;
}

function sender(entity, { suffix = '', appQuery = '', headers = {}, protocols, port = server.port } = {}) {
  return wsConnect(connectUrl(port, `${entity}${suffix}`, { appQuery }), {
    protocols,
    headers: { ServiceBusAuthorization: createToken(port, entity), ...headers },
  });
}

test('accept: the listener sees path, query, headers and remote endpoint; messages echo both ways', { timeout: 30_000 }, async (t) => {
  const l = await startEcho('lib-accept');
  const s = sender('lib-accept', { suffix: '/orders/42', appQuery: 'region=eu&x=1', headers: { 'X-Custom': 'abc' } });
  t.after(() => s.ws.terminate());
  await s.opened();
  const line = await l.waitLine(/^accept /);
  assert.equal(line, 'accept path=lib-accept/orders/42 query=region=eu&x=1 remote=127.0.0.1 custom=abc');
  s.ws.send('text message');
  let m = await s.next();
  assert.equal(m.binary, false);
  assert.equal(String(m.data), 'text message');
  const binary = Buffer.alloc(300_000, 7);
  s.ws.send(binary);
  m = await s.next();
  assert.equal(m.binary, true);
  assert.ok(Buffer.from(m.data).equals(binary), 'binary message echoed intact');
  s.ws.close(4000, 'bye');
  assert.deepEqual(await s.closed(), { code: 4000, reason: 'bye' });
  await l.waitLine(/^connection closed 4000 bye$/);
});

test('reject: the status and description chosen by the listener reach the ws sender', { timeout: 30_000 }, async (t) => {
  const l = await startEcho('lib-reject');
  const s = sender('lib-reject', { headers: { 'X-Reject': '403 Go away, please' } });
  t.after(() => s.ws.terminate());
  const refused = await s.refused();
  assert.equal(refused.status, 403);
  assert.equal(refused.statusMessage, 'Go away, please');
  assert.equal(await l.waitLine(/^rejected /), 'rejected ok');
});

test('sub-protocol: the listener picks its preferred one among those offered, in both 101s', { timeout: 30_000 }, async (t) => {
  await startEcho('lib-protocol', ['--protocol', 'chat.v2', '--protocol', 'chat.v1']);
  const s = sender('lib-protocol', { protocols: ['chat.v1', 'chat.v2'] });
  t.after(() => s.ws.terminate());
  await s.opened();
  assert.equal(s.ws.protocol, 'chat.v2');
  s.ws.send('proto');
  assert.equal(String((await s.next()).data), 'proto');
  const plain = sender('lib-protocol');
  t.after(() => plain.ws.terminate());
  await plain.opened();
  assert.equal(plain.ws.protocol, '', 'no offer, no sub-protocol');
});

test('HTTP: curl and Node http reach the C++ listener; bodies stream both ways', { timeout: 60_000 }, async () => {
  await startEcho('lib-http');
  const token = sendToken(server.port, 'lib-http');
  const base = `http://127.0.0.1:${server.port}/lib-http`;

  const r = await curl(['-s', '-i', '-H', `ServiceBusAuthorization: ${token}`, '-H', 'X-Custom: via-curl', `${base}/items?id=7`]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString();
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nx-served-by: relay-echo\r\n/i);
  const summary = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  assert.deepEqual(summary, { method: 'GET', target: '/lib-http/items?id=7', length: 0, fnv1a: '811c9dc5', custom: 'via-curl' });

  // A 3 MiB upload goes over a rendezvous (over the 64 KiB inline limit), streamed.
  const upload = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < upload.length; ++i) upload[i] = (i * 31) & 0xff;
  const posted = await send(server.port, '/lib-http/upload', { method: 'POST', headers: { ServiceBusAuthorization: token }, body: upload });
  assert.equal(posted.status, 201);
  assert.equal(posted.statusMessage, 'Created');
  const p = JSON.parse(posted.body);
  assert.equal(p.length, upload.length);
  assert.equal(p.fnv1a, fnv1a(upload));

  // Small responses go inline, large ones over their own rendezvous.
  for (const bytes of [1000, 5 * 1024 * 1024]) {
    const got = await send(server.port, `/lib-http/stream?bytes=${bytes}`, { headers: { ServiceBusAuthorization: token } });
    assert.equal(got.status, 200);
    assert.equal(got.body.length, bytes);
    const expected = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; ++i) expected[i] = 97 + ((bytes - i) % 26);
    assert.ok(got.body.equals(expected), `${bytes}-byte body intact`);
  }
});

test('interop: the C++ listener serves a hyco-ws sender', { timeout: 30_000 }, async (t) => {
  await startEcho('lib-hyco');
  const url = connectUrl(server.port, 'lib-hyco');
  const s = hycoConnect(url, createToken(server.port, 'lib-hyco'));
  t.after(() => s.ws.close());
  await s.opened();
  s.ws.send('from hyco-ws');
  assert.equal(String((await s.next()).data), 'from hyco-ws');
});

test('interop: the C++ HTTP sender (relayed_request) reaches a hyco-https listener', { timeout: 30_000 }, async () => {
  const listener = await startHttpsListener(server.port, 'lib-hycohttps', async (req, res) => {
    const body = await readBody(req);
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${req.method} ${req.url} ${req.headers['content-type']} ${body}`);
  });
  try {
    const url = `http://127.0.0.1:${server.port}/lib-hycohttps/orders?x=1`;
    const r = await runProgram(example.bin, ['--request', url, '--method', 'PUT', '--data', 'hello https', '--key-name', KEY_NAME, '--key', KEY]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.stdout, 'status 200 OK\nbody PUT /lib-hycohttps/orders?x=1 text/plain hello https\n');
    const anonymous = await runProgram(example.bin, ['--request', url]);
    assert.match(anonymous.stdout.split('\n')[0], /^status 401 Unauthorized: no security token was supplied\. TrackingId:/,
      'the relay\'s refusal is a reply with its status and reason phrase');
  } finally {
    await closeHttpsListener(listener);
  }
});

test('blocking API: a blocking sender and a blocking listener, one message each way', { timeout: 30_000 }, async () => {
  await startEcho('lib-blocking');
  const r = await runProgram(example.bin, ['--send', connectUrl(server.port, 'lib-blocking'), '--message', 'ping', '--key-name', KEY_NAME, '--key', KEY]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, 'reply ping\n');

  const once = startProcess(example.bin, ['--once', listenUrl(server.port, 'lib-once'), '--key-name', KEY_NAME, '--key', KEY], { name: 'relay-echo-once' });
  listeners.push(once);
  let s;
  for (let i = 0; i < 50; ++i) {  // until its control channel is up
    s = sender('lib-once');
    try {
      await s.opened();
      break;
    } catch {
      await sleep(100);
    }
  }
  s.ws.send('hi');
  assert.equal(String((await s.next()).data), 'once: hi');
  s.ws.close(1000);
  await once.waitLine(/^done 1000$/);
  assert.equal((await once.exited).code, 0);
});

test('token renewal: with 3 s tokens and no grace the control channel stays up for 9 s', { timeout: 30_000 }, async (t) => {
  const l = await startEcho('lib-renew', ['--ttl', '3']);
  await sleep(9000);
  assert.ok(!l.lines.some((line) => line.startsWith('state reconnecting')), `the listener reconnected:\n${l.lines.join('\n')}`);
  const s = sender('lib-renew');
  t.after(() => s.ws.terminate());
  await s.opened();
  s.ws.send('still here');
  assert.equal(String((await s.next()).data), 'still here');
});

test('reconnection: the listener backs off 0, 1, 2 s while the server is down and comes back', { timeout: 60_000 }, async (t) => {
  let own = await startServer({ name: 'client-library-restart' });
  const port = own.port;
  t.after(() => own.stop());
  const l = await startEcho('lib-restart', [], port, 'relay-echo-restart');
  await own.stop();
  assert.match(await l.waitLine(/^state reconnecting/), /^state reconnecting 0 /);
  assert.match(await l.waitLine(/^state reconnecting/), /^state reconnecting 1 .*(refused|closed)/i);
  assert.match(await l.waitLine(/^state reconnecting/, 5000), /^state reconnecting 2 /);
  own = await startServer({ name: 'client-library-restarted', listen: `127.0.0.1:${port}` });
  await l.waitLine(/^state connected$/, 10_000);
  const s = sender('lib-restart', { port });
  t.after(() => s.ws.terminate());
  await s.opened();
  s.ws.send('after restart');
  assert.equal(String((await s.next()).data), 'after restart');
});

test('failover: with one of two listeners killed, every sender reaches the other', { timeout: 30_000 }, async (t) => {
  const a = await startEcho('lib-failover', [], server.port, 'relay-echo-failover-a');
  await startEcho('lib-failover', [], server.port, 'relay-echo-failover-b');
  await a.stop('SIGKILL');
  await sleep(300);
  for (let i = 0; i < 10; ++i) {
    const s = sender('lib-failover');
    t.after(() => s.ws.terminate());
    await s.opened();
    s.ws.send(`sender ${i}`);
    assert.equal(String((await s.next()).data), `sender ${i}`);
    s.ws.close();
  }
});
