// A fast sender and a slow listener (section 4.5): the server holds at most about
// relay_buffer_high_water per direction and stops reading the sender.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { MiB, openControl, relayThrough, sleep } from './lib/hc.mjs';
import { startServer, stopServer } from './lib/server.mjs';

const HIGH_WATER = 1 * MiB;
const TOTAL = 200 * MiB;
const CHUNK = 64 * 1024;
const SENDER_BUFFER = 8 * MiB;
const READ_RATE = 1 * MiB; // bytes per second
const DURATION_MS = 10_000;
const SAMPLE_MS = 250;

let server;
before(async () => {
  server = await startServer({ name: 'backpressure', config: { limits: { relay_buffer_high_water: HIGH_WATER } } });
});
after(async () => { await stopServer(server, assert); });

test('slow reader: bounded server memory and a held-back sender', { timeout: 60_000 }, async (t) => {
  const entity = 'slow';
  const control = await openControl(server.port, entity);
  t.after(() => control.ws.terminate());
  const { sender, leg } = await relayThrough(t, server.port, control, entity);

  await sleep(500);
  const baseline = server.rss();

  // The listener leg reads about READ_RATE: it pauses its socket whenever it is ahead.
  let received = 0;
  let paused = false;
  const start = Date.now();
  leg.ws.removeAllListeners('message');
  leg.ws.on('message', (data) => {
    received += data.length;
    const ahead = received - (READ_RATE * (Date.now() - start)) / 1000;
    if (ahead > 0 && !paused) {
      paused = true;
      leg.ws.pause();
      setTimeout(() => { paused = false; leg.ws.resume(); }, (ahead / READ_RATE) * 1000);
    }
  });

  // The sender writes while its own buffer is below SENDER_BUFFER.
  const chunk = crypto.randomBytes(CHUNK);
  let queued = 0;
  const pump = () => {
    while (queued < TOTAL && sender.ws.readyState === sender.ws.OPEN && sender.ws.bufferedAmount < SENDER_BUFFER) {
      sender.ws.send(chunk, { binary: true });
      queued += CHUNK;
    }
  };
  const pumpTimer = setInterval(pump, 5);
  pump();

  let maxRss = baseline;
  const buffered = [];
  while (Date.now() - start < DURATION_MS) {
    await sleep(SAMPLE_MS);
    assert.ok(server.isAlive(), 'server died during the transfer');
    maxRss = Math.max(maxRss, server.rss());
    buffered.push(sender.ws.bufferedAmount);
  }
  clearInterval(pumpTimer);
  const bufferedNow = sender.ws.bufferedAmount;
  const acceptedByKernel = queued - bufferedNow;
  const growth = maxRss - baseline;
  const minBuffered = Math.min(...buffered.slice(buffered.length / 2));

  const report = {
    baselineRssMiB: +(baseline / MiB).toFixed(1),
    maxRssMiB: +(maxRss / MiB).toFixed(1),
    rssGrowthMiB: +(growth / MiB).toFixed(1),
    listenerReceivedMiB: +(received / MiB).toFixed(1),
    senderQueuedMiB: +(queued / MiB).toFixed(1),
    senderAcceptedByKernelMiB: +(acceptedByKernel / MiB).toFixed(1),
    senderBufferedNowMiB: +(bufferedNow / MiB).toFixed(1),
    senderBufferedMinSecondHalfMiB: +(minBuffered / MiB).toFixed(1),
  };
  console.log(`slow-reader measurements: ${JSON.stringify(report)}`);

  // Data flowed at the reader's pace: the relay is not simply stuck.
  assert.ok(received >= 6 * MiB, `listener received only ${report.listenerReceivedMiB} MiB in 10 s`);
  assert.ok(received <= 15 * MiB, `listener received ${report.listenerReceivedMiB} MiB: the reader did not pace itself`);
  if (process.env.SWITCHBOARD_VARIANT === 'sanitize') {
    // ASan's allocator keeps freed memory in quarantine and adds redzones: RSS says nothing about
    // the relay's buffering there. The Release pass asserts the bound.
    console.log(`slow-reader: RSS bound asserted in the Release pass only (ASan build grew ${report.rssGrowthMiB} MiB)`);
  } else {
    assert.ok(growth < HIGH_WATER + 16 * MiB, `server RSS grew by ${report.rssGrowthMiB} MiB (limit: high water + 16 MiB)`);
  }
  // Held back: kernel buffers on both hops hold some tens of MiB at most; 200 MiB is far away.
  assert.ok(queued < TOTAL, 'the sender managed to queue all 200 MiB within 10 s');
  assert.ok(acceptedByKernel < 64 * MiB, `the server accepted ${report.senderAcceptedByKernelMiB} MiB from the sender`);
  assert.ok(minBuffered >= SENDER_BUFFER / 2, `sender buffer drained to ${report.senderBufferedMinSecondHalfMiB} MiB`);

  sender.ws.terminate();
  leg.ws.terminate();
});
