// The client subcommands of `switchboard`: token, listen, connect (stdin/stdout and --exec), and
// forward (-L/-T TCP with azbridge's preamble and half-close, -H HTTP), against the server and the
// real hyco-ws client; their state lines and their answers to bad arguments.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runSwitchboard, startSwitchboard } from './lib/client.mjs';
import {
  closeHycoListener, connectUrl, createToken, hyco, listenUrl, openControl, sha256, sleep, startHycoListener, withTimeout, wsConnect,
} from './lib/hc.mjs';
import { curl, send, sendToken } from './lib/http.mjs';
import { KEY, KEY_NAME, startServer, stopServer } from './lib/server.mjs';
import { selfSignedCertificate } from './lib/tls.mjs';
import { WebSocketServer } from 'ws';

let server;
let endpoint;
const processes = [];
const credentials = () => ['--key-name', KEY_NAME, '--key', KEY];

before(async () => {
  server = await startServer({ name: 'client-cli' });
  endpoint = `ws://127.0.0.1:${server.port}`;
});
after(async () => {
  // SIGTERM is a clean stop: exit 0 (the sanitizer build also fails here on a leak).
  const exits = [];
  for (const p of processes) exits.push({ name: p.name, ...(await p.stop()) });
  await stopServer(server, assert);
  for (const e of exits) assert.deepEqual([e.name, e.code], [e.name, 0], `${e.name} exit (signal ${e.signal})`);
});

function started(args, options) {
  const p = startSwitchboard(args, options);
  processes.push(p);
  return p;
}

async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function listenTcp(onConnection) {
  const s = net.createServer({ allowHalfOpen: true }, onConnection);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

test('token: prints a SAS token with the createRelayToken audience that the server accepts', { timeout: 20_000 }, async () => {
  const uri = `http://127.0.0.1:${server.port}/cli-token`;
  const r = await runSwitchboard(['token', uri, ...credentials(), '--ttl', '10m']);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  const expected = hyco.createRelayToken(uri, KEY_NAME, KEY, 600);
  assert.equal(token.replace(/&se=\d+/, '').replace(/sig=[^&]+/, ''), expected.replace(/&se=\d+/, '').replace(/sig=[^&]+/, ''));
  const se = Number(/&se=(\d+)/.exec(token)[1]);
  assert.ok(Math.abs(se - (Date.now() / 1000 + 600)) < 5, `se ${se} is about 10 minutes ahead`);
  // The same key text and se give hyco-ws's signature.
  const sig = decodeURIComponent(/sig=([^&]+)/.exec(token)[1]);
  const mine = crypto.createHmac('sha256', KEY).update(`${encodeURIComponent(uri)}\n${se}`).digest('base64');
  assert.equal(sig, mine);
  const listener = await startHycoListener(server.port, 'cli-token', () => {});
  try {
    const s = wsConnect(connectUrl(server.port, 'cli-token'), { headers: { ServiceBusAuthorization: token } });
    const refusedOrOpen = await Promise.race([s.opened().then(() => 'open'), s.refused().then((x) => x.status)]);
    assert.equal(refusedOrOpen, 'open');
    s.ws.terminate();
  } finally {
    await closeHycoListener(listener);
  }
});

test('bad arguments: a message and a non-zero exit; --help for every subcommand', { timeout: 30_000 }, async () => {
  for (const command of ['token', 'listen', 'connect', 'forward']) {
    const help = await runSwitchboard([command, '--help']);
    assert.equal(help.code, 0, `${command} --help`);
    assert.match(help.stdout, /--config/, `${command} --help lists --config`);
  }
  const cases = [
    [['token', 'http://x/y'], /--key-name and --key are required/],
    [['listen'], /URL is required/],
    [['forward', '--endpoint', endpoint, '-L', 'nonsense'], /-L expects \[BIND:\]PORT\[\/NAME\]:ENTITY, got 'nonsense'/],
    [['forward', '--endpoint', endpoint, '-T', 'e:host'], /-T expects ENTITY:\[NAME\/\]HOST:PORT/],
    [['forward', '--endpoint', endpoint, '-H', 'e:ftp://x'], /-H expects ENTITY:http:\/\/HOST:PORT/],
    [['forward', '--endpoint', endpoint], /nothing to forward/],
    [['forward', '-L', '1:e'], /--endpoint is required/],
    [['connect', 'entity'], /not a URL and no --endpoint/],
    [['connect', `${endpoint}/$hc/x`, '--key', 'k'], /--key needs --key-name/],
    [['listen', `${endpoint}/$hc/x`, '--ttl', 'soon'], /--ttl expects a duration/],
  ];
  for (const [args, message] of cases) {
    const r = await runSwitchboard(args);
    assert.notEqual(r.code, 0, `${args.join(' ')} exits non-zero`);
    assert.match(r.stderr, message, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('listen: state lines for a refused key (401, backing off), then serves a hyco-ws sender on stdin/stdout', { timeout: 30_000 }, async (t) => {
  const bad = started(['listen', listenUrl(server.port, 'cli-listen'), '--key-name', KEY_NAME, '--key', 'wrong']);
  assert.match(await bad.waitLine(/reconnecting/), /rejected: 401 The token has an invalid signature\..*; reconnecting in 0 s$/);
  assert.match(await bad.waitLine(/reconnecting/), /reconnecting in 1 s$/);
  await bad.stop();

  const l = started(['listen', 'cli-listen', '--endpoint', endpoint, ...credentials()], { stdin: 'pipe' });
  await l.waitLine(/cli-listen: connected$/);
  const url = connectUrl(server.port, 'cli-listen');
  const s = hyco.relayedConnect(url, createToken(server.port, 'cli-listen'));
  t.after(() => s.terminate());
  const got = [];
  s.on('message', (m) => got.push(String(m)));
  await withTimeout(new Promise((resolve) => s.on('open', resolve)), 5000, 'hyco-ws sender');
  s.send('line from the sender');
  await l.waitLine(/^line from the sender$/);
  l.proc.stdin.write('reply one\nreply two\n');
  await withTimeout((async () => { while (got.length < 2) await sleep(20); })(), 5000, 'two replies');
  assert.deepEqual(got, ['reply one', 'reply two']);
  await l.waitLine(/accepted a connection from 127\.0\.0\.1:\d+$/, 1000, { from: 0 });
});

test('connect: the C++ sender reaches a hyco-ws listener; stdin lines go out, messages come back as lines', { timeout: 30_000 }, async () => {
  const listener = await startHycoListener(server.port, 'cli-connect', (sock) => {
    sock.on('message', (m) => sock.send(`echo: ${m}`));
  });
  try {
    const c = started(['connect', connectUrl(server.port, 'cli-connect'), ...credentials()], { stdin: 'pipe' });
    await c.waitLine(/^switchboard connect: connected$/);
    c.proc.stdin.write('first\nsecond\n');
    await c.waitLine(/^echo: first$/);
    await c.waitLine(/^echo: second$/);
    c.proc.stdin.end();
    assert.equal((await withTimeout(c.exited, 10_000, 'connect to exit once both sides closed')).code, 0);
  } finally {
    await closeHycoListener(listener);
  }
});

test('connect: --header, --protocol and --token-in-query reach the listener as the protocol says', { timeout: 30_000 }, async (t) => {
  const control = await openControl(server.port, 'cli-options');
  t.after(() => control.ws.terminate());
  const c = started(['connect', `${connectUrl(server.port, 'cli-options/sub')}&app=1`, ...credentials(), '--token-in-query',
    '--header', 'X-Custom: from the cli', '--protocol', 'p1', '--protocol', 'p2'], { stdin: 'pipe' });
  const accept = await control.nextAccept();
  assert.equal(accept.connectHeaders['X-Custom'], 'from the cli');
  assert.equal(accept.connectHeaders['Sec-WebSocket-Protocol'], 'p1, p2');
  assert.ok(!('ServiceBusAuthorization' in accept.connectHeaders), 'the token went in the query');
  assert.match(accept.address, /\/\$hc\/cli-options\/sub\?app=1&sb-hc-action=accept&sb-hc-id=/);
  const leg = wsConnect(accept.address, { protocols: ['p2'] });
  t.after(() => leg.ws.terminate());
  await leg.opened();
  await c.waitLine(/^switchboard connect: connected \(sub-protocol p2\)$/);
  leg.ws.send('to the cli');
  await c.waitLine(/^to the cli$/);
  leg.ws.close(1000, 'bye');
  c.proc.stdin.end();
  assert.equal((await withTimeout(c.exited, 10_000, 'connect to exit')).code, 0);
});

test('listen --exec: a process per connection, joined to the relayed WebSocket', { timeout: 30_000 }, async (t) => {
  const l = started(['listen', 'cli-exec', '--endpoint', endpoint, ...credentials(), '--exec', 'while read -r line; do echo "$line" | tr a-z A-Z; done']);
  await l.waitLine(/cli-exec: connected$/);
  for (const word of ['alpha', 'beta']) {
    const s = wsConnect(connectUrl(server.port, 'cli-exec'), { headers: { ServiceBusAuthorization: createToken(server.port, 'cli-exec') } });
    t.after(() => s.ws.terminate());
    await s.opened();
    s.ws.send(word);
    assert.equal(String((await s.next()).data), word.toUpperCase());
    s.ws.close(1000);
    assert.equal((await s.closed()).code, 1000);
  }
  // An HTTP request to a listener that serves WebSocket connections only.
  const r = await send(server.port, '/cli-exec/x', { headers: { ServiceBusAuthorization: sendToken(server.port, 'cli-exec') } });
  assert.equal(r.status, 501);
  assert.equal(r.statusMessage, 'Not Implemented: this listener does not serve HTTP requests');
});

// -L PORT:ENTITY on one side, -T ENTITY:HOST:PORT on the other, a TCP service behind.
async function startTunnel(t, entity, service) {
  const target = await listenTcp(service);
  t.after(() => target.close());
  const remote = started(['forward', '--endpoint', endpoint, ...credentials(), '-T', `${entity}:127.0.0.1:${target.address().port}`]);
  await remote.waitLine(new RegExp(`\\$hc/${entity}: connected$`));
  const port = await freePort();
  const local = started(['forward', '--endpoint', endpoint, ...credentials(), '-L', `${port}:${entity}`]);
  await local.waitLine(/: listening$/);
  return { port, local, remote };
}

test('forward: 100 MiB each way through -L, the relay and -T to a TCP echo service, checksummed', { timeout: 120_000 }, async (t) => {
  const { port, local, remote } = await startTunnel(t, 'cli-tunnel', (socket) => socket.pipe(socket));
  const size = 100 * 1024 * 1024;
  const data = crypto.randomBytes(size);
  const result = await withTimeout(new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    const hash = crypto.createHash('sha256');
    let received = 0;
    c.on('data', (d) => { hash.update(d); received += d.length; });
    c.on('end', () => resolve({ received, digest: hash.digest('hex') }));
    c.on('error', reject);
    c.end(data);  // then half-closed: the echo ends its side after the last byte
  }), 100_000, '100 MiB round trip');
  assert.equal(result.received, size);
  assert.equal(result.digest, sha256(data));
  await remote.waitLine(/connected to 127\.0\.0\.1:\d+$/, 1000, { from: 0 });
  await local.waitLine(new RegExp(`ended \\(${size} bytes sent, ${size} received\\)$`));
});

test('forward: half-close — the client shuts its write side and still reads the reply', { timeout: 30_000 }, async (t) => {
  const { port } = await startTunnel(t, 'cli-halfclose', (socket) => {
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', async () => {  // the client's FIN arrived as the end of the request
      await sleep(200);
      socket.end(`got ${Buffer.concat(chunks).length} bytes: ${Buffer.concat(chunks)}`);
    });
  });
  const reply = await withTimeout(new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.end('the whole request'));
    const chunks = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks).toString()));
    c.on('error', reject);
  }), 10_000, 'the reply after half-close');
  assert.equal(reply, 'got 17 bytes: the whole request');
});

test('forward: an unknown port name is refused and the local connection closed', { timeout: 30_000 }, async (t) => {
  const target = await listenTcp((s) => s.end('never'));
  t.after(() => target.close());
  const remote = started(['forward', '--endpoint', endpoint, ...credentials(),
    '-T', `cli-names:ssh/127.0.0.1:${target.address().port}`, '-T', `cli-names:web/127.0.0.1:${target.address().port}`]);
  await remote.waitLine(/cli-names: connected$/);
  const port = await freePort();
  const local = started(['forward', '--endpoint', endpoint, ...credentials(), '-L', `${port}/db:cli-names`]);
  await local.waitLine(/: listening$/);
  const bytes = await withTimeout(new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    const chunks = [];
    c.on('data', (d) => chunks.push(d));
    c.on('close', () => resolve(Buffer.concat(chunks).length));
    c.on('error', () => {});
  }), 10_000, 'the local connection to close');
  assert.equal(bytes, 0);
  await remote.waitLine(/unknown port name 'db', closed$/);
  await local.waitLine(/cli-names does not forward port name 'db'/);
});

test('forward -H: curl reaches a local HTTP service through the relay; bodies both ways', { timeout: 60_000 }, async (t) => {
  const seen = [];
  const service = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method, url: req.url, custom: req.headers['x-custom'], length: body.length });
      if (req.url.startsWith('/base/big')) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        return res.end(Buffer.alloc(3 * 1024 * 1024, 'z'));
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'Content-Type': 'text/plain', 'X-Service': 'local' });
      res.end(`${req.method} ${req.url} ${body.length} ${sha256(body)}`);
    });
  });
  await new Promise((resolve) => service.listen(0, '127.0.0.1', resolve));
  t.after(() => service.close());
  const f = started(['forward', '--endpoint', endpoint, ...credentials(), '-H', `cli-web:http://127.0.0.1:${service.address().port}/base`]);
  await f.waitLine(/cli-web: connected$/);
  const token = sendToken(server.port, 'cli-web');

  const r = await curl(['-s', '-i', '-H', `ServiceBusAuthorization: ${token}`, '-H', 'X-Custom: yes', `http://127.0.0.1:${server.port}/cli-web/page?q=1`]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString();
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nx-service: local\r\n/i);
  assert.ok(text.endsWith(`GET /base/page?q=1 0 ${sha256(Buffer.alloc(0))}`), text);
  assert.deepEqual(seen[0], { method: 'GET', url: '/base/page?q=1', custom: 'yes', length: 0 });

  const upload = crypto.randomBytes(2 * 1024 * 1024);
  const posted = await send(server.port, '/cli-web/upload', { method: 'POST', headers: { ServiceBusAuthorization: token }, body: upload });
  assert.equal(posted.status, 201);
  assert.equal(posted.body.toString(), `POST /base/upload ${upload.length} ${sha256(upload)}`);

  const big = await curl(['-s', '-H', `ServiceBusAuthorization: ${token}`, `http://127.0.0.1:${server.port}/cli-web/big`]);
  assert.equal(big.stdout.length, 3 * 1024 * 1024);
  assert.equal(sha256(big.stdout), sha256(Buffer.alloc(3 * 1024 * 1024, 'z')));

  // A service that is down: 502 from the forwarder, with a line saying why.
  service.close();
  service.closeAllConnections();
  await sleep(100);
  const down = await send(server.port, '/cli-web/x', { headers: { ServiceBusAuthorization: token } });
  assert.equal(down.status, 502);
  await f.waitLine(/cannot reach 127\.0\.0\.1:\d+/);
});

test('config: the client subcommands read the [client] table and sas_keys of the TOML file serve reads', { timeout: 30_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-client-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'switchboard.toml');
  fs.writeFileSync(file, `listen = "127.0.0.1:${server.port}"\nsas_keys = ["${KEY_NAME}=${KEY}"]\n\n[client]\ntoken_ttl = "5m"\n`);
  const r = await runSwitchboard(['token', `http://127.0.0.1:${server.port}/cli-config`, '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const se = Number(/&se=(\d+)/.exec(r.stdout)[1]);
  assert.ok(Math.abs(se - (Date.now() / 1000 + 300)) < 5, 'token_ttl from the file');
  const l = started(['listen', 'cli-config', '--config', file]);
  await l.waitLine(/ws:\/\/127\.0\.0\.1:\d+\/\$hc\/cli-config: connected$/);
});

test('wss: the C++ sender verifies the certificate and host name (SNI), with --ca-file', { timeout: 30_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-client-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const good = selfSignedCertificate(dir, 'localhost', 'DNS:localhost');
  const other = selfSignedCertificate(dir, 'other', 'DNS:other.example');
  // A TLS WebSocket server standing in for a relay: it echoes and records what it was sent.
  const start = async (cert) => {
    const seen = [];
    const server = https.createServer({ key: cert.key, cert: cert.cert });
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (sock, req) => {
      seen.push({ url: req.url, auth: req.headers.servicebusauthorization, sni: req.socket.servername });
      sock.on('message', (m, binary) => sock.send(m, { binary }));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => { wss.close(); server.close(); server.closeAllConnections(); });
    return { port: server.address().port, seen };
  };
  const relay = await start(good);
  const url = `wss://localhost:${relay.port}/$hc/tls-entity`;
  const c = started(['connect', url, ...credentials(), '--ca-file', good.file], { stdin: 'pipe' });
  await c.waitLine(/^switchboard connect: connected$/);
  c.proc.stdin.write('over tls\n');
  await c.waitLine(/^over tls$/);
  c.proc.stdin.end();
  assert.equal((await withTimeout(c.exited, 10_000, 'connect to exit')).code, 0);
  assert.equal(relay.seen[0].url, '/$hc/tls-entity?sb-hc-action=connect');
  assert.equal(relay.seen[0].sni, 'localhost');
  assert.match(relay.seen[0].auth, new RegExp(`^SharedAccessSignature sr=${encodeURIComponent(`http://localhost:${relay.port}/tls-entity`)}&`));

  const untrusted = await runSwitchboard(['connect', url, ...credentials()]);
  assert.notEqual(untrusted.code, 0);
  assert.match(untrusted.stderr, /certificate verify failed/);
  const wrongName = await start(other);
  const misnamed = await runSwitchboard(['connect', `wss://localhost:${wrongName.port}/$hc/tls-entity`, ...credentials(), '--ca-file', other.file]);
  assert.notEqual(misnamed.code, 0);
  assert.match(misnamed.stderr, /certificate verify failed/);
  assert.equal(wrongName.seen.length, 0, 'no WebSocket was opened to the misnamed server');
});

test('forward: after a half-close the reply may take longer than the close timeout (7 s trickle)', { timeout: 40_000 }, async (t) => {
  const { port } = await startTunnel(t, 'cli-trickle', (socket) => {
    socket.on('data', () => {});
    socket.on('end', async () => {
      for (let i = 0; i < 7; ++i) {
        socket.write(`tick ${i}\n`);
        await sleep(1000);
      }
      socket.end('done\n');
    });
  });
  const reply = await withTimeout(new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.end('go'));
    const chunks = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks).toString()));
    c.on('error', reject);
  }), 20_000, 'the trickled reply');
  assert.equal(reply, 'tick 0\ntick 1\ntick 2\ntick 3\ntick 4\ntick 5\ntick 6\ndone\n');
});

test('listen --token: a fixed token is not renewed in a loop (one warning, no CPU spin)', { timeout: 30_000 }, async () => {
  const uri = listenUrl(server.port, 'cli-fixed');
  const token = createToken(server.port, 'cli-fixed', { seconds: 2 });
  const l = started(['listen', uri, '--token', token]);
  await l.waitLine(/cli-fixed\?sb-hc-action=listen: connected$/);
  await l.waitLine(/gave no later expiry; the token is not renewed$/, 10_000);
  await sleep(3000);
  const stat = fs.readFileSync(`/proc/${l.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const cpuTicks = Number(stat[11]) + Number(stat[12]);
  assert.ok(cpuTicks < 100, `the listener used ${cpuTicks} ticks of CPU in about 6 s`);
  assert.equal(l.lines.filter((x) => /no later expiry/.test(x)).length, 1);
});

test('forward -H: an interim 103 is skipped; a response cut short by the service is not passed on as whole', { timeout: 30_000 }, async (t) => {
  const service = http.createServer((req, res) => {
    if (req.url.startsWith('/hints')) {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return res.end(`final for ${req.url}`);
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(1024 * 1024) });
    if (req.url.startsWith('/early')) return res.socket.destroy();  // nothing of the body
    res.write(Buffer.alloc(300 * 1024, 'c'));  // over 64 KiB: the response is under way
    setTimeout(() => res.socket.destroy(), 500);
  });
  await new Promise((resolve) => service.listen(0, '127.0.0.1', resolve));
  t.after(() => { service.close(); service.closeAllConnections(); });
  const f = started(['forward', '--endpoint', endpoint, ...credentials(), '-H', `cli-cut:http://127.0.0.1:${service.address().port}`]);
  await f.waitLine(/cli-cut: connected$/);
  const token = sendToken(server.port, 'cli-cut');
  for (const n of [1, 2]) {  // the second goes over the kept-alive connection
    const r = await send(server.port, `/cli-cut/hints/${n}`, { headers: { ServiceBusAuthorization: token } });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `final for /hints/${n}`);
  }
  const cut = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-H', `ServiceBusAuthorization: ${token}`,
    `http://127.0.0.1:${server.port}/cli-cut/big`]);
  assert.notEqual(cut.code, 0, `curl took the short body as complete: ${cut.stdout}`);
  const [status, size] = cut.stdout.toString().split(' ').map(Number);
  assert.equal(status, 200);
  assert.ok(size >= 64 * 1024 && size < 1024 * 1024, `${size} bytes arrived before the cut`);
  const early = await send(server.port, '/cli-cut/early', { headers: { ServiceBusAuthorization: token } });
  assert.equal(early.status, 502, 'cut before any byte left: a clean 502');
  await f.waitLine(/HTTP GET \/cli-cut\/big: reading the response failed/);
});
