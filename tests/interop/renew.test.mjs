// Token expiry and renewToken on control channels (sections 2.7, 3.3, 3.5.4), with token_grace 1 s.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createToken, openControl, relayThrough, sleep } from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'renew', config: { hybrid: { token_grace: '1s' } } }); });
after(async () => { await stopServer(server, assert); });

const seOf = (token) => Number(/&se=(\d+)/.exec(token)[1]);


test('control channel is closed 1008 "The token has expired." after se + grace; its relays live on', { timeout: 20_000 }, async (t) => {
  const entity = 'expiring';
  const token = createToken(server.port, entity, { seconds: 2 });
  const opened = Date.now();
  const control = await openControl(server.port, entity, { token });
  t.after(() => control.ws.terminate());
  const { sender, leg } = await relayThrough(t, server.port, control, entity);

  const closed = await control.closed(6000);
  const at = Date.now();
  t.diagnostic(`closed ${at - opened} ms after open; se + grace was ${(seOf(token) + 1) * 1000 - opened} ms after open`);
  assert.equal(closed.code, 1008);
  assert.ok(closed.reason.startsWith('The token has expired.'), closed.reason);
  // Not before the token expired (section 2.7: now > se + token_grace).
  assert.ok(at >= seOf(token) * 1000, `closed at ${at}, before se ${seOf(token) * 1000}`);

  // Section 2.7: expiry never affects established relays.
  sender.ws.send('after expiry');
  assert.equal(String((await leg.next()).data), 'after expiry');
  leg.ws.send('back');
  assert.equal(String((await sender.next()).data), 'back');
});

test('renewToken before expiry keeps the control channel open and working', { timeout: 20_000 }, async (t) => {
  const entity = 'renewing';
  const control = await openControl(server.port, entity, { token: createToken(server.port, entity, { seconds: 2 }) });
  t.after(() => control.ws.terminate());
  await sleep(500);
  assert.equal(control.state.closed, null, 'closed before the token expired');
  control.ws.send(JSON.stringify({ renewToken: { token: createToken(server.port, entity) } }));

  await sleep(5500);
  assert.equal(control.state.closed, null, `closed after renewal: ${JSON.stringify(control.state.closed)}`);
  assert.equal(control.messages.length, 0, 'renewToken gets no reply (section 3.5.4)');

  const { sender, leg } = await relayThrough(t, server.port, control, entity);
  sender.ws.send('renewed');
  assert.equal(String((await leg.next()).data), 'renewed');
});

test('a rejected renewToken closes the control channel with 1008', { timeout: 15_000 }, async (t) => {
  const entity = 'renew-rejected';
  const control = await openControl(server.port, entity);
  t.after(() => control.ws.terminate());
  control.ws.send(JSON.stringify({ renewToken: { token: createToken(server.port, entity, { key: 'not-the-key' }) } }));
  const closed = await control.closed(5000);
  assert.equal(closed.code, 1008);
  // Section 3.3: "renewToken rejected: {401/403 text}".
  assert.ok(closed.reason.startsWith('renewToken rejected'), closed.reason);
});
