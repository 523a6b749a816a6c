// Join -> Introduction latency with many connected peers, Switchboard vs the reference server.
//   node join-latency.mjs ws://127.0.0.1:PORT [peers=10000] [samples=200]
// Connects `peers` introduction sockets, each joined to its own document, then measures, one at a
// time, how long a pair of fresh peers sharing a new document waits for its Introduction.
import WebSocket from 'ws';
import { pack, unpack } from 'msgpackr';

const [url, peersArg = '10000', samplesArg = '200'] = process.argv.slice(2);
const peers = Number(peersArg);
const samples = Number(samplesArg);

function open(peerId) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/introduction/${peerId}`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const crowd = [];
for (let i = 0; i < peers; i += 500) {
  const batch = [];
  for (let j = i; j < Math.min(peers, i + 500); ++j) batch.push(open(`crowd-${j}`));
  for (const ws of await Promise.all(batch)) crowd.push(ws);
}
crowd.forEach((ws, i) => ws.send(pack({ type: 'Join', documentIds: [`solo-${i}`] })));
await new Promise((r) => setTimeout(r, 1000));

const times = [];
for (let s = 0; s < samples; ++s) {
  const a = await open(`a-${s}`);
  const b = await open(`b-${s}`);
  a.send(pack({ type: 'Join', documentIds: [`shared-${s}`] }));
  await new Promise((r) => setTimeout(r, 5));
  const introduced = new Promise((resolve) => b.once('message', (m) => resolve(unpack(m))));
  const start = process.hrtime.bigint();
  b.send(pack({ type: 'Join', documentIds: [`shared-${s}`] }));
  const intro = await introduced;
  times.push(Number(process.hrtime.bigint() - start) / 1000);
  if (intro.type !== 'Introduction') throw new Error('unexpected message');
  a.close();
  b.close();
}
times.sort((x, y) => x - y);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(0);
console.log(JSON.stringify({ url, peers, samples, p50_us: Number(q(0.5)), p90_us: Number(q(0.9)), p99_us: Number(q(0.99)) }));
crowd.forEach((ws) => ws.terminate());
process.exit(0);
