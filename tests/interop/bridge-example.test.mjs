// The README's bridge example (examples/bridge): device.js and requester.js carry a TCP stream
// through Switchboard, checksummed both ways, with half-close, as a user would run them.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { API_KEY, DEVICE_SECRET, bridgeConfig } from './lib/bridge.mjs';
import { INTEROP_DIR, REPO_DIR, SERVER_BIN, startServer, stopServer } from './lib/server.mjs';

const EXAMPLE_DIR = path.join(REPO_DIR, 'examples', 'bridge');
const SIZE = 32 * 1024 * 1024;

let server;
let service;
const children = [];

// Starts an example script; resolves with the match once its output matches `ready`.
function run(script, args, ready) {
  const child = spawn(process.execPath, [path.join(EXAMPLE_DIR, script), ...args], {
    env: { ...process.env, NODE_PATH: path.join(INTEROP_DIR, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready: ${output}`)), 10_000);
    const onData = (chunk) => {
      output += chunk;
      const m = ready.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${output}`)));
  });
}

before(async () => {
  server = await startServer({ name: 'bridge-example', config: { bridge: bridgeConfig() } });
  // An SSH-like service: reads the client's whole stream, then answers with its digest and a
  // stream of its own, and ends.
  service = net.createServer({ allowHalfOpen: true }, (socket) => {
    const hash = crypto.createHash('sha256');
    socket.on('data', (chunk) => hash.update(chunk));
    socket.on('end', () => {
      socket.write(hash.digest());
      const reply = crypto.createHash('sha256');
      let sent = 0;
      const more = () => {
        while (sent < SIZE) {
          const chunk = crypto.randomBytes(64 * 1024);
          reply.update(chunk);
          sent += chunk.length;
          if (!socket.write(chunk)) return socket.once('drain', more);
        }
        socket.end(reply.digest());
      };
      more();
    });
  });
  await new Promise((resolve) => service.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  for (const child of children) child.kill();
  service?.close();
  await stopServer(server, assert);
});

test('device.js and requester.js carry a checksummed TCP stream with half-close', async (t) => {
  const relay = `ws://127.0.0.1:${server.port}`;
  const key = execFileSync(SERVER_BIN, ['device-key', 'my-device', '--secret', DEVICE_SECRET], { encoding: 'utf8' }).trim();
  await run('device.js', [relay, 'my-device', key, `127.0.0.1:${service.address().port}`], /control channel open/);
  const ready = await run('requester.js', [relay, API_KEY, 'my-device', '0', 'port=22'], /127\.0\.0\.1:(\d+) now leads/);
  const localPort = Number(ready[1]);
  assert.ok(localPort, 'the requester printed its port');

  const client = net.connect({ host: '127.0.0.1', port: localPort, allowHalfOpen: true });
  const sent = crypto.createHash('sha256');
  const received = [];
  let receivedBytes = 0;
  client.on('data', (chunk) => { received.push(chunk); receivedBytes += chunk.length; });
  const ended = new Promise((resolve, reject) => { client.on('end', resolve); client.on('error', reject); });
  await new Promise((resolve) => client.once('connect', resolve));
  const started = process.hrtime.bigint();
  for (let off = 0; off < SIZE; off += 64 * 1024) {
    const chunk = crypto.randomBytes(64 * 1024);
    sent.update(chunk);
    if (!client.write(chunk)) await new Promise((r) => client.once('drain', r));
  }
  client.end();  // half-close: the reply still comes back
  await ended;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.diagnostic(`${(2 * SIZE / 1048576 / seconds).toFixed(0)} MiB/s through TCP -> requester.js -> relay -> device.js -> TCP and back (${seconds.toFixed(2)} s)`);
  const all = Buffer.concat(received);
  assert.equal(all.length, 32 + SIZE + 32, `received ${receivedBytes} bytes`);
  assert.ok(all.subarray(0, 32).equals(sent.digest()), 'the service received exactly what was sent');
  const replyHash = crypto.createHash('sha256').update(all.subarray(32, 32 + SIZE)).digest();
  assert.ok(all.subarray(32 + SIZE).equals(replyHash), 'the reply arrived intact');
});
