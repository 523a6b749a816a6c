// Bridge webhooks (bridge.md section 7.4) against a local HTTP receiver that checks the
// signature, pending-bridge limits (section 11), and the refusal to start when one secret serves
// two purposes (section 5.2).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  acceptBridge, bridgeConfig, connectTarget, eventually, nextNotification, openControlChannel, openRequester,
  rawClose, readRaw, readStream,
} from './lib/bridge.mjs';
import { OP } from './lib/rawws.mjs';
import { SERVER_BIN, startServer, stopServer } from './lib/server.mjs';
import { selfSignedCertificate } from './lib/tls.mjs';

const WEBHOOK_SECRET = 'webhook-secret-for-the-interop-tests-0123';

describe('webhook notifier', () => {
  let server;
  let receiver;
  let receiverPort;
  let redirectHits = 0;
  const deliveries = [];
  // What the receiver does per device id: 'accept', 'decline', 'fail', 'redirect', 'slow', and
  // 'flaky' (fails the first attempt, accepts the retry).
  const attempts = new Map();
  const behaviour = (id) => {
    attempts.set(id, (attempts.get(id) ?? 0) + 1);
    const kind = id.split('-')[0];
    if (kind === 'flaky') return attempts.get(id) === 1 ? 'fail' : 'accept';
    return kind;
  };

  before(async () => {
    receiver = http.createServer((req, res) => {
      if (req.url.startsWith('/elsewhere')) {
        redirectHits += 1;
        res.end();
        return;
      }
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const delivery = { url: req.url, headers: req.headers, body, json: JSON.parse(body) };
        deliveries.push(delivery);
        const id = decodeURIComponent(req.headers['x-switchboard-device-id']);
        switch (behaviour(id)) {
          case 'accept': {
            res.end('{"ok":true}');
            // The receiver (standing in for the device) opens the accept URL itself.
            const device = await acceptBridge(delivery.json.bridge.acceptUrl);
            const got = await readStream(device.inbox, 5);
            device.ws.send(Buffer.concat([Buffer.from('echo:'), got.data]));
            break;
          }
          case 'decline':
            res.setHeader('Content-Type', 'application/json');
            res.end(JSON.stringify({ decline: { reason: 'maintenance' } }));
            break;
          case 'redirect':
            res.writeHead(302, { Location: `http://127.0.0.1:${receiverPort}/elsewhere` });
            res.end();
            break;
          case 'slow':
            setTimeout(() => res.end(), 3000);
            break;
          default:
            res.writeHead(500);
            res.end();
        }
      });
    });
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverPort = receiver.address().port;
    server = await startServer({
      name: 'bridge-webhook',
      config: {
        bridge: bridgeConfig({
          accept_timeout: '5s',
          webhook: { url: `http://127.0.0.1:${receiverPort}/notify/{deviceId}`, secret: WEBHOOK_SECRET, timeout: '1s', retries: 1 },
        }),
      },
    });
  });

  after(async () => {
    await stopServer(server, assert);
    receiver.close();
  });

  test('a signed POST reaches the receiver, which accepts the bridge', async () => {
    const before = Date.now();
    const r = await openRequester(server.port, connectTarget('accept-dev 1', 'port=22'));
    assert.equal(r.status, 101);
    r.ws.sendFrame(OP.BINARY, Buffer.from('hello'), { fin: false });
    const back = await readRaw(r.ws, 10);
    assert.equal(back.data.toString(), 'echo:hello');
    const d = deliveries.at(-1);
    assert.equal(d.url, '/notify/accept-dev%201');
    assert.equal(d.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(d.headers['x-switchboard-device-id'], 'accept-dev%201');
    const ts = Number(d.headers['x-switchboard-timestamp']);
    assert.ok(Math.abs(ts * 1000 - before) < 10_000, 'timestamp is now, in Unix seconds');
    const expected = `v1=${crypto.createHmac('sha256', WEBHOOK_SECRET).update(`${ts}.${d.body}`).digest('hex')}`;
    assert.equal(d.headers['x-switchboard-signature'], expected, 'signature verifies');
    assert.deepEqual(Object.keys(d.json), ['bridge']);
    assert.equal(d.json.bridge.requestData, 'port=22');
    assert.match(d.json.bridge.acceptUrl, /\/bridge\/accept\?bridgeToken=[A-Za-z0-9_-]+$/);
    r.ws.destroy();
  });

  test('a decline in a 2xx body closes the requester with 4403', async () => {
    const r = await openRequester(server.port, connectTarget('decline-dev'));
    assert.deepEqual(await rawClose(r.ws), { code: 4403, reason: 'declined: maintenance' });
  });

  test('a 500, a redirect (not followed) and a timeout are not deliveries: 4404 after one retry', async () => {
    for (const id of ['fail-dev', 'redirect-dev', 'slow-dev']) {
      const started = Date.now();
      const r = await openRequester(server.port, connectTarget(id));
      assert.deepEqual(await rawClose(r.ws, 4000), { code: 4404, reason: 'device not reachable' }, id);
      assert.equal(attempts.get(id), 2, `${id}: the first attempt and one retry`);
      if (id === 'slow-dev') assert.ok(Date.now() - started < 3500, 'webhook timeout 1s per attempt');
    }
    assert.equal(redirectHits, 0, 'the redirect was not followed');
  });

  test('a retry that succeeds delivers the bridge', async () => {
    const r = await openRequester(server.port, connectTarget('flaky-dev'));
    r.ws.sendFrame(OP.BINARY, Buffer.from('again'));
    assert.equal((await readRaw(r.ws, 10)).data.toString(), 'echo:again');
    assert.equal(attempts.get('flaky-dev'), 2);
    r.ws.destroy();
  });

  test('a control channel comes before the webhook', async () => {
    const count = deliveries.length;
    const channel = await openControlChannel(server.port, 'fail-but-online');
    const r = await openRequester(server.port, connectTarget('fail-but-online'));
    assert.ok((await nextNotification(channel)).bridge);
    assert.equal(deliveries.length, count, 'no webhook call when the channel delivered');
    r.ws.destroy();
    channel.ws.close();
  });
});

describe('https webhook', () => {
  let dir;
  const certs = {};
  const receivers = [];

  // An https receiver that accepts every bridge it is told about.
  async function receiver(cert) {
    const hits = [];
    const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        hits.push(req.url);
        res.end();
        const device = await acceptBridge(JSON.parse(Buffer.concat(chunks)).bridge.acceptUrl);
        device.ws.send(Buffer.from('over tls'));
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    receivers.push(server);
    return { port: server.address().port, hits };
  }

  async function relay(name, url, caFile) {
    const webhook = { url, secret: WEBHOOK_SECRET, timeout: '2s' };
    if (caFile) webhook.ca_file = caFile;
    return startServer({ name, config: { bridge: bridgeConfig({ webhook }) } });
  }

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-tls-'));
    certs.good = selfSignedCertificate(dir, 'good', 'IP:127.0.0.1,DNS:localhost');
    certs.wrongName = selfSignedCertificate(dir, 'wrong-name', 'DNS:not-this-host.example');
  });
  after(() => {
    for (const r of receivers) r.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a receiver whose certificate is trusted through ca_file gets the notification', async () => {
    const r = await receiver(certs.good);
    const server = await relay('bridge-https', `https://127.0.0.1:${r.port}/hook/{deviceId}`, certs.good.file);
    try {
      const requester = await openRequester(server.port, connectTarget('tls-dev'));
      assert.equal((await readRaw(requester.ws, 8)).data.toString(), 'over tls');
      assert.deepEqual(r.hits, ['/hook/tls-dev']);
      requester.ws.destroy();
    } finally {
      await stopServer(server, assert);
    }
  });

  test('an untrusted certificate or one for another host name is not a delivery: 4404', async () => {
    const untrusted = await receiver(certs.good);
    const wrongName = await receiver(certs.wrongName);
    for (const [name, port, caFile] of [['untrusted', untrusted.port, undefined], ['wrong-name', wrongName.port, certs.wrongName.file]]) {
      const server = await relay(`bridge-https-${name}`, `https://127.0.0.1:${port}/hook`, caFile);
      try {
        const requester = await openRequester(server.port, connectTarget('tls-dev'));
        assert.deepEqual(await rawClose(requester.ws, 5000), { code: 4404, reason: 'device not reachable' }, name);
        await eventually(() => /webhook for device 'tls-dev' not delivered: TLS handshake failed/.test(server.recentLog()),
          3000, `the ${name} TLS failure in the log`);
      } finally {
        await stopServer(server, assert);
      }
    }
    assert.deepEqual([untrusted.hits, wrongName.hits], [[], []], 'no request reached either receiver');
  });
});

describe('pending-bridge limits', () => {
  let server;
  before(async () => {
    server = await startServer({
      name: 'bridge-limits',
      config: { bridge: bridgeConfig({ max_pending_per_device: 2, max_pending: 3 }) },
    });
  });
  after(async () => { await stopServer(server, assert); });

  test('per device 429, then global 503; a slot frees when a bridge leaves', async () => {
    const a = await openControlChannel(server.port, 'dev-a');
    const b = await openControlChannel(server.port, 'dev-b');
    const open = (id) => openRequester(server.port, connectTarget(id));
    const a1 = await open('dev-a');
    const a2 = await open('dev-a');
    assert.deepEqual([a1.status, a2.status], [101, 101]);
    const a3 = await open('dev-a');
    assert.equal(a3.status, 429);
    const b1 = await open('dev-b');
    assert.equal(b1.status, 101);
    const b2 = await open('dev-b');
    assert.equal(b2.status, 503);
    const status = await (await fetch(`http://127.0.0.1:${server.port}/api/status`)).json();
    assert.deepEqual(status.bridge, { devices: 2, pending: 3, active: 0 });
    const note = await nextNotification(a);
    await acceptBridge(note.bridge.acceptUrl);
    const a4 = await open('dev-a');
    assert.equal(a4.status, 101, 'an accepted bridge no longer counts');
    for (const r of [a1, a2, b1, a4]) r.ws.destroy();
    a.ws.close();
    b.ws.close();
  });
});

describe('shutdown', () => {
  test('waiting requesters and control channels get 1001 going away, active bridges after the grace', async () => {
    const server = await startServer({ name: 'bridge-shutdown', config: { shutdown_grace: '500ms', bridge: bridgeConfig() } });
    const channel = await openControlChannel(server.port, 'dev-s');
    const active = await openRequester(server.port, connectTarget('dev-s'));
    const device = await acceptBridge((await nextNotification(channel)).bridge.acceptUrl);
    const waiting = await openRequester(server.port, connectTarget('dev-s'));
    await nextNotification(channel);
    const stopped = server.stop();
    assert.deepEqual(await rawClose(waiting.ws), { code: 1001, reason: 'going away' });
    const closed = await channel.inbox.next(5000, 'the channel close');
    assert.deepEqual([closed.type, closed.code, closed.reason], ['close', 1001, 'going away']);
    active.ws.sendFrame(OP.BINARY, Buffer.from('still flowing'));
    assert.equal((await readStream(device.inbox, 13)).data.toString(), 'still flowing', 'the bridge drains during the grace');
    assert.deepEqual(await rawClose(active.ws), { code: 1001, reason: 'going away' });
    active.ws.sendClose(1001);
    const deviceClosed = await device.inbox.next(5000, 'the device close');
    assert.deepEqual([deviceClosed.type, deviceClosed.code, deviceClosed.reason], ['close', 1001, 'going away']);
    const result = await stopped;
    assert.equal(result.code, 0);
  });
});

describe('start-up', () => {
  test('one secret for two purposes: the server refuses to start', () => {
    const secret = 'the-same-secret-used-twice-0123456789';
    for (const args of [
      ['--bridge-api-key', secret, '--bridge-device-key-secret', secret],
      ['--bridge-device-key-secret', secret, '--bridge-webhook-url', 'http://127.0.0.1:9/x', '--bridge-webhook-secret', secret],
      ['--sas-key', `Rule=${secret}`, '--bridge-api-key', secret],
    ]) {
      const r = spawnSync(SERVER_BIN, ['serve', '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}`);
      assert.match(r.stdout + r.stderr, /use a different secret for each purpose/);
    }
    const short = spawnSync(SERVER_BIN, ['serve', '--listen', '127.0.0.1:0', '--bridge-device-key-secret', 'short'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(short.status, 2);
    assert.match(short.stdout + short.stderr, /at least 32 bytes/);
  });
});
