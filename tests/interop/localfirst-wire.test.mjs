// localfirst introduction sockets at the byte level (shared/protocols/localfirst.md sections 2 and 4):
// handshake headers, exact Introduction bytes, MessagePack variants, whole-intersection
// re-introduction, Leave and Heartbeat silence, junk frames, duplicate peerIds, 1009.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  QUIET_MS, SHUTDOWN_GRACE, SPEC_HEX, WebSocket, encode, expectQuiet, fromHex, getLocalfirst, hex, introduction, introUrl,
  joinedIntro, lfTrack, nextDataFrame, openIntro, openRaw, pingRoundTrip, sleep, uid, waitForPeer, waitForSet,
} from './lib/localfirst.mjs';
import { OP } from './lib/rawws.mjs';
import { startServer, stopServer } from './lib/server.mjs';

let server;
before(async () => { server = await startServer({ name: 'localfirst-wire', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: {} } }); });
after(async () => { await stopServer(server, assert); });

// --- hand-made MessagePack, for encodings msgpackr never produces --------------------------------
const u8 = (...b) => Buffer.from(b);
const be16 = (n) => u8(n >> 8, n & 0xff);
const be32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const utf8 = (s) => Buffer.from(s, 'utf8');
const mp = {
  fixstr: (s) => Buffer.concat([u8(0xa0 | utf8(s).length), utf8(s)]),
  str8: (s) => Buffer.concat([u8(0xd9, utf8(s).length), utf8(s)]),
  str16: (s) => Buffer.concat([u8(0xda), be16(utf8(s).length), utf8(s)]),
  str32: (s) => Buffer.concat([u8(0xdb), be32(utf8(s).length), utf8(s)]),
  bin8: (s) => Buffer.concat([u8(0xc4, utf8(s).length), utf8(s)]),
  fixarray: (items) => Buffer.concat([u8(0x90 | items.length), ...items]),
  array16: (items) => Buffer.concat([u8(0xdc), be16(items.length), ...items]),
  array32: (items) => Buffer.concat([u8(0xdd), be32(items.length), ...items]),
  fixmap: (pairs) => Buffer.concat([u8(0x80 | pairs.length), ...pairs.flat()]),
  map16: (pairs) => Buffer.concat([u8(0xde), be16(pairs.length), ...pairs.flat()]),
  map32: (pairs) => Buffer.concat([u8(0xdf), be32(pairs.length), ...pairs.flat()]),
};

test('handshake: the 101 has no Sec-WebSocket-Extensions and no Sec-WebSocket-Protocol, even when permessage-deflate is offered', { timeout: 10_000 }, async (t) => {
  // What the Node Client (ws 8 defaults) sends: a deflate offer and no subprotocol.
  const offer = [['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits']];
  const a = uid('hs');
  for (const target of [`/introduction/${a}`, `/connection/${a}/hs-b/hs-doc`]) {
    const r = await openRaw(t, server.port, target, offer);
    assert.equal(r.headers['sec-websocket-extensions'], undefined, `${target}: permessage-deflate must be declined (section 2)`);
    assert.equal(r.headers['sec-websocket-protocol'], undefined, `${target}: no subprotocol in the 101 (section 2)`);
    r.ws.destroy();
  }
  // ws 8 with its default perMessageDeflate offer, as the Client uses it, ends up without extensions.
  const s = lfTrack(new WebSocket(introUrl(server.port, uid('hs-ws'))), 'ws 8 default options');
  t.after(() => s.ws.terminate());
  await s.opened();
  assert.equal(s.ws.extensions, '', 'negotiated extensions');
  assert.equal(s.ws.protocol, '', 'negotiated subprotocol');
});

test('Introduction bytes for alice and bob on ambitious-mongoose are exactly those of section 4.4', { timeout: 10_000 }, async (t) => {
  // Our encoder is upstream's (msgpackr defaults): check it against the spec first.
  assert.equal(hex(encode({ type: 'Join', documentIds: ['ambitious-mongoose'] })), SPEC_HEX.joinAmbitious);
  assert.equal(hex(encode(introduction('alice', ['ambitious-mongoose']))), SPEC_HEX.introAlice);

  const alice = await openRaw(t, server.port, '/introduction/alice');
  alice.ws.sendBinary(fromHex(SPEC_HEX.joinAmbitious));
  await waitForSet(server.port, 'alice', ['ambitious-mongoose']);
  const bob = await openRaw(t, server.port, '/introduction/bob');
  bob.ws.sendBinary(fromHex(SPEC_HEX.joinAmbitious));

  const toBob = await nextDataFrame(bob.ws);
  const toAlice = await nextDataFrame(alice.ws);
  for (const [who, f, expected, len] of [['bob', toBob, SPEC_HEX.introAlice, 66], ['alice', toAlice, SPEC_HEX.introBob, 64]]) {
    assert.deepEqual({ opcode: f.opcode, fin: f.fin, rsv: f.rsv, masked: f.masked },
      { opcode: OP.BINARY, fin: true, rsv: 0, masked: false }, `${who}: one unfragmented, unmasked binary frame (section 4.1)`);
    assert.equal(f.payload.length, len, `${who}: Introduction length`);
    assert.equal(hex(f.payload), expected, `${who}: Introduction bytes (section 4.4)`);
  }
  // Nothing else follows (an absence: bounded window).
  await sleep(QUIET_MS);
  assert.deepEqual([...alice.ws.frames, ...bob.ws.frames].filter((f) => f.opcode !== OP.PING).map((f) => hex(f.payload)), [],
    'no further frames after the two Introductions');
  assert.ok(!alice.ws.ended && !bob.ws.ended, 'both sockets stay open');
});

test('long values: 32-byte peerId as str8, 300-byte peerId as str16, 16 documentIds as array16', { timeout: 10_000 }, async (t) => {
  const p32 = uid('p32').padEnd(32, 'x');
  const p300 = uid('p300').padEnd(300, 'y');
  const docs = Array.from({ length: 16 }, (_, i) => uid(`long-d${i}`));
  const a = await joinedIntro(t, server.port, p32, docs);
  const b = await openIntro(t, server.port, p300);
  b.join(docs);
  const toB = await b.intro();
  const toA = await a.intro();
  assert.equal(hex(toB.bytes), hex(encode(introduction(p32, docs))), 'Introduction{32-byte peer} bytes');
  assert.equal(hex(toA.bytes), hex(encode(introduction(p300, docs))), 'Introduction{300-byte peer} bytes');
  assert.ok(toB.bytes.includes(Buffer.concat([fromHex('d920'), Buffer.from(p32)])), '32-byte peerId encoded d9 20 ...');
  assert.ok(toA.bytes.includes(Buffer.concat([fromHex('da012c'), Buffer.from(p300)])), '300-byte peerId encoded da 01 2c ...');
  assert.ok(toA.bytes.includes(fromHex('ab646f63756d656e74496473dc0010')), '16 documentIds start with dc 00 10');
});

test('Join and Leave in other MessagePack encodings (fixmap, map32, str8/16/32, array16/32, extra keys) are understood', { timeout: 10_000 }, async (t) => {
  const d = uid('enc');
  const bId = uid('enc-b');
  const other = await joinedIntro(t, server.port, bId, [d]);
  const aId = uid('enc-a');
  const a = await openIntro(t, server.port, aId);
  // fixmap, keys in another order, str16/str8/str32 strings, array32, an unknown key.
  a.send(mp.fixmap([
    [mp.str16('documentIds'), mp.array32([mp.str32(d)])],
    [mp.fixstr('extra'), u8(0x2a)],
    [mp.str8('type'), mp.str8('Join')],
  ]), { binary: true });
  await a.expectIntro(bId, [d]);
  await other.expectIntro(aId, [d]);
  // map32 Leave with an array16.
  a.send(mp.map32([[mp.fixstr('type'), mp.fixstr('Leave')], [mp.fixstr('documentIds'), mp.array16([mp.fixstr(d)])]]), { binary: true });
  await waitForSet(server.port, aId, []);
  // map16 Join with a fixarray of several strings, one of them repeated.
  const d2 = uid('enc2');
  a.send(mp.map16([[mp.fixstr('type'), mp.fixstr('Join')], [mp.fixstr('documentIds'), mp.fixarray([mp.str8(d2), mp.fixstr(d), mp.str8(d2)])]]), { binary: true });
  await waitForSet(server.port, aId, [d2, d]);
  await a.expectIntro(bId, [d]);
  await other.expectIntro(aId, [d]);
  await expectQuiet([a, other], 'after the second Join');
});

test('whole-intersection re-introduction: the section 4.5 example verbatim', { timeout: 10_000 }, async (t) => {
  const [x, y, z] = [uid('x'), uid('y'), uid('z')];
  const pId = uid('P');
  const qId = uid('Q');
  const p = await joinedIntro(t, server.port, pId, [x, y]);
  const q = await openIntro(t, server.port, qId);

  q.join([y, x, z]); // Q, then P, receive [y,x]: the joiner's order
  await q.expectIntro(pId, [y, x]);
  await p.expectIntro(qId, [y, x]);
  await waitForSet(server.port, qId, [y, x, z]);

  p.join([z]); // the whole intersection [x,y,z] in P's order, not only z
  await p.expectIntro(qId, [x, y, z]);
  await q.expectIntro(pId, [x, y, z]);

  p.join([z]); // joining an id again re-sends the same two Introductions
  await p.expectIntro(qId, [x, y, z]);
  await q.expectIntro(pId, [x, y, z]);
  await waitForSet(server.port, pId, [x, y, z]);

  p.join([]); // an empty list is a valid Join and re-sends them too
  await p.expectIntro(qId, [x, y, z]);
  await q.expectIntro(pId, [x, y, z]);
  await expectQuiet([p, q], 'exactly one Introduction per side per Join');
});

test('Leave sends nothing to anyone; the set shrinks; a Leave before any Join creates no set', { timeout: 10_000 }, async (t) => {
  const [d1, d2] = [uid('lv1'), uid('lv2')];
  const aId = uid('lva');
  const bId = uid('lvb');
  const a = await joinedIntro(t, server.port, aId, [d1, d2]);
  const b = await openIntro(t, server.port, bId);
  b.join([d1]);
  await b.expectIntro(aId, [d1]);
  await a.expectIntro(bId, [d1]);

  a.leave([d1]);
  await waitForSet(server.port, aId, [d2]);
  a.leave([uid('never-joined')]);
  await expectQuiet([a, b], 'Leave is silent (section 4.6)');
  assert.deepEqual((await getLocalfirst(server.port)).documentIds[aId], [d2], 'leaving an unknown id changes nothing');

  const cId = uid('lvc');
  const c = await openIntro(t, server.port, cId);
  c.join([d1]);
  await c.expectIntro(bId, [d1]);
  await b.expectIntro(cId, [d1]);
  await expectQuiet([a, b, c], 'a left d1: no introduction to a');

  const eId = uid('lve');
  const e = await openIntro(t, server.port, eId);
  e.leave([d1]);
  await waitForPeer(server.port, eId);
  await expectQuiet([e], 'Leave before any Join');
  assert.equal((await getLocalfirst(server.port)).documentIds[eId], undefined, 'a Leave before any Join creates no set (section 4.6)');
  const d3 = uid('lv3');
  e.join([d3]);
  await waitForSet(server.port, eId, [d3]);
});

test('Heartbeat and "\u2764\ufe0f" get no reply; a WebSocket Ping gets a Pong and nothing else', { timeout: 10_000 }, async (t) => {
  const d = uid('hb');
  const aId = uid('hba');
  const bId = uid('hbb');
  const a = await joinedIntro(t, server.port, aId, [d]);
  const b = await openIntro(t, server.port, bId);
  b.join([d]);
  await b.expectIntro(aId, [d]);
  await a.expectIntro(bId, [d]);

  for (let i = 0; i < 3; i++) a.send(fromHex(SPEC_HEX.heartbeat), { binary: true });
  a.sendMsg({ type: '\u2764\ufe0f' });
  b.sendMsg({ type: 'Heartbeat' });
  await expectQuiet([a, b], 'Heartbeat needs no reply and is not a Join (section 4.3)');

  const raw = await openRaw(t, server.port, `/introduction/${uid('hbr')}`);
  raw.ws.sendFrame(OP.PING, Buffer.from('are you there'));
  const pong = await raw.ws.nextFrame(3000);
  assert.deepEqual({ opcode: pong.opcode, payload: pong.payload.toString() }, { opcode: OP.PONG, payload: 'are you there' },
    'Ping is answered with a Pong carrying the same payload (section 2)');
  raw.ws.sendBinary(fromHex(SPEC_HEX.heartbeat));
  await sleep(QUIET_MS); // an absence: bounded window
  assert.deepEqual(raw.ws.frames.map((f) => f.opcode), [], 'nothing after the Pong');
});

test('junk frames are ignored, the socket stays open, and a valid Join on it still gets its Introduction', { timeout: 15_000 }, async (t) => {
  const d = uid('junk');
  const pId = uid('jp');
  const jId = uid('jj');
  // p shares d, so any junk taken for a Join of d would make the server introduce j and p.
  const p = await joinedIntro(t, server.port, pId, [d]);
  const j = await openIntro(t, server.port, jId);
  const join = encode({ type: 'Join', documentIds: [d] });
  const junk = [
    ['text frame', 'hello'],
    ['JSON Join in a text frame (v3 style)', JSON.stringify({ type: 'Join', documentIds: [d] })],
    ['msgpack Join bytes in a text frame', join.toString('latin1')],
    ['01 02 03 (upstream test)', u8(1, 2, 3)],
    ['empty binary frame', Buffer.alloc(0)],
    ['JSON in a binary frame', utf8(JSON.stringify({ type: 'Join', documentIds: [d] }))],
    ['valid Join + trailing c0', Buffer.concat([join, u8(0xc0)])],
    ['two Joins in one frame', Buffer.concat([join, join])],
    ['truncated Join', join.subarray(0, join.length - 1)],
    ['documentIds is a string', encode({ type: 'Join', documentIds: d })],
    ['documentIds has a number', encode({ type: 'Join', documentIds: [d, 1] })],
    ['documentIds has nil', encode({ type: 'Join', documentIds: [d, null] })],
    ['documentIds has binary', encode({ type: 'Join', documentIds: [Buffer.from(d)] })],
    ['documentIds is a map', encode({ type: 'Join', documentIds: { 0: d } })],
    ['documentIds missing', encode({ type: 'Join' })],
    ['type in lower case', encode({ type: 'join', documentIds: [d] })],
    ['type is a number', encode({ type: 7, documentIds: [d] })],
    ['type is binary', mp.map16([[mp.fixstr('type'), mp.bin8('Join')], [mp.fixstr('documentIds'), mp.fixarray([mp.str8(d)])]])],
    ['unknown type', encode({ type: 'Welcome', documentIds: [d] })],
    ['client-sent Introduction', encode(introduction(pId, [d]))],
    ['array instead of map', encode(['Join', [d]])],
    ['plain string', encode('Join')],
    ['nil', u8(0xc0)],
    ['ext type', u8(0xd4, 0x01, 0x00)],
  ];
  for (const [, frame] of junk) j.send(frame, { binary: typeof frame !== 'string' });
  await expectQuiet([j, p], 'junk frames are ignored without any reply (section 4.7)');
  assert.equal((await getLocalfirst(server.port)).documentIds[jId], undefined, 'junk created no set for j');

  j.send(join, { binary: true });
  await j.expectIntro(pId, [d]);
  await p.expectIntro(jId, [d]);
  await expectQuiet([j, p], 'exactly one Introduction each after the valid Join');
});

test('legacy {type: "Join", join: [...]} is ignored: two such peers are not introduced (issue #12)', { timeout: 10_000 }, async (t) => {
  const aId = uid('leg-a');
  const bId = uid('leg-b');
  const a = await openIntro(t, server.port, aId);
  const b = await openIntro(t, server.port, bId);
  a.sendMsg({ type: 'Join', join: [uid('leg-doc')] });
  b.sendMsg({ type: 'Join', join: [uid('leg-doc')] });
  await expectQuiet([a, b], 'upstream matched every such peer with every other one via [undefined]');
  const lf = await getLocalfirst(server.port);
  assert.equal(lf.documentIds[aId], undefined, 'no set for a');
  assert.equal(lf.documentIds[bId], undefined, 'no set for b');
});

test('duplicate peerId rule 1: a second socket becomes current and the older one is not closed', { timeout: 10_000 }, async (t) => {
  const d = uid('dup1');
  const dup = uid('dup1-peer');
  const a1 = await joinedIntro(t, server.port, dup, [d]);
  const a2 = await openIntro(t, server.port, dup);
  const bId = uid('dup1-b');
  const b = await openIntro(t, server.port, bId);
  b.join([d]);
  await b.expectIntro(dup, [d]);
  await a2.expectIntro(bId, [d]);
  await expectQuiet([a1], 'the older socket stays open and, not being current, gets no Introduction');
  const lf = await getLocalfirst(server.port);
  assert.equal(lf.peers.filter((p) => p === dup).length, 1, `peers lists ${dup} once (section 9)`);
});

test('duplicate peerId rule 2: Join and Leave from the older socket update the shared set; Introductions go to the current one', { timeout: 10_000 }, async (t) => {
  const d = uid('dup2');
  const dup = uid('dup2-peer');
  const bId = uid('dup2-b');
  const b = await joinedIntro(t, server.port, bId, [d]);
  const a1 = await openIntro(t, server.port, dup);
  const a2 = await openIntro(t, server.port, dup);
  await waitForPeer(server.port, dup);

  a1.join([d]); // from the older socket
  await a2.expectIntro(bId, [d]);
  await b.expectIntro(dup, [d]);
  await waitForSet(server.port, dup, [d]);
  await expectQuiet([a1], 'Introductions go only to the current socket, even for the older socket\'s Join');

  a1.leave([d]);
  await waitForSet(server.port, dup, []);
  const cId = uid('dup2-c');
  const c = await openIntro(t, server.port, cId);
  c.join([d]);
  await c.expectIntro(bId, [d]);
  await b.expectIntro(cId, [d]);
  await expectQuiet([a1, a2, b, c], 'the older socket\'s Leave removed d from the shared set');
});

test('duplicate peerId rule 3: closing the older socket changes nothing; closing the current one unregisters', { timeout: 10_000 }, async (t) => {
  const d = uid('dup3');
  const dup = uid('dup3-peer');
  const a1 = await openIntro(t, server.port, dup);
  const a2 = await joinedIntro(t, server.port, dup, [d]);
  a1.ws.close(1000);
  await a1.closed();
  let lf = await getLocalfirst(server.port);
  assert.ok(lf.peers.includes(dup), 'still registered after the older socket closed');
  assert.deepEqual(lf.documentIds[dup], [d], 'set kept after the older socket closed');

  const bId = uid('dup3-b');
  const b = await openIntro(t, server.port, bId);
  b.join([d]);
  await b.expectIntro(dup, [d]);
  await a2.expectIntro(bId, [d]);

  a2.ws.close(1000);
  await a2.closed();
  lf = await waitForPeer(server.port, dup, false);
  assert.equal(lf.documentIds[dup], undefined, 'closing the current socket removes the set');
  const cId = uid('dup3-c');
  const c = await openIntro(t, server.port, cId);
  c.join([d]);
  await c.expectIntro(bId, [d]);
  await b.expectIntro(cId, [d]);
  await expectQuiet([b, c], 'the unregistered peer is not introduced');
});

test('duplicate peerId rule 4: a Join on an open older socket of a peer with no current socket makes it current', { timeout: 10_000 }, async (t) => {
  const d = uid('dup4');
  const dup = uid('dup4-peer');
  const bId = uid('dup4-b');
  const b = await joinedIntro(t, server.port, bId, [d]);
  const a1 = await openIntro(t, server.port, dup);
  const a2 = await openIntro(t, server.port, dup);
  a2.ws.close(1000);
  await a2.closed();
  await waitForPeer(server.port, dup, false);

  a1.join([d]);
  await a1.expectIntro(bId, [d]);
  await b.expectIntro(dup, [d]);
  const lf = await waitForSet(server.port, dup, [d]);
  assert.ok(lf.peers.includes(dup), 'registered again');
  a1.ws.close(1000);
  await a1.closed();
  await waitForPeer(server.port, dup, false);
});

test('an Introduction due to a socket that is closing is skipped and the server keeps serving', { timeout: 15_000 }, async (t) => {
  const bId = uid('race-b');
  const b = await openIntro(t, server.port, bId);
  for (let i = 0; i < 10; i++) {
    const d = uid('race');
    const a = await joinedIntro(t, server.port, uid('race-a'), [d]);
    // b's Join and a's disappearance reach the server together (upstream issue #6).
    b.join([d]);
    if (i % 2) a.terminate();
    else a.ws.close(1000);
  }
  assert.equal(b.state.closed, null, 'b stays open');
  const d = uid('race-final');
  const c = await joinedIntro(t, server.port, uid('race-c'), [d]);
  const eId = uid('race-e');
  const e = await openIntro(t, server.port, eId);
  e.join([d]);
  await c.expectIntro(eId, [d]);
});

test('an introduction message above max_message closes the socket with 1009; one at the limit is fine', { timeout: 15_000 }, async (t) => {
  const limit = 1024;
  const own = await startServer({ name: 'localfirst-wire-1009', config: { shutdown_grace: SHUTDOWN_GRACE, localfirst: { max_message: limit } } });
  t.after(() => stopServer(own, assert));
  const d = uid('big');
  const bId = uid('big-b');
  const b = await joinedIntro(t, own.port, bId, [d]);
  const aId = uid('big-a');
  const a = await openIntro(t, own.port, aId);

  const sized = (n) => {
    for (let pad = 0; ; pad++) {
      const m = encode({ type: 'Join', documentIds: [d], pad: 'p'.repeat(pad) });
      if (m.length === n) return m;
      assert.ok(m.length < n, `cannot build a ${n}-byte Join`);
    }
  };
  a.send(sized(limit), { binary: true });
  await a.expectIntro(bId, [d]);
  await b.expectIntro(aId, [d]);

  a.send(sized(limit + 1), { binary: true });
  const closed = await a.closed();
  assert.equal(closed.code, 1009, `close after a ${limit + 1}-byte message (section 4.1): ${JSON.stringify(closed)}`);
  await waitForPeer(own.port, aId, false);
  await expectQuiet([b], 'the other peer is unaffected');
});

test('a peer that does not read its introductions is closed instead of queueing them without end', { timeout: 60_000 }, async (t) => {
  const own = await startServer({
    name: 'localfirst-wire-slow-reader',
    config: { shutdown_grace: SHUTDOWN_GRACE, limits: { control_buffer_high_water: 262_144 }, localfirst: {} },
  });
  t.after(() => stopServer(own, assert));
  // 40 ids of 250 bytes: every Introduction between the two peers is about 10 KB.
  const docs = Array.from({ length: 40 }, (_, i) => `${uid('slow')}-${i}-`.padEnd(250, 'x'));
  const vId = uid('not-reading');
  const v = await joinedIntro(t, own.port, vId, docs);
  v.ws._socket.pause(); // V stops reading: the kernel buffers fill, then the server's
  const aId = uid('flooder');
  const a = await joinedIntro(t, own.port, aId, docs);
  // Each empty Join re-sends the whole intersection to both peers (section 4.5), ~10 KB toward V.
  // In waves of 3 MB, until V's unread backlog passes the high-water mark and a Join finds it so.
  let lf;
  for (let wave = 0; wave < 20; wave++) {
    for (let i = 0; i < 300; i++) a.send(encode({ type: 'Join', documentIds: [] }), { binary: true });
    await pingRoundTrip(a.ws, 10_000, 'flooder');
    lf = await getLocalfirst(own.port);
    if (!lf.peers.includes(vId)) break;
  }
  assert.ok(!lf.peers.includes(vId), `the peer that does not read is closed and unregistered: ${JSON.stringify(lf.peers)}`);
  assert.ok(lf.peers.includes(aId), 'the peer that reads its introductions stays registered');
  v.ws._socket.resume();
  const closed = await v.closed();
  assert.ok([1008, 1006].includes(closed.code), `V is closed (1008 when the Close gets through): ${JSON.stringify(closed)}`);
});
