// Bridge helpers (bridge.md): requesters as raw WebSockets (so they can send what the .NET client
// sends: one binary message that never ends), devices as Node `ws` clients, and raw HTTP for
// byte-exact refusals. Every wait has a timeout.
import crypto from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';
import { OP, rawUpgrade } from './rawws.mjs';

export const API_KEY = 'requester-api-key-for-the-interop-tests';
export const DEVICE_SECRET = 'device-key-secret-for-the-interop-tests-0123';
export const TABLE_DEVICE = 'table-device';
export const TABLE_DEVICE_KEY = 'table-device-key-for-the-interop-tests';
export const URL_SIGNING_KEY = 'url-signing-key-for-the-interop-tests-0123';

// Section 7.3, derived mode, computed here independently of the server.
export function deviceKey(deviceId, secret = DEVICE_SECRET) {
  return crypto.createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from('switchboard-device-key-v1\0'), Buffer.from(deviceId, 'utf8')]))
    .digest('base64url');
}

export function bridgeConfig(extra = {}) {
  return {
    api_keys: [API_KEY],
    device_key_secret: DEVICE_SECRET,
    url_signing_keys: [URL_SIGNING_KEY],
    device_keys: { [TABLE_DEVICE]: TABLE_DEVICE_KEY },
    ...extra,
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]);
}

// A queue of events from a `ws` socket: messages as Buffers (isBinary kept) and the close.
class Inbox {
  constructor(ws) {
    this.items = [];
    this.waiters = [];
    ws.on('message', (data, isBinary) => this.push({ type: 'message', data: Buffer.from(data), isBinary }));
    ws.on('close', (code, reason) => this.push({ type: 'close', code, reason: reason.toString() }));
    ws.on('error', () => {});
  }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  next(ms = 5000, what = 'a message') {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, what);
  }
}

// A device's control channel; resolves { ws, inbox } once open.
export async function openControlChannel(port, deviceId, { key = deviceKey(deviceId), bearer = false } = {}) {
  const headers = bearer ? { Authorization: `Bearer ${key}` } : { 'X-Device-Key': key };
  const ws = new WebSocket(`ws://127.0.0.1:${port}/bridge/device/${encodeURIComponent(deviceId)}`,
    { headers, perMessageDeflate: false });
  const inbox = new Inbox(ws);
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_, res) => reject(new Error(`control channel refused: ${res.statusCode}`)));
    ws.once('error', reject);
  }), 5000, 'the control channel to open');
  return { ws, inbox };
}

// The next JSON message on a control channel.
export async function nextNotification(channel, ms = 5000) {
  const item = await channel.inbox.next(ms, 'a notification on the control channel');
  if (item.type !== 'message') throw new Error(`control channel ${item.type}: ${item.code} ${item.reason}`);
  return JSON.parse(item.data.toString('utf8'));
}

// The device's data socket on acceptUrl: resolves { ws, inbox } once open.
export async function acceptBridge(acceptUrl) {
  const ws = new WebSocket(acceptUrl, { perMessageDeflate: false });
  const inbox = new Inbox(ws);
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_, res) => reject(new Error(`accept refused: ${res.statusCode}`)));
    ws.once('error', reject);
  }), 5000, 'the accept socket to open');
  return { ws, inbox };
}

// Reads a device's stream until `n` bytes or EOF (a zero-length message); resolves
// { data, eof, messages }.
export async function readStream(inbox, n, ms = 10_000) {
  const parts = [];
  let size = 0;
  let messages = 0;
  const deadline = Date.now() + ms;
  while (size < n) {
    const item = await inbox.next(Math.max(1, deadline - Date.now()), `${n - size} more bytes`);
    if (item.type === 'close') throw new Error(`closed after ${size} bytes: ${item.code} ${item.reason}`);
    messages += 1;
    if (item.data.length === 0) return { data: Buffer.concat(parts), eof: true, messages };
    parts.push(item.data);
    size += item.data.length;
  }
  return { data: Buffer.concat(parts), eof: false, messages };
}

export function connectTarget(deviceId, requestData) {
  let target = `/bridge/connect?deviceId=${encodeURIComponent(deviceId)}`;
  if (requestData !== undefined) target += `&requestData=${encodeURIComponent(requestData)}`;
  return target;
}

// A requester on `target` (raw WebSocket); resolves rawUpgrade's result.
export function openRequester(port, target, { apiKey = API_KEY, headers = [] } = {}) {
  const auth = apiKey === null ? [] : [['X-Api-Key', apiKey]];
  return rawUpgrade(`ws://127.0.0.1:${port}${target}`, { headers: [...auth, ...headers] });
}

// Reads a raw requester's stream: data frames' payloads until `n` bytes or a zero-length frame.
// Checks that the server sends complete binary messages (bridge section 9.2 D3).
export async function readRaw(ws, n, ms = 10_000) {
  const parts = [];
  let size = 0;
  const deadline = Date.now() + ms;
  while (size < n) {
    const f = await ws.nextFrame(Math.max(1, deadline - Date.now()));
    if (f.opcode === OP.PING) { ws.sendFrame(OP.PONG, f.payload); continue; }
    if (f.opcode === OP.PONG) continue;
    if (f.opcode === OP.CLOSE) throw new Error(`closed after ${size} bytes: ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : ''}`);
    if (f.opcode !== OP.BINARY || !f.fin) throw new Error(`expected complete binary messages, got opcode ${f.opcode} fin ${f.fin}`);
    if (f.payload.length === 0) return { data: Buffer.concat(parts), eof: true };
    parts.push(f.payload);
    size += f.payload.length;
  }
  return { data: Buffer.concat(parts), eof: false };
}

// The next Close on a raw socket: { code, reason }.
export async function rawClose(ws, ms = 5000) {
  const m = await ws.readMessage(ms);
  if (m.type !== 'close') throw new Error(`expected a Close, got ${m.type} (${m.data?.length} bytes)`);
  return { code: m.code, reason: m.reason };
}

// The complete raw response to one request (an upgrade by default), for byte comparisons.
export function rawResponse(port, target, { headers = [], upgrade = true, ms = 5000 } = {}) {
  const lines = [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  if (upgrade) {
    lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`);
  }
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    socket.on('data', (c) => {
      chunks.push(c);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      if (!length || text.length >= end + 4 + Number(length[1])) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  }), ms, `the response to ${target}`);
}

export function statusOf(raw) {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
}

// Waits until `predicate()` holds, polling.
export async function eventually(predicate, ms = 5000, what = 'a condition') {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
