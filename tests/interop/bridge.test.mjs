// Bridge (bridge.md): requesters playing the .NET WebSocketBridgeClient (raw frames), devices as
// Node `ws` clients on the control channel and the accept URL.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  API_KEY, TABLE_DEVICE, TABLE_DEVICE_KEY, acceptBridge, bridgeConfig, connectTarget, deviceKey,
  eventually, nextNotification, openControlChannel, openRequester, rawClose, rawResponse, readRaw,
  readStream, statusOf,
} from './lib/bridge.mjs';
import { OP } from './lib/rawws.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
let port;

before(async () => {
  server = await startServer({
    name: 'bridge',
    // 20 concurrent bridges to one device may all be pending at once.
    config: { bridge: bridgeConfig({ accept_timeout: '2s', max_pending_per_device: 32 }) },
  });
  port = server.port;
});

after(async () => {
  await stopServer(server, assert);
});

const channels = [];
async function control(deviceId, opts) {
  const channel = await openControlChannel(port, deviceId, opts);
  channels.push(channel);
  return channel;
}
after(() => { for (const c of channels) c.ws.terminate(); });

// A requester on deviceId whose bridge the device accepts: { requester, device, notification }.
async function bridged(channel, deviceId, { requestData, early } = {}) {
  const r = await openRequester(port, connectTarget(deviceId, requestData));
  assert.equal(r.status, 101, `requester upgrade: ${r.status} ${r.statusMessage}`);
  if (early) early(r.ws);
  const notification = await nextNotification(channel);
  const device = await acceptBridge(notification.bridge.acceptUrl);
  return { requester: r.ws, device, notification };
}

describe('a bridge between a requester and a device', () => {
  test('.NET-shaped streams cross in order and complete, with EOF and half-close', async () => {
    const channel = await control('dev-stream');
    const early = crypto.randomBytes(3000);
    const { requester, device, notification } = await bridged(channel, 'dev-stream', {
      requestData: 'port=22',
      // Sent before the device accepts: the first frame of a binary message that never ends.
      early: (ws) => ws.sendFrame(OP.BINARY, early, { fin: false }),
    });
    assert.equal(notification.bridge.requestData, 'port=22');
    assert.match(notification.bridge.acceptUrl, new RegExp(`^ws://127\\.0\\.0\\.1:${port}/bridge/accept\\?bridgeToken=[A-Za-z0-9_-]{75,159}$`));

    // Requester -> device: continuation frames of the same never-ending message.
    const up = crypto.randomBytes(400 * 1024);
    for (let i = 0; i < up.length; i += 4096) requester.sendFrame(OP.CONT, up.subarray(i, i + 4096), { fin: false });
    // Device -> requester: complete 4 KiB binary messages (WebSocketToStreamConnector).
    const down = crypto.randomBytes(400 * 1024);
    for (let i = 0; i < down.length; i += 4096) device.ws.send(down.subarray(i, i + 4096));

    const got = await readStream(device.inbox, early.length + up.length);
    assert.ok(got.data.equals(Buffer.concat([early, up])), 'the device received every byte in order, early bytes first');
    const back = await readRaw(requester, down.length);
    assert.ok(back.data.equals(down), 'the requester received every byte in order');

    // Half-close: the requester's EOF (a zero-length frame, still inside its message) reaches
    // the device, which keeps answering.
    requester.sendFrame(OP.CONT, Buffer.alloc(0), { fin: false });
    requester.sendFrame(OP.CONT, Buffer.from('discarded after EOF'), { fin: false });
    const eof = await readStream(device.inbox, 1);
    assert.ok(eof.eof && eof.data.length === 0, 'the device saw EOF and nothing after it');
    device.ws.send(Buffer.from('reply after the requester finished'));
    const reply = await readRaw(requester, 34);
    assert.equal(reply.data.toString(), 'reply after the requester finished');

    // The device's EOF ends the second direction: both sides are closed with 1000 "ok".
    device.ws.send(Buffer.alloc(0));
    const end = await readRaw(requester, 1);
    assert.ok(end.eof, 'the requester saw the device EOF');
    assert.deepEqual(await rawClose(requester), { code: 1000, reason: 'ok' });
    requester.sendClose(1000);
    const closed = await device.inbox.next(5000, 'the device close');
    assert.deepEqual([closed.type, closed.code, closed.reason], ['close', 1000, 'ok']);
  });

  test('a Close in the middle of a message closes both sides with 1000 ok', async () => {
    const channel = await control('dev-close');
    const { requester, device } = await bridged(channel, 'dev-close');
    requester.sendFrame(OP.BINARY, Buffer.from('partial'), { fin: false });
    requester.sendClose(1000, 'done');
    const data = await readStream(device.inbox, 7);
    assert.equal(data.data.toString(), 'partial');
    const closed = await device.inbox.next(5000, 'the device close');
    assert.deepEqual([closed.type, closed.code, closed.reason], ['close', 1000, 'ok']);
    assert.deepEqual(await rawClose(requester), { code: 1000, reason: 'ok' });
  });

  test('a device that vanishes without a Close gives the requester 1011 exception', async () => {
    const channel = await control('dev-vanish');
    const { requester, device } = await bridged(channel, 'dev-vanish');
    device.ws.terminate();
    assert.deepEqual(await rawClose(requester), { code: 1011, reason: 'exception' });
  });

  test('20 concurrent bridges to one device do not mix', async () => {
    const channel = await control('dev-many');
    const n = 20;
    const payloads = Array.from({ length: n }, () => crypto.randomBytes(64 * 1024));
    const requesters = await Promise.all(payloads.map((_, i) => openRequester(port, connectTarget('dev-many', String(i)))));
    for (const r of requesters) assert.equal(r.status, 101);
    const served = [];
    for (let k = 0; k < n; k += 1) {
      const note = await nextNotification(channel);
      const i = Number(note.bridge.requestData);
      served.push((async () => {
        const device = await acceptBridge(note.bridge.acceptUrl);
        const got = await readStream(device.inbox, payloads[i].length);
        // Echo the digest of what arrived, so the requester checks it got its own device leg.
        device.ws.send(crypto.createHash('sha256').update(got.data).digest());
        return device;
      })());
    }
    await Promise.all(requesters.map(async (r, i) => {
      for (let off = 0; off < payloads[i].length; off += 8192) r.ws.sendFrame(OP.BINARY, payloads[i].subarray(off, off + 8192));
      const digest = await readRaw(r.ws, 32);
      assert.ok(digest.data.equals(crypto.createHash('sha256').update(payloads[i]).digest()), `bridge ${i} got its own bytes back`);
    }));
    for (const device of await Promise.all(served)) device.ws.close();
  });
});

describe('the wait for the device', () => {
  test('decline closes the requester with 4403 and the reason', async () => {
    const channel = await control('dev-decline');
    const r = await openRequester(port, connectTarget('dev-decline'));
    assert.equal(r.status, 101);
    const note = await nextNotification(channel);
    assert.equal(note.bridge.requestData, null, 'absent requestData is null');
    const token = new URL(note.bridge.acceptUrl).searchParams.get('bridgeToken');
    channel.ws.send(JSON.stringify({ decline: { bridgeToken: token, reason: 'busy' } }));
    assert.deepEqual(await rawClose(r.ws), { code: 4403, reason: 'declined: busy' });
    const late = await rawResponse(port, `/bridge/accept?bridgeToken=${token}`);
    assert.equal(statusOf(late), 410, 'a declined token is gone');
  });

  test('only the device a bridge is for may decline it', async () => {
    const target = await control('dev-target');
    const other = await control('dev-other');
    const r = await openRequester(port, connectTarget('dev-target'));
    const note = await nextNotification(target);
    const token = new URL(note.bridge.acceptUrl).searchParams.get('bridgeToken');
    other.ws.send(JSON.stringify({ decline: { bridgeToken: token } }));
    other.ws.send('not json');
    other.ws.send(JSON.stringify({ unknown: true }));
    await new Promise((res) => setTimeout(res, 200));
    const device = await acceptBridge(note.bridge.acceptUrl);
    device.ws.send(Buffer.from('still here'));
    assert.equal((await readRaw(r.ws, 10)).data.toString(), 'still here');
    device.ws.close();
  });

  test('no control channel and no webhook: 4404 device not reachable', async () => {
    const r = await openRequester(port, connectTarget('nobody-home'));
    assert.equal(r.status, 101, 'the upgrade happens first, as upstream');
    assert.deepEqual(await rawClose(r.ws), { code: 4404, reason: 'device not reachable' });
  });

  test('no accept within the accept wait: 4408, a cancel to the device, and the token is gone', async () => {
    const channel = await control('dev-slow');
    const r = await openRequester(port, connectTarget('dev-slow'));
    const started = Date.now();
    const note = await nextNotification(channel);
    assert.deepEqual(await rawClose(r.ws, 5000), { code: 4408, reason: 'accept timeout' });
    const waited = Date.now() - started;
    assert.ok(waited > 1500 && waited < 4000, `closed after ${waited} ms (accept_timeout 2s)`);
    const token = new URL(note.bridge.acceptUrl).searchParams.get('bridgeToken');
    assert.deepEqual(await nextNotification(channel), { cancel: { bridgeToken: token, reason: 'timeout' } });
    assert.equal(statusOf(await rawResponse(port, `/bridge/accept?bridgeToken=${token}`)), 410);
  });

  test('a requester that closes while waiting cancels its bridge', async () => {
    const channel = await control('dev-cancel');
    const r = await openRequester(port, connectTarget('dev-cancel'));
    const note = await nextNotification(channel);
    r.ws.sendClose(1000);
    assert.deepEqual(await rawClose(r.ws), { code: 1000, reason: 'ok' });
    const token = new URL(note.bridge.acceptUrl).searchParams.get('bridgeToken');
    assert.deepEqual(await nextNotification(channel), { cancel: { bridgeToken: token, reason: 'requester closed' } });
    assert.equal(statusOf(await rawResponse(port, `/bridge/accept?bridgeToken=${token}`)), 410);
  });

  test('early requester data beyond 64 KiB waits in TCP and still arrives whole', async () => {
    const channel = await control('dev-early');
    const early = crypto.randomBytes(1024 * 1024);
    const { device } = await bridged(channel, 'dev-early', {
      early: (ws) => { for (let i = 0; i < early.length; i += 65536) ws.sendFrame(OP.BINARY, early.subarray(i, i + 65536)); },
    });
    const got = await readStream(device.inbox, early.length);
    assert.ok(got.data.equals(early));
    device.ws.close();
  });
});

describe('tokens', () => {
  test('a token works once: the second accept gets 410', async () => {
    const channel = await control('dev-once');
    const { device, notification } = await bridged(channel, 'dev-once');
    const token = new URL(notification.bridge.acceptUrl).searchParams.get('bridgeToken');
    assert.equal(statusOf(await rawResponse(port, `/bridge/accept?bridgeToken=${token}`)), 410);
    device.ws.close();
  });

  test('forged, edited, truncated and malformed tokens all get one identical 400', async () => {
    const channel = await control('dev-forge');
    const r = await openRequester(port, connectTarget('dev-forge'));
    const note = await nextNotification(channel);
    const token = new URL(note.bridge.acceptUrl).searchParams.get('bridgeToken');
    const flip = (i) => token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    const bad = [
      '', 'x', token.slice(0, -1), token.slice(0, 40), `${token}A`, `${token}=`, flip(0), flip(1), flip(5),
      flip(30), flip(token.length - 1),
      // Characters of the standard base64 alphabet, outside base64url's.
      `+${token.slice(1)}`, `${token.slice(0, 10)}/${token.slice(11)}`,
      // Upstream's forged CBC token of bridge.md section 4 (an IP edited into the IV).
      'AAECAwQCGB8XERYTECEPDu2kb2ydYxaMVnloBkyd9OQ',
      // Section 5.4's test vector: well-formed, sealed with a key this server does not have.
      'AQCgoaKjpKWmp6ipqqvmGH22MxGqv2J0peBDL6ap-DXzq15qrJOaYEniGoYU7TIBgX95cQH_tN67eHK1ow',
    ];
    const normalise = (raw) => raw.replace(/\r\nDate: [^\r]*/i, '');
    const responses = [];
    for (const t of bad) responses.push(normalise(await rawResponse(port, `/bridge/accept?bridgeToken=${encodeURIComponent(t)}`)));
    responses.push(normalise(await rawResponse(port, '/bridge/accept')));
    assert.equal(statusOf(responses[0]), 400);
    for (const [i, resp] of responses.entries()) assert.equal(resp, responses[0], `response ${i} differs`);
    // None of them burned the real token.
    const device = await acceptBridge(note.bridge.acceptUrl);
    device.ws.send(Buffer.from('ok'));
    assert.equal((await readRaw(r.ws, 2)).data.toString(), 'ok');
    device.ws.close();
  });
});

describe('signed URLs', () => {
  async function signedUrl(query, apiKey = API_KEY) {
    const res = await fetch(`http://127.0.0.1:${port}/bridge/getSignedUrl?${query}`, { headers: apiKey ? { 'X-Api-Key': apiKey } : {} });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  }

  test('getSignedUrl returns a connectSigned URL that bridges, more than once', async () => {
    const res = await signedUrl('deviceId=dev%20signed&requestData=port%3D22');
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain; charset=utf-8');
    assert.match(res.body, new RegExp(`^ws://127\\.0\\.0\\.1:${port}/bridge/connectSigned\\?deviceId=dev%20signed&requestData=port%3D22&expirationUtc=\\d{4}-\\d\\d-\\d\\dT\\d\\d%3A\\d\\d%3A\\d\\d\\.\\d{7}Z&signature=[A-Za-z0-9_-]{43}$`));
    const expires = Date.parse(decodeURIComponent(/expirationUtc=([^&]*)/.exec(res.body)[1]));
    assert.ok(Math.abs(expires - (Date.now() + 15 * 60_000)) < 60_000, 'default lifetime 15 min');
    const channel = await control('dev signed');
    for (let round = 0; round < 2; round += 1) {
      const ws = new WebSocket(res.body, { perMessageDeflate: false });
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      const note = await nextNotification(channel);
      assert.equal(note.bridge.requestData, 'port=22');
      const device = await acceptBridge(note.bridge.acceptUrl);
      ws.send('from a browser-like requester');
      assert.equal((await readStream(device.inbox, 29)).data.toString(), 'from a browser-like requester');
      ws.close();
      device.ws.close();
    }
  });

  test('tampering with any part of a signed URL gets 400; a past expiry too', async () => {
    const res = await signedUrl('deviceId=dev-t&requestData=a');
    const target = res.body.replace(/^ws:\/\/[^/]+/, '');
    const tampered = [
      target.replace('deviceId=dev-t', 'deviceId=dev-u'),
      target.replace('requestData=a', 'requestData=b'),
      target.replace('&requestData=a', ''),
      target.replace(/expirationUtc=(\d{4})/, (_, y) => `expirationUtc=${Number(y) + 1}`),
      target.replace(/signature=./, 'signature=A'),
      target.replace(/&signature=.*$/, ''),
    ];
    for (const t of tampered) assert.equal(statusOf(await rawResponse(port, t)), 400, t);
    assert.equal(statusOf(await rawResponse(port, target)), 101, 'the untouched URL still works');
    const past = await signedUrl(`deviceId=dev-t&expirationUtc=${encodeURIComponent(new Date(Date.now() - 1000).toISOString())}`);
    assert.equal(past.status, 400);
    const tooFar = await signedUrl(`deviceId=dev-t&expirationUtc=${encodeURIComponent(new Date(Date.now() + 25 * 3600_000).toISOString())}`);
    assert.equal(tooFar.status, 400);
    const offset = await signedUrl('deviceId=dev-t&expirationUtc=2099-01-01T01:00:00%2B01:00');
    assert.equal(offset.status, 400, 'beyond 24 h');
    const short = await signedUrl(`deviceId=dev-t&expirationUtc=${encodeURIComponent(new Date(Date.now() + 1500).toISOString())}`);
    assert.equal(short.status, 200);
    await new Promise((r) => setTimeout(r, 1700));
    assert.equal(statusOf(await rawResponse(port, short.body.replace(/^ws:\/\/[^/]+/, ''))), 400, 'expired signed URL');
    assert.equal((await signedUrl('deviceId=dev-t', null)).status, 401);
    assert.equal((await signedUrl('deviceId=dev-t', 'wrong-key')).status, 401);
    assert.equal((await signedUrl('requestData=x')).status, 400);
  });
});

describe('pre-upgrade checks and the control channel', () => {
  test('statuses in the order of section 2', async () => {
    const cases = [
      ['/bridge/connect?deviceId=d', { upgrade: false, headers: [['X-Api-Key', API_KEY]] }, 426],
      ['/bridge/accept?bridgeToken=x', { upgrade: false }, 426],
      ['/bridge/device/d', { upgrade: false }, 426],
      ['/bridge/connect?deviceId=d', {}, 401],
      ['/bridge/connect?deviceId=d', { headers: [['X-Api-Key', 'not-a-key']] }, 401],
      ['/bridge/connect', { headers: [['X-Api-Key', API_KEY]] }, 400],
      ['/bridge/connect?deviceId=', { headers: [['X-Api-Key', API_KEY]] }, 400],
      [`/bridge/connect?deviceId=${'d'.repeat(257)}`, { headers: [['X-Api-Key', API_KEY]] }, 400],
      ['/bridge/connect?deviceId=a%0Ab', { headers: [['X-Api-Key', API_KEY]] }, 400],
      [`/bridge/connect?deviceId=d&requestData=${'x'.repeat(8193)}`, { headers: [['X-Api-Key', API_KEY]] }, 400],
      ['/bridge/nothing', {}, 404],
      ['/bridge', { upgrade: false }, 404],
    ];
    for (const [target, opts, status] of cases) {
      const raw = await rawResponse(port, target, opts);
      assert.equal(statusOf(raw), status, `${target}: ${raw.split('\r\n')[0]}`);
      if (status === 426) assert.match(raw, /\r\nUpgrade: websocket\r\n/i);
    }
    // Names match case-insensitively; values are form-decoded.
    const channel = await control('dev case');
    const r = await openRequester(port, '/BRIDGE/Connect?DEVICEID=dev+case&requestdata=%41');
    assert.equal(r.status, 101);
    assert.equal((await nextNotification(channel)).bridge.requestData, 'A');
    r.ws.destroy();
  });

  test('device keys: derived, table, Bearer; wrong or unknown keys get 401', async () => {
    const key = deviceKey('dev-keys');
    const refused = [
      ['/bridge/device/dev-keys', []],
      ['/bridge/device/dev-keys', [['X-Device-Key', `${key}x`]]],
      ['/bridge/device/dev-other', [['X-Device-Key', key]]],
      [`/bridge/device/${TABLE_DEVICE}`, [['X-Device-Key', 'wrong']]],
      ['/bridge/device/unknown-table-device', [['X-Device-Key', TABLE_DEVICE_KEY]]],
      ['/bridge/device/dev-keys', [['Authorization', `Basic ${key}`]]],
    ];
    for (const [target, headers] of refused) assert.equal(statusOf(await rawResponse(port, target, { headers })), 401, target);
    const bearer = await control('dev-keys', { bearer: true });
    const table = await control(TABLE_DEVICE, { key: TABLE_DEVICE_KEY });
    const r = await openRequester(port, connectTarget(TABLE_DEVICE));
    assert.ok((await nextNotification(table)).bridge.acceptUrl);
    r.ws.destroy();
    bearer.ws.close();
  });

  test('a newer control channel supersedes the older with 4409; a binary frame gets 1003', async () => {
    const first = await control('dev-twice');
    const second = await control('dev-twice');
    const closed = await first.inbox.next(5000, 'the superseded close');
    assert.deepEqual([closed.type, closed.code, closed.reason], ['close', 4409, 'superseded']);
    const r = await openRequester(port, connectTarget('dev-twice'));
    assert.ok((await nextNotification(second)).bridge, 'the newer channel gets notifications');
    r.ws.destroy();
    assert.equal((await nextNotification(second)).cancel.reason, 'requester closed');
    second.ws.send(Buffer.from([1, 2, 3]));
    const text = await second.inbox.next(5000, 'the text-only close');
    assert.deepEqual([text.type, text.code, text.reason], ['close', 1003, 'text only']);
    await eventually(() => server.isAlive(), 1000, 'the server to stay up');
  });
});
