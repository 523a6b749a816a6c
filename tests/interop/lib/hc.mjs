// Hybrid Connections helpers: tokens, URLs (section 8.2), and waiting on hyco-ws / ws 8 sockets
// with a timeout on every wait.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { KEY, KEY_NAME } from './server.mjs';

const require = createRequire(import.meta.url);
// hyco-ws 1.0.5 is CommonJS; its exports are its bundled ws 1.1.5 class plus the relay helpers.
export const hyco = require('hyco-ws');
export { WebSocket };

export const MiB = 1024 * 1024;

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Token audience: the http form that hyco-ws createRelayToken produces anyway (section 2.9).
export const resourceUri = (port, path) => `http://127.0.0.1:${port}/${path}`;

export function createToken(port, path, { seconds, keyName = KEY_NAME, key = KEY } = {}) {
  return hyco.createRelayToken(resourceUri(port, path), keyName, key, seconds);
}

// E1: /$hc/{entity}?sb-hc-action=listen[&extra]
export function listenUrl(port, entity, extra = '') {
  return `ws://127.0.0.1:${port}/$hc/${entity}?sb-hc-action=listen${extra ? `&${extra}` : ''}`;
}

// E5: /$hc/{entity}{suffix}?[{app-query}&]sb-hc-action=connect[&extra]
export function connectUrl(port, pathAndSuffix, { appQuery = '', extra = '' } = {}) {
  const q = `${appQuery ? `${appQuery}&` : ''}sb-hc-action=connect${extra ? `&${extra}` : ''}`;
  return `ws://127.0.0.1:${port}/$hc/${pathAndSuffix}?${q}`;
}

export const tokenQuery = (token) => `sb-hc-token=${encodeURIComponent(token)}`;

// Both ws 8 (data, isBinary) and ws 1.1 (data, flags) message signatures.
function normalise(data, arg) {
  const binary = typeof arg === 'boolean' ? arg : Boolean(arg && arg.binary);
  return { data, binary };
}

// Records everything a socket emits from the moment it is created, so no event is missed.
export function track(ws) {
  const messages = [];
  const state = { opened: false, closed: null, errors: [], response: null };
  const checks = [];
  const notify = () => {
    for (const check of checks.splice(0)) check();
  };
  ws.on('open', () => { state.opened = true; notify(); });
  ws.on('message', (data, arg) => { messages.push(normalise(data, arg)); notify(); });
  ws.on('close', (code, reason) => {
    state.closed = { code, reason: Buffer.isBuffer(reason) ? reason.toString('utf8') : String(reason ?? '') };
    notify();
  });
  ws.on('error', (err) => { state.errors.push(err); notify(); });
  ws.on('unexpected-response', (req, res) => {
    state.response = { status: res.statusCode, statusMessage: res.statusMessage, headers: res.headers };
    res.resume();
    req.destroy();
    notify();
  });
  const waitFor = (cond, ms, what) => {
    if (cond()) return Promise.resolve();
    return withTimeout(new Promise((resolve) => {
      const check = () => (cond() ? resolve() : checks.push(check));
      checks.push(check);
    }), ms, what);
  };
  const failure = () =>
    state.response ? `upgrade refused: ${state.response.status} ${state.response.statusMessage}`
      : state.errors.length ? `error: ${state.errors[0].message || state.errors[0]}`
        : state.closed ? `closed ${state.closed.code} ${state.closed.reason}` : 'no event';
  return {
    ws,
    messages,
    state,
    // Resolves when open; rejects on refusal, error or close before open.
    async opened(ms = 5000) {
      await waitFor(() => state.opened || state.response || state.closed || state.errors.length, ms, 'the WebSocket to open');
      if (!state.opened) throw new Error(`WebSocket did not open: ${failure()}`);
    },
    // Resolves { status, statusMessage, headers } of a refused upgrade.
    async refused(ms = 5000) {
      await waitFor(() => state.response || state.opened || state.closed, ms, 'the upgrade to be refused');
      if (state.response) return state.response;
      throw new Error(state.opened ? 'upgrade unexpectedly succeeded' : `no HTTP response: ${failure()}`);
    },
    // Resolves { code, reason } of the close event.
    async closed(ms = 5000) {
      await waitFor(() => state.closed, ms, 'the WebSocket to close');
      return state.closed;
    },
    // Next message { data, binary }, in arrival order; rejects if the socket closes first.
    async next(ms = 5000) {
      await waitFor(() => messages.length || state.closed, ms, 'a message');
      if (!messages.length) throw new Error(`closed while waiting for a message: ${failure()}`);
      return messages.shift();
    },
  };
}

// ws 8 client with the settings the tests use everywhere.
export function wsConnect(url, { protocols, headers, ...opts } = {}) {
  return track(new WebSocket(url, protocols, { perMessageDeflate: false, headers, ...opts }));
}

// A ws 8 control channel (E1) that exposes the raw JSON it receives.
export async function openControl(port, entity, { token = createToken(port, entity), query = '', useHeader = true } = {}) {
  const headers = useHeader && token ? { ServiceBusAuthorization: token } : {};
  const t = wsConnect(listenUrl(port, entity, query), { headers });
  await t.opened();
  return {
    ...t,
    // Next control message, parsed; asserts it is one text JSON message (section 3.5).
    async nextCommand(ms = 5000) {
      const m = await t.next(ms);
      if (m.binary) throw new Error('binary message on the control channel');
      return JSON.parse(m.data.toString('utf8'));
    },
    async nextAccept(ms = 5000) {
      const cmd = await this.nextCommand(ms);
      if (!cmd.accept) throw new Error(`expected accept, got ${JSON.stringify(cmd)}`);
      return cmd.accept;
    },
  };
}

// A hyco-ws 1.0.5 listener; resolves once its control channel is open.
export async function startHycoListener(port, entity, onConnection, { ms = 5000 } = {}) {
  const url = listenUrl(port, entity);
  // A token function, as section 8.2 recommends, so that the listener would renew.
  const server = hyco.createRelayedServer({ server: url, token: () => createToken(port, entity) }, onConnection);
  const errors = [];
  server.on('error', (e) => errors.push(e));
  try {
    await withTimeout(new Promise((resolve) => server.once('listening', resolve)), ms, `hyco-ws listener on ${entity}`);
  } catch (err) {
    closeHycoListener(server);
    throw new Error(`${err.message}; errors: ${errors.map((e) => e.message || e).join('; ')}`);
  }
  return server;
}

// Stops a hyco-ws listener for good (it reconnects after every close unless told to stop).
// Resolves true once its control channel's closing handshake is complete.
export async function closeHycoListener(server, ms = 3000) {
  if (server.closeRequested) return true;
  const closed = new Promise((resolve) => server.once('close', () => resolve(true)));
  try {
    server.close();
  } catch {
    return false;
  }
  return withTimeout(closed, ms, 'the hyco-ws listener to close').catch(() => false);
}

// A hyco-ws relayedConnect sender, tracked.
export function hycoConnect(url, token) {
  return track(hyco.relayedConnect(url, token));
}

export function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

export function headerValue(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

// Relays one ws sender through an open control channel (openControl); the listener leg is a
// plain ws client on the accept address. Resolves { sender, leg } once both are open.
export async function relayThrough(t, port, control, entity) {
  const sender = wsConnect(connectUrl(port, entity), {
    headers: { ServiceBusAuthorization: createToken(port, entity) },
  });
  t.after(() => sender.ws.terminate());
  const accept = await control.nextAccept();
  const leg = wsConnect(accept.address);
  t.after(() => leg.ws.terminate());
  await leg.opened();
  await sender.opened();
  return { sender, leg };
}
