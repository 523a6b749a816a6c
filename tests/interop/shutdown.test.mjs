// SIGTERM (section 3.3; configuration.md shutdown_grace): control channels get 1001, relays drain
// for the grace period and then get 1001, and the process exits 0. Each test has its own server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openControl, relayThrough, withTimeout } from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';

async function ownServer(t, name, config) {
  const server = await startServer({ name, config });
  t.after(async () => {
    if (server.isAlive()) await stopServer(server, assert);
  });
  return server;
}

async function exitWithin(server, ms) {
  return withTimeout(server.exited, ms, 'the server to exit after SIGTERM');
}

test('SIGTERM closes a control channel with 1001 "Server shutting down." and exits 0', { timeout: 30_000 }, async (t) => {
  const server = await ownServer(t, 'shutdown-control');
  const control = await openControl(server.port, 'going-away');
  t.after(() => control.ws.terminate());

  server.proc.kill('SIGTERM');
  const closed = await control.closed(5000);
  assert.equal(closed.code, 1001, `control channel close ${closed.code} ${closed.reason}`);
  assert.ok(closed.reason.startsWith('Server shutting down.'), closed.reason);
  assert.deepEqual(await exitWithin(server, 15_000), { code: 0, signal: null }, 'exit status after SIGTERM');
});

test('SIGTERM lets a relay drain for shutdown_grace, then closes both legs with 1001', { timeout: 30_000 }, async (t) => {
  const server = await ownServer(t, 'shutdown-relay', { shutdown_grace: '2s' });
  const entity = 'draining';
  const control = await openControl(server.port, entity);
  t.after(() => control.ws.terminate());
  const { sender, leg } = await relayThrough(t, server.port, control, entity);

  const signalled = Date.now();
  server.proc.kill('SIGTERM');
  assert.equal((await control.closed(5000)).code, 1001, 'control channel');

  // configuration.md: relayed connections may drain during shutdown_grace.
  sender.ws.send('draining');
  assert.equal(String((await leg.next(1500)).data), 'draining');
  leg.ws.send('still');
  assert.equal(String((await sender.next(1500)).data), 'still');

  const [s, l] = await Promise.all([sender.closed(10_000), leg.closed(10_000)]);
  t.diagnostic(`relay legs closed ${Date.now() - signalled} ms after SIGTERM (grace 2 s)`);
  assert.equal(s.code, 1001, 'sender leg');
  assert.equal(l.code, 1001, 'listener leg');
  assert.deepEqual(await exitWithin(server, 15_000), { code: 0, signal: null }, 'exit status after SIGTERM');
});
