// PolySocket in a real headless Chromium (polling.md section 11): a page served by Switchboard
// loads /polysocket.js and talks over each transport (xhr, poll, jsonp, sse) to a `ws` peer on a
// localfirst pipe and to a hyco-ws listener. A screenshot of the page is saved in artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { closeHycoListener, connectUrl, createToken, startHycoListener } from './lib/hc.mjs';
import { ARTIFACTS_DIR, startServer, stopServer } from './lib/server.mjs';

const CHROMIUM = '/usr/bin/chromium';

let server;
let base;
let browser;
let page;
let profile;

before(async () => {
  server = await startServer({ name: 'browser-polling', config: { polling: {} } });
  base = `http://127.0.0.1:${server.port}`;
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-chromium-'));
  // A fresh profile per run (launchPersistentContext owns the --user-data-dir flag).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = browser.pages()[0] ?? await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  // A page served by Switchboard (its dashboard), with the client it serves.
  await page.goto(`${base}/`);
  await page.addScriptTag({ url: `${base}/polysocket.js` });
  await page.evaluate(() => {
    document.body.innerHTML = '<h1>PolySocket over Switchboard</h1><table id="log"></table>';
    window.logRow = (cells) => {
      const tr = document.getElementById('log').insertRow();
      for (const c of cells) tr.insertCell().textContent = c;
    };
  });
});

after(async () => {
  if (page) {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'polling-browser.png'), fullPage: true }).catch(() => {});
  }
  await browser?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await stopServer(server, assert);
});

// In the page: opens a PolySocket, sends a text and a binary message, collects what comes back,
// and closes with (code, reason) unless the far end closes first.
async function exchangeInPage(target, transport, { closeCode, expect = 2 } = {}) {
  return page.evaluate(async ({ target, transport, closeCode, expect }) => {
    const socket = new PolySocket(target, { transport, timeout: 5000 });
    socket.binaryType = 'arraybuffer';
    const got = [];
    const events = [];
    const closed = new Promise((resolve) => {
      socket.onclose = (e) => { events.push('close'); resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }); };
    });
    socket.onerror = () => events.push('error');
    await new Promise((resolve, reject) => {
      socket.onopen = () => { events.push('open'); resolve(); };
      setTimeout(() => reject(new Error(`${transport}: no open`)), 5000);
    });
    const received = new Promise((resolve) => {
      socket.onmessage = (e) => {
        got.push(typeof e.data === 'string' ? `text:${e.data}` : `binary:${Array.from(new Uint8Array(e.data)).join(',')}`);
        if (got.length === expect) resolve();
      };
    });
    socket.send(`hello over ${transport}`);
    socket.send(new Uint8Array([1, 2, 3, 250]).buffer);
    await Promise.race([received, new Promise((r) => setTimeout(r, 5000))]);
    if (closeCode) socket.close(closeCode, 'bye from the page');
    const end = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), 8000))]);
    window.logRow([transport, target.split('?')[0], got.join(' | '), JSON.stringify(end)]);
    return { got, end, events };
  }, { target, transport, closeCode, expect });
}

// A `ws` peer holding one side of a localfirst pipe; it echoes, and may close on its own.
async function echoPeer(doc, { closeAfter } = {}) {
  const peer = new WebSocket(`ws://127.0.0.1:${server.port}/connection/alice/bob/${doc}`, { perMessageDeflate: false });
  let count = 0;
  peer.on('message', (data, isBinary) => {
    peer.send(data, { binary: isBinary });
    count += 1;
    if (closeAfter && count === closeAfter) setTimeout(() => peer.close(4001, 'closed by the peer'), 100);
  });
  const closed = new Promise((resolve) => peer.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => { peer.once('open', resolve); peer.once('error', reject); });
  return { peer, closed };
}

for (const transport of ['xhr', 'poll', 'jsonp', 'sse']) {
  test(`${transport}: text and binary both ways; close() from the page reaches the peer`, async () => {
    const doc = `page-${transport}`;
    const { closed } = await echoPeer(doc);
    const r = await exchangeInPage(`ws://127.0.0.1:${server.port}/connection/bob/alice/${doc}`, transport, { closeCode: 4000 });
    assert.deepEqual(r.got, [`text:hello over ${transport}`, 'binary:1,2,3,250']);
    assert.deepEqual(await closed, { code: 4000, reason: 'bye from the page' });
    assert.equal(r.end.code, 4000);
    assert.equal(r.end.wasClean, true);
    assert.deepEqual(r.events, ['open', 'close']);
  });

  test(`${transport}: a close by the far end fires close with its code and reason`, async () => {
    const doc = `far-${transport}`;
    await echoPeer(doc, { closeAfter: 2 });
    const r = await exchangeInPage(`ws://127.0.0.1:${server.port}/connection/bob/alice/${doc}`, transport);
    assert.equal(r.got.length, 2);
    assert.deepEqual(r.end, { code: 4001, reason: 'closed by the peer', wasClean: true });
  });
}

test('a page reaches a Hybrid Connections listener (hyco-ws) through PolySocket', async () => {
  const entity = 'browser-echo';
  const listener = await startHycoListener(server.port, entity, (ws) => ws.on('message', (m) => ws.send(m)));
  try {
    const target = `${connectUrl(server.port, entity)}&sb-hc-token=${encodeURIComponent(createToken(server.port, entity))}`;
    const r = await exchangeInPage(target, 'xhr', { closeCode: 1000 });
    assert.equal(r.got[0], 'text:hello over xhr');
    assert.equal(r.got.length, 2);
    assert.equal(r.end.code, 1000);
  } finally {
    await closeHycoListener(listener);
  }
});

test('a target that is not allowed fires error, then close 1006', async () => {
  const r = await page.evaluate(async () => {
    const events = [];
    const socket = new PolySocket('ws://example.com/socket');
    return new Promise((resolve) => {
      socket.onerror = () => events.push('error');
      socket.onclose = (e) => { events.push(`close ${e.code} ${e.wasClean}`); resolve(events); };
    });
  });
  assert.deepEqual(r, ['error', 'close 1006 false']);
});
