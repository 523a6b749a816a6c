// localfirst connection (pipe) sockets with raw ws 8 clients (shared/protocols/localfirst.md
// section 5): held messages verbatim, relaying, close propagation and ordering, tombstones,
// replacement, third sockets, /connection/a/a/d, the held-socket bound and no idle timeout.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  SHUTDOWN_GRACE, assertPaired, expectQuiet, getLocalfirst, hex, joinedIntro, openIntro, openPair, openPipe, openRaw, sleep, uid,
  waitForStatus,
} from './lib/localfirst.mjs';
import { OP } from './lib/rawws.mjs';
import { startServer, stopServer } from './lib/server.mjs';

const LINGER_MS = 500;
const HELD_BUFFER = 64 * 1024;
let server;
before(async () => {
  server = await startServer({
    name: 'localfirst-pipes',
    config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: { tombstone_linger: `${LINGER_MS}ms`, held_buffer: HELD_BUFFER } },
  });
});
after(async () => { await stopServer(server, assert); });

const view = (m) => ({ binary: m.binary, hex: hex(m.data) });
const asText = (s) => ({ binary: false, hex: hex(Buffer.from(s, 'utf8')) });
const asBinary = (b) => ({ binary: true, hex: hex(b) });

// Distinct (local, remote, documentId) names for one test.
function names(tag) {
  return { a: uid(`${tag}-a`), b: uid(`${tag}-b`), d: uid(`${tag}-d`) };
}

test('held messages are forwarded verbatim: same opcode, bytes and boundaries, in order, before later ones', { timeout: 15_000 }, async (t) => {
  const { a, b, d } = names('held');
  const h = await openPipe(t, server.port, a, b, d);
  const big = Buffer.alloc(300, 0x41);
  const expected = [
    asBinary(Buffer.from('early-bin')),
    asText('early-text'),
    asBinary(big),
    asBinary(Buffer.alloc(0)),
    asText(''),
    asText('\u2603 \u00fc \u{1F600}'),
    asBinary(Buffer.from('frag-ment-ed')),
    asText('two-part'),
  ];
  h.send(Buffer.from('early-bin'), { binary: true });
  h.send('early-text');
  h.send(big, { binary: true });
  h.send(Buffer.alloc(0), { binary: true });
  h.send('');
  h.send('\u2603 \u00fc \u{1F600}');
  // Fragmented messages: one message each on the other side, whatever the frame split.
  h.send(Buffer.from('frag-'), { binary: true, fin: false });
  h.send(Buffer.from('ment-'), { fin: false });
  h.send(Buffer.from('ed'), { fin: true });
  h.send('two-', { fin: false });
  h.send('part', { fin: true });
  await h.roundTrip(); // the server has read all of it while b was absent: it is held

  const r = await openPipe(t, server.port, b, a, d);
  h.send('late'); // after r's 101: the pair exists
  const got = await r.nextN(expected.length + 1);
  assert.deepEqual(got.map(view), [...expected, asText('late')],
    'held messages arrive unchanged (upstream re-encodes them as msgpack binary), then the later one (section 5.2)');
  r.send('reply');
  assert.deepEqual(view(await h.next()), asText('reply'), 'the pair relays back');
  await expectQuiet([r, h], 'nothing else');
});

test('held data beyond held_buffer is not dropped (backpressure, then everything after pairing)', { timeout: 20_000 }, async (t) => {
  const { a, b, d } = names('bulk');
  const h = await openPipe(t, server.port, a, b, d);
  const chunks = Array.from({ length: 16 }, () => crypto.randomBytes(HELD_BUFFER));
  for (const c of chunks) h.send(c, { binary: true });
  h.send('end of held data');
  const r = await openPipe(t, server.port, b, a, d);
  const got = await r.nextN(chunks.length + 1, 10_000);
  assert.deepEqual(got.map((m) => ({ binary: m.binary, len: m.data.length, sha: crypto.createHash('sha256').update(m.data).digest('hex') })),
    [...chunks.map((c) => ({ binary: true, len: c.length, sha: crypto.createHash('sha256').update(c).digest('hex') })),
      { binary: false, len: 16, sha: crypto.createHash('sha256').update('end of held data').digest('hex') }],
    `${chunks.length} x ${HELD_BUFFER} bytes sent while held (held_buffer ${HELD_BUFFER}) all arrive, in order (section 5.2: MUST NOT drop)`);
});

test('after pairing, messages pass both ways unchanged: opcode, bytes, boundaries, per-direction order', { timeout: 20_000 }, async (t) => {
  const { a, b, d } = names('relay');
  const [pa, pb] = await openPair(t, server.port, a, b, d);
  const sent = [];
  for (let i = 0; i < 200; i++) {
    const m = i % 3 === 0 ? asText(`t${i} \u00e9`) : asBinary(crypto.randomBytes(i * 7));
    sent.push(m);
    pa.send(Buffer.from(m.hex, 'hex'), { binary: m.binary });
  }
  const mib = crypto.randomBytes(1024 * 1024);
  pa.send(mib, { binary: true });
  pa.send(Buffer.from('x'.repeat(70_000)), { binary: false, fin: false });
  pa.send(Buffer.from('y'), { fin: true });
  const got = await pb.nextN(202, 10_000);
  assert.deepEqual(got.slice(0, 200).map(view), sent, 'a -> b: 200 mixed messages');
  assert.equal(got[200].binary, true);
  assert.ok(got[200].data.equals(mib), '1 MiB binary message unchanged');
  assert.deepEqual({ binary: got[201].binary, len: got[201].data.length, last: got[201].data.subarray(-1).toString() },
    { binary: false, len: 70_001, last: 'y' }, 'a fragmented text message arrives as one message');

  pb.send(Buffer.from('back-bin'), { binary: true });
  pb.send('back-text');
  assert.deepEqual((await pa.nextN(2)).map(view), [asBinary(Buffer.from('back-bin')), asText('back-text')], 'b -> a');
});

test('close code and reason reach the partner: 4001 "bye" from either side', { timeout: 10_000 }, async (t) => {
  const n1 = names('close1');
  const [a1, b1] = await openPair(t, server.port, n1.a, n1.b, n1.d);
  a1.ws.close(4001, 'bye');
  assert.deepEqual(await b1.closed(), { code: 4001, reason: 'bye' }, 'b sees a\'s close code and reason (section 5.4)');
  assert.equal((await a1.closed()).code, 4001, 'a\'s closing handshake completes with its own code echoed');

  const n2 = names('close2');
  const [a2, b2] = await openPair(t, server.port, n2.a, n2.b, n2.d);
  b2.ws.close(4001, 'bye');
  assert.deepEqual(await a2.closed(), { code: 4001, reason: 'bye' }, 'a sees b\'s close code and reason');
  assert.equal((await b2.closed()).code, 4001);
});

test('a Close without a status code reaches the partner without one (1005)', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('nocode');
  const [pa, pb] = await openPair(t, server.port, a, b, d);
  pa.ws.close(); // ws 8 sends an empty Close payload
  assert.deepEqual(await pb.closed(), { code: 1005, reason: '' }, 'partner of a code-less Close');
  assert.equal((await pa.closed()).code, 1005, 'the server echoes an empty Close');
});

test('TCP loss gives the partner 1001 "peer connection lost" (terminate, and a raw socket destroyed)', { timeout: 10_000 }, async (t) => {
  const n1 = names('loss1');
  const [a1, b1] = await openPair(t, server.port, n1.a, n1.b, n1.d);
  a1.terminate();
  assert.deepEqual(await b1.closed(), { code: 1001, reason: 'peer connection lost' }, 'partner of a terminated socket');

  const n2 = names('loss2');
  const raw = await openRaw(t, server.port, `/connection/${n2.a}/${n2.b}/${n2.d}`);
  const b2 = await openPipe(t, server.port, n2.b, n2.a, n2.d);
  raw.ws.sendText('last words');
  assert.deepEqual(view(await b2.next()), asText('last words'), 'raw socket is paired');
  raw.ws.destroy();
  assert.deepEqual(await b2.closed(), { code: 1001, reason: 'peer connection lost' }, 'partner of a destroyed TCP connection');
});

test('every message sent before a Close is delivered before that Close', { timeout: 15_000 }, async (t) => {
  const { a, b, d } = names('order');
  const [pa, pb] = await openPair(t, server.port, a, b, d);
  const sent = [];
  for (let i = 0; i < 100; i++) {
    const m = i % 2 ? asText(`m${i}`) : asBinary(crypto.randomBytes(i === 98 ? 256 * 1024 : 32));
    sent.push(m);
    pa.send(Buffer.from(m.hex, 'hex'), { binary: m.binary });
  }
  pa.ws.close(4002, 'done');
  const got = await pb.nextN(100);
  assert.deepEqual(got.map(view), sent, 'all 100 messages, in order');
  assert.deepEqual(await pb.closed(), { code: 4002, reason: 'done' }, 'then the Close (section 5.4 ordering)');
});

test('tombstone: a held socket that sent data and closed 4000 "gone" hands both to a reciprocal dial within the linger', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('tomb');
  const h = await openPipe(t, server.port, a, b, d);
  h.send(Buffer.from('tomb-bin'), { binary: true });
  h.send('tomb-text');
  h.ws.close(4000, 'gone');
  await h.closed();

  const r = await openPipe(t, server.port, b, a, d);
  assert.deepEqual((await r.nextN(2)).map(view), [asBinary(Buffer.from('tomb-bin')), asText('tomb-text')], 'the held data (section 5.6)');
  assert.deepEqual(await r.closed(), { code: 4000, reason: 'gone' }, 'then the recorded close');

  // The tombstone is used up: the next reciprocal dial is simply held, and pairs.
  const r2 = await openPipe(t, server.port, b, a, d);
  await expectQuiet([r2], 'a used tombstone is removed');
  const h2 = await openPipe(t, server.port, a, b, d);
  await assertPaired(h2, r2);
});

test('tombstone of a Close without a status code: the reciprocal gets the data, then a Close without one', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('tomb0');
  const h = await openPipe(t, server.port, a, b, d);
  h.send('only');
  h.ws.close();
  await h.closed();
  const r = await openPipe(t, server.port, b, a, d);
  assert.deepEqual(view(await r.next()), asText('only'));
  assert.deepEqual(await r.closed(), { code: 1005, reason: '' }, 'no status code, as sent (section 5.4)');
});

test('after tombstone_linger a reciprocal dial is simply held', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('linger');
  const h = await openPipe(t, server.port, a, b, d);
  h.send('too old');
  h.ws.close(4000, 'gone');
  await h.closed();
  // Nothing on the wire marks the end of the linger: wait it out, with a margin.
  await sleep(LINGER_MS + 400);
  const r = await openPipe(t, server.port, b, a, d);
  await expectQuiet([r], 'the tombstone expired: no data, no close');
  const h2 = await openPipe(t, server.port, a, b, d);
  await assertPaired(h2, r);
});

test('replacement: a second socket with a held key closes the first with 1008, drops its data, and pairs', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('repl');
  const first = await openPipe(t, server.port, a, b, d);
  first.send(Buffer.from('stale-bin'), { binary: true });
  first.send('stale-text');
  await first.roundTrip(); // the server has read (and holds) the stale messages

  const second = await openPipe(t, server.port, a, b, d);
  assert.deepEqual(await first.closed(), { code: 1008, reason: 'replaced by a newer connection' }, 'the older held socket (section 5.6)');
  second.send('fresh');
  const r = await openPipe(t, server.port, b, a, d);
  // Order is kept, so stale data, had it been kept, would come first.
  assert.deepEqual(view(await r.next()), asText('fresh'), 'only the newer socket\'s data is delivered');
  await assertPaired(second, r);
  await expectQuiet([r, second], 'no stale data later either');
});

test('a new socket with the key of a tombstone replaces the tombstone', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('repltomb');
  const h = await openPipe(t, server.port, a, b, d);
  h.send('from the dead');
  h.ws.close(4000, 'gone');
  await h.closed();
  const h2 = await openPipe(t, server.port, a, b, d);
  h2.send('from the living');
  await h2.roundTrip();
  const r = await openPipe(t, server.port, b, a, d);
  assert.deepEqual(view(await r.next()), asText('from the living'), 'the tombstone\'s data is gone');
  await assertPaired(h2, r);
  assert.equal(r.state.closed, null, 'the tombstone\'s close is not applied');
});

test('a third socket on an already-paired key is held and pairs with the next reciprocal dial; the first pair is untouched', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('third');
  const [pa, pb] = await openPair(t, server.port, a, b, d);
  await assertPaired(pa, pb, 'first');
  const third = await openPipe(t, server.port, a, b, d);
  await expectQuiet([pa, pb, third], 'the third socket is held; the pair is not touched');
  await assertPaired(pa, pb, 'still');
  const fourth = await openPipe(t, server.port, b, a, d);
  await assertPaired(third, fourth, 'second');
  await assertPaired(pa, pb, 'again');
});

test('same local and remote: /connection/a/a/d pairs with the next such dial', { timeout: 10_000 }, async (t) => {
  const { a, d } = names('self');
  const s1 = await openPipe(t, server.port, a, a, d);
  s1.send('held for myself');
  const s2 = await openPipe(t, server.port, a, a, d);
  assert.deepEqual(view(await s2.next()), asText('held for myself'));
  assert.equal(s1.state.closed, null, 'the first socket is paired, not replaced');
  await assertPaired(s1, s2);
  const s3 = await openPipe(t, server.port, a, a, d);
  await expectQuiet([s1, s2, s3], 'a third such dial is held');
  const s4 = await openPipe(t, server.port, a, a, d);
  await assertPaired(s3, s4, 'second pair');
});

test('pipes outlive a Leave and the close of the introduction socket', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('outlive');
  const intro = await joinedIntro(t, server.port, a, [d]);
  const [pa, pb] = await openPair(t, server.port, a, b, d);
  intro.leave([d]);
  intro.ws.close(1000);
  await intro.closed();
  await assertPaired(pa, pb);
  assert.equal(pa.state.closed, null);
  assert.equal(pb.state.closed, null);
});

test('invalid UTF-8 in a text message fails the sender with 1007; its partner gets 1001 "peer connection lost"', { timeout: 10_000 }, async (t) => {
  const { a, b, d } = names('utf8');
  const raw = await openRaw(t, server.port, `/connection/${a}/${b}/${d}`);
  const pb = await openPipe(t, server.port, b, a, d);
  raw.ws.sendText('valid');
  assert.deepEqual(view(await pb.next()), asText('valid'));
  raw.ws.sendFrame(OP.TEXT, Buffer.from([0x61, 0xff, 0xfe]));
  const m = await raw.ws.readMessage();
  assert.deepEqual({ type: m.type, code: m.code }, { type: 'close', code: 1007 }, 'sender (section 5.3)');
  const closed = await pb.closed();
  assert.deepEqual(pb.state.errors.map((e) => e.message), [], 'the partner must not be handed the invalid text (its own ws would fail on it)');
  assert.deepEqual(closed, { code: 1001, reason: 'peer connection lost' }, 'partner (section 5.4: protocol error)');
});

test('a pipe message above max_pipe_message closes the sender with 1009 and its partner with 1001; at the limit it passes', { timeout: 10_000 }, async (t) => {
  const limit = 1024;
  const own = await startServer({ name: 'localfirst-pipes-max', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: { max_pipe_message: limit } } });
  t.after(() => stopServer(own, assert));
  const n1 = names('max1');
  const [a1, b1] = await openPair(t, own.port, n1.a, n1.b, n1.d);
  const exact = crypto.randomBytes(limit);
  a1.send(exact, { binary: true });
  assert.deepEqual(view(await b1.next()), asBinary(exact), `a ${limit}-byte message passes`);
  a1.send(crypto.randomBytes(limit + 1), { binary: true });
  assert.equal((await a1.closed()).code, 1009, `sender of a ${limit + 1}-byte message (configuration.md max_pipe_message)`);
  assert.deepEqual(await b1.closed(), { code: 1001, reason: 'peer connection lost' }, 'its partner');

  // Forwarded frame by frame: the limit is on the whole message, not on one fragment.
  const n2 = names('max2');
  const [a2, b2] = await openPair(t, own.port, n2.a, n2.b, n2.d);
  a2.send(crypto.randomBytes(600), { binary: true, fin: false });
  a2.send(crypto.randomBytes(600), { fin: true });
  assert.equal((await a2.closed()).code, 1009, 'sender of a 1200-byte message in two 600-byte fragments');
  assert.deepEqual(await b2.closed(), { code: 1001, reason: 'peer connection lost' }, 'its partner');
});

test('held-socket bound: the 4th held socket of a peer closes its oldest with 1008 "too many held connections"', { timeout: 15_000 }, async (t) => {
  const own = await startServer({ name: 'localfirst-pipes-bound', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: { max_held_per_peer: 3 } } });
  t.after(() => stopServer(own, assert));
  const x = uid('bx');
  const d = uid('bd');
  const other = await openPipe(t, own.port, uid('by'), x, d); // another peer's held socket
  const held = [];
  for (let i = 1; i <= 3; i++) {
    held.push(await openPipe(t, own.port, x, `r${i}`, d));
    await waitForStatus(own.port, (lf) => lf.held === i + 1, `${i + 1} held sockets`);
  }
  await expectQuiet([other, ...held], '3 held sockets are within the bound');

  const fourth = await openPipe(t, own.port, x, 'r4', d);
  assert.deepEqual(await held[0].closed(), { code: 1008, reason: 'too many held connections' }, 'the oldest held socket of x (section 5.5)');
  await expectQuiet([other, held[1], held[2], fourth], 'only the oldest is closed');
  const lf = await waitForStatus(own.port, (s) => s.held === 4, '4 held sockets (3 of x, 1 of another peer)');
  assert.equal(lf.paired, 0);
  const r4 = await openPipe(t, own.port, 'r4', x, d);
  await assertPaired(fourth, r4);
});

test('no idle timeout: a held socket and an introduction socket that answer pings outlive 5 ping intervals', { timeout: 15_000 }, async (t) => {
  const own = await startServer({ name: 'localfirst-pipes-idle', config: { shutdown_grace: SHUTDOWN_GRACE, limits: { ping_interval: '200ms' }, localfirst: {} } });
  t.after(() => stopServer(own, assert));
  const { a, b, d } = names('idle');
  const intro = await joinedIntro(t, own.port, a, [d]);
  const h = await openPipe(t, own.port, a, b, d);
  // ws answers every Ping; 6 Pings at 200 ms take over 1 s without any data.
  await Promise.all([h.waitPings(6, 5000), intro.waitPings(6, 5000)]);
  assert.equal(h.state.closed, null, 'held socket still open (section 5.5)');
  assert.equal(intro.state.closed, null, 'introduction socket still open (section 4.10)');
  const r = await openPipe(t, own.port, b, a, d);
  await assertPaired(h, r);
  const j = await openIntro(t, own.port, b);
  j.join([d]);
  await intro.expectIntro(b, [d]);
  const lf = await getLocalfirst(own.port);
  assert.deepEqual({ held: lf.held, paired: lf.paired }, { held: 0, paired: 1 });
});
