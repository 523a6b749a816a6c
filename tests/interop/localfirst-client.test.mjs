// The real @localfirst/relay 4.2.2 Client, unmodified, against Switchboard's localfirst service
// (shared/protocols/localfirst.md sections 4 to 6): introductions, pairing, messages through pipes,
// leave, server restart, a peer vanishing mid-introduction, messages sent before the partner dials.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  QUIET_MS, SHUTDOWN_GRACE, expectQuiet, getLocalfirst, hex, openIntro, openPipe, pingRoundTrip, sleep, startClient, uid, waitAllConnected, waitForPeer,
  waitForSet,
} from './lib/localfirst.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'localfirst-client', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: {} } }); });
after(async () => { await stopServer(server, assert); });

const text = (m) => (m.binary ? `<binary ${hex(m.data)}>` : m.data);

test('two Clients joining a document are introduced and exchange text and binary both ways', { timeout: 20_000 }, async (t) => {
  const doc = uid('doc');
  const alice = startClient(t, server.port, { peerId: uid('alice'), documentIds: [doc] });
  const bob = startClient(t, server.port, { peerId: uid('bob'), documentIds: [doc] });
  await Promise.all([alice.waitServerConnect(), bob.waitServerConnect()]);

  // Each Client emits peer-connect when its own pipe opens; once both have, the pair exists.
  const ab = await alice.waitPeer(bob.peerId, doc);
  const ba = await bob.waitPeer(alice.peerId, doc);

  ab.socket.send('hello from alice \u2603');
  const m1 = await bob.nextMessage(ba);
  assert.deepEqual(m1, { binary: false, data: 'hello from alice \u2603' }, 'bob receives alice\'s text as text');

  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  ba.socket.send(bytes);
  const m2 = await alice.nextMessage(ab);
  assert.equal(m2.binary, true, 'alice receives bob\'s binary as binary');
  assert.equal(hex(m2.data), hex(bytes), 'binary bytes unchanged');

  ba.socket.send('hello from bob');
  assert.equal(text(await alice.nextMessage(ab)), 'hello from bob');
  ab.socket.send(new Uint8Array([9, 8, 7]));
  const m4 = await bob.nextMessage(ba);
  assert.equal(m4.binary, true);
  assert.equal(hex(m4.data), '090807');

  // Exactly one pipe per side: repeated introductions do not make the Client dial twice.
  assert.equal(alice.count('peer-connect'), 1, 'alice peer-connect events');
  assert.equal(bob.count('peer-connect'), 1, 'bob peer-connect events');
});

test('five Clients on one document all pair with each other', { timeout: 30_000 }, async (t) => {
  const doc = uid('doc5');
  const clients = Array.from({ length: 5 }, (_, i) => startClient(t, server.port, { peerId: uid(`c${i}`), documentIds: [doc] }));
  await waitAllConnected(clients, doc, 10_000);

  // Every directed pipe carries a message naming its sender and its receiver.
  for (const a of clients) {
    for (const b of clients) {
      if (a === b) continue;
      const p = await a.waitPeer(b.peerId, doc);
      p.socket.send(`${a.peerId}->${b.peerId}`);
    }
  }
  for (const b of clients) {
    for (const a of clients) {
      if (a === b) continue;
      const p = await b.waitPeer(a.peerId, doc);
      const m = await b.nextMessage(p);
      assert.deepEqual(m, { binary: false, data: `${a.peerId}->${b.peerId}` }, `pipe ${b.peerId}<-${a.peerId}`);
    }
  }
  for (const c of clients) {
    assert.equal(c.count('peer-connect'), 4, `${c.peerId}: one pipe per other Client`);
    assert.equal(c.count('peer-disconnect'), 0, `${c.peerId}: no pipe closed`);
  }
});

test('leave closes the pipes of that document and no new introductions follow for it', { timeout: 20_000 }, async (t) => {
  const d1 = uid('leave-d1');
  const d2 = uid('leave-d2');
  const a = startClient(t, server.port, { peerId: uid('la'), documentIds: [d1, d2] });
  const b = startClient(t, server.port, { peerId: uid('lb'), documentIds: [d1, d2] });
  await waitAllConnected([a, b], d1);
  await waitAllConnected([a, b], d2);

  a.client.leave(d1);
  // a closes its d1 pipe; the server closes b's partner socket; b's Client reports it.
  await b.waitPeerDisconnect(a.peerId, d1);
  await waitForSet(server.port, a.peerId, [d2]);

  // The other document's pipe is untouched.
  const ad2 = await a.waitPeer(b.peerId, d2);
  const bd2 = await b.waitPeer(a.peerId, d2);
  ad2.socket.send('still here');
  assert.equal(text(await b.nextMessage(bd2)), 'still here', 'd2 pipe still relays after leaving d1');

  // A newcomer on d1 is introduced to b only.
  const c = startClient(t, server.port, { peerId: uid('lc'), documentIds: [d1] });
  await waitAllConnected([b, c], d1);
  const cb = await c.waitPeer(b.peerId, d1);
  const bc = await b.waitPeer(c.peerId, d1);
  cb.socket.send('c to b');
  assert.equal(text(await b.nextMessage(bc)), 'c to b');
  // Nothing may introduce a and c to each other; an absence needs a bounded window.
  await sleep(QUIET_MS);
  assert.equal(a.count('peer-connect', c.peerId), 0, 'a left d1 and must not be introduced to c');
  assert.equal(c.count('peer-connect', a.peerId), 0, 'c must not be introduced to a, who left d1');
  assert.equal(a.count('peer-connect', b.peerId, d1), 1, 'a must not re-dial b on d1 after leaving');
});

test('server restart: Clients reconnect to a new server on the same port and are introduced again', { timeout: 40_000 }, async (t) => {
  const config = { shutdown_grace: SHUTDOWN_GRACE, localfirst: {} };
  const first = await startServer({ name: 'localfirst-restart-1', config });
  let second = null;
  t.after(async () => {
    if (first.isAlive()) await stopServer(first, assert);
    if (second?.isAlive()) await stopServer(second, assert);
  });
  const doc = uid('restart');
  const a = startClient(t, first.port, { peerId: uid('ra'), documentIds: [doc] });
  const b = startClient(t, first.port, { peerId: uid('rb'), documentIds: [doc] });
  await waitAllConnected([a, b], doc);
  const ab1 = await a.waitPeer(b.peerId, doc);
  const ba1 = await b.waitPeer(a.peerId, doc);
  ab1.socket.send('before restart');
  assert.equal(text(await b.nextMessage(ba1)), 'before restart');

  const pipesBefore = { a: a.pipes.length, b: b.pipes.length };
  await stopServer(first, assert);
  await Promise.all([a.waitServerDisconnect(), b.waitServerDisconnect()]);
  await Promise.all([a.waitPeerDisconnect(b.peerId, doc), b.waitPeerDisconnect(a.peerId, doc)]);

  second = await startServer({ name: 'localfirst-restart-2', listen: `127.0.0.1:${first.port}`, config });
  assert.equal(second.port, first.port, 'second server listens on the first one\'s port');
  // The Client's backoff is still short (10 ms growing by ~1.5x per attempt).
  await Promise.all([a.waitServerConnect(2, 15_000), b.waitServerConnect(2, 15_000)]);
  await waitForSet(second.port, a.peerId, [doc], 5000);
  await waitForSet(second.port, b.peerId, [doc], 5000);

  const ab2 = await a.waitPeer(b.peerId, doc, { after: pipesBefore.a, ms: 8000 });
  const ba2 = await b.waitPeer(a.peerId, doc, { after: pipesBefore.b, ms: 8000 });
  ab2.socket.send('after restart a');
  assert.equal(text(await b.nextMessage(ba2)), 'after restart a');
  ba2.socket.send(Buffer.from('after restart b'));
  const m = await a.nextMessage(ab2);
  assert.equal(m.binary, true);
  assert.equal(m.data.toString('utf8'), 'after restart b');
  await stopServer(second, assert);
});

test('a peer disconnecting mid-introduction: the survivor keeps working and pairs with a third Client', { timeout: 20_000 }, async (t) => {
  const doc = uid('mid');
  const a = startClient(t, server.port, { peerId: uid('ma'), documentIds: [doc] });
  await a.waitServerConnect();
  await waitForSet(server.port, a.peerId, [doc]);

  // b joins; a disconnects the moment b's introduction socket is up, so the server computes the
  // introduction while a's socket is closing (upstream crashed here once: issue #6).
  const b = startClient(t, server.port, { peerId: uid('mb'), documentIds: [doc] });
  b.client.on('server-connect', () => a.client.disconnectServer());
  await b.waitServerConnect();
  await waitForPeer(server.port, a.peerId, false);
  await waitForSet(server.port, b.peerId, [doc]);

  const c = startClient(t, server.port, { peerId: uid('mc'), documentIds: [doc] });
  await waitAllConnected([b, c], doc);
  const bc = await b.waitPeer(c.peerId, doc);
  const cb = await c.waitPeer(b.peerId, doc);
  bc.socket.send('b to c');
  assert.equal(text(await c.nextMessage(cb)), 'b to c');
  cb.socket.send('c to b');
  assert.equal(text(await b.nextMessage(bc)), 'c to b');
  assert.equal(c.count('peer-connect', a.peerId), 0, 'c must not be introduced to the departed a');
  const lf = await getLocalfirst(server.port);
  assert.ok(!lf.peers.includes(a.peerId), `a is no longer registered: ${JSON.stringify(lf.peers)}`);
});

test('messages a Client sends before its partner dials arrive verbatim: binary stays binary, text stays text, in order', { timeout: 20_000 }, async (t) => {
  const doc = uid('early');
  const rawPeer = uid('vb');
  const intro = await openIntro(t, server.port, rawPeer);
  intro.join([doc]);
  await waitForSet(server.port, rawPeer, [doc]);

  // The Client sends from its peer-connect handler, as applications do (section 5.2): its own pipe
  // is open, its partner (the raw peer below) has not dialled.
  const a = startClient(t, server.port, { peerId: uid('va'), documentIds: [doc] });
  const big = Buffer.alloc(300, 0x41);
  a.client.on('peer-connect', ({ socket }) => {
    socket.send(new TextEncoder().encode('early-bin'));
    socket.send('early-text');
    socket.send(big);
  });
  const ap = await a.waitPeer(rawPeer, doc);
  await intro.expectIntro(a.peerId, [doc]);
  // Once the Pong is back the server has read the three messages: they are held (section 5.2).
  await pingRoundTrip(ap.socket, 3000, 'Client pipe');

  const bp = await openPipe(t, server.port, rawPeer, a.peerId, doc);
  const [m1, m2, m3] = await bp.nextN(3);
  assert.deepEqual({ binary: m1.binary, hex: hex(m1.data) }, { binary: true, hex: hex(Buffer.from('early-bin')) },
    'binary early-bin arrives as the same binary bytes (upstream re-encodes it as msgpack bin8 c409...)');
  assert.deepEqual({ binary: m2.binary, text: m2.data.toString('utf8') }, { binary: false, text: 'early-text' },
    'text early-text arrives as the same text (upstream sends msgpack fixstr aa... as binary)');
  assert.deepEqual({ binary: m3.binary, hex: hex(m3.data) }, { binary: true, hex: hex(big) }, '300 x 0x41 arrives unchanged (upstream: c5012c...)');

  ap.socket.send('late');
  const m4 = await bp.next();
  assert.deepEqual({ binary: m4.binary, text: m4.data.toString('utf8') }, { binary: false, text: 'late' }, 'a message sent after pairing follows');

  bp.send(Buffer.from([1, 2, 3]));
  const back = await a.nextMessage(ap);
  assert.equal(back.binary, true);
  assert.equal(hex(back.data), '010203');
  await expectQuiet([bp], 'no further messages after the four sent');
});
