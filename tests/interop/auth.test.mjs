// SAS authentication on E1 and E5 (section 2): failures with their status and reason phrase
// (section 2.8), token sources (section 2.6), token forms (section 2.9), entity-scoped rules.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  closeHycoListener, connectUrl, createToken, hycoConnect, listenUrl, openControl, startHycoListener,
  tokenQuery, wsConnect,
} from './lib/hc.mjs';
import { KEY, KEY_NAME, startServer, stopServer } from './lib/server.mjs';

const SCOPED = { entity: 'scoped', rule: 'scoped-send', key: 'sendkey' };

let server;
let listener;
const ENTITY = 'authhc';

before(async () => {
  server = await startServer({
    name: 'auth',
    config: {
      entities: [{ path: SCOPED.entity, rules: [{ name: SCOPED.rule, key: SCOPED.key, rights: ['Send'] }] }],
    },
  });
  // Senders below need a listener, so that admission reaches the auth check's answer or success.
  listener = await startHycoListener(server.port, ENTITY, (sock) => sock.on('open', () => sock.send('ok')));
});
after(async () => {
  if (listener) await closeHycoListener(listener);
  await stopServer(server, assert);
});

const PHRASE = {
  noToken: 'Unauthorized: no security token was supplied.',
  malformed: 'Unauthorized: the security token is malformed or names an unknown key.',
  badSig: 'The token has an invalid signature.',
  expired: 'The token has expired.',
  audience: 'InvalidAudience: the token is not valid for this path.',
  noListen: 'The token does not grant the Listen right.',
  noSend: 'The token does not grant the Send right.',
};

// Signs a token from a raw sr exactly as section 2.2 states, for forms createRelayToken cannot make.
function signToken(rawSr, { se = Math.floor(Date.now() / 1000) + 3600, keyName = KEY_NAME, key = KEY } = {}) {
  const sig = crypto.createHmac('sha256', key).update(`${rawSr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${rawSr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${keyName}`;
}

async function expectRefused(t, tracked, status, phrase) {
  t.after(() => tracked.ws.terminate());
  const r = await tracked.refused();
  assert.equal(r.status, status, `${r.status} ${r.statusMessage}`);
  assert.ok(r.statusMessage.startsWith(phrase), `reason "${r.statusMessage}" should start with "${phrase}"`);
}

async function expectSenderWorks(t, tracked) {
  t.after(() => tracked.ws.terminate());
  await tracked.opened();
  assert.equal(String((await tracked.next()).data), 'ok');
}

const sendUrl = (extra) => connectUrl(server.port, ENTITY, { extra });
const sender = (token) => hycoConnect(sendUrl(), token);

test('sender without a token: 401', { timeout: 15_000 }, async (t) => {
  await expectRefused(t, sender(null), 401, PHRASE.noToken);
});

test('sender with a bad signature: 401', { timeout: 15_000 }, async (t) => {
  await expectRefused(t, sender(createToken(server.port, ENTITY, { key: 'not-the-key' })), 401, PHRASE.badSig);
});

test('sender with an unknown key name (skn): 401', { timeout: 15_000 }, async (t) => {
  await expectRefused(t, sender(createToken(server.port, ENTITY, { keyName: 'NoSuchRule' })), 401, PHRASE.malformed);
});

test('sender with a non-SAS or malformed token: 401', { timeout: 15_000 }, async (t) => {
  // Section 2.6: a value that is not a SAS token => 401.
  await expectRefused(t, sender('Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'), 401, PHRASE.malformed);
  // Section 2.3: missing se => 401.
  const noSe = createToken(server.port, ENTITY).replace(/&se=\d+/, '');
  await expectRefused(t, sender(noSe), 401, PHRASE.malformed);
});

test('sender with an expired token: 401', { timeout: 15_000 }, async (t) => {
  // se 600 s in the past: beyond the default token_grace of 300 s (section 2.7).
  await expectRefused(t, sender(createToken(server.port, ENTITY, { seconds: -600 })), 401, PHRASE.expired);
});

test('sender with a token for another path: 403 InvalidAudience', { timeout: 15_000 }, async (t) => {
  await expectRefused(t, sender(createToken(server.port, 'otherhc')), 403, PHRASE.audience);
  // Section 2.4: prefixes end at a '/' boundary, so "auth" does not cover "authhc".
  await expectRefused(t, sender(createToken(server.port, 'auth')), 403, PHRASE.audience);
  // A token for a deeper path does not cover the entity itself.
  await expectRefused(t, sender(createToken(server.port, `${ENTITY}/deeper`)), 403, PHRASE.audience);
});

test('token in the sb-hc-token query parameter works for sender and listener', { timeout: 15_000 }, async (t) => {
  await expectSenderWorks(t, hycoConnect(sendUrl(tokenQuery(createToken(server.port, ENTITY))), null));
  const cc = await openControl(server.port, 'query-listener', {
    useHeader: false, query: tokenQuery(createToken(server.port, 'query-listener')),
  });
  t.after(() => cc.ws.terminate());
  const s = hycoConnect(connectUrl(server.port, 'query-listener'), createToken(server.port, 'query-listener'));
  t.after(() => s.ws.terminate());
  const accept = await cc.nextAccept();
  assert.ok(accept.address.includes('sb-hc-action=accept'));
});

test('token forms of section 2.9 are accepted', { timeout: 30_000 }, async (t) => {
  const host = `127.0.0.1%3A${server.port}`;
  const forms = {
    'namespace-wide (createRelayToken without path)': createToken(server.port, ''),
    'lower-case hex sr (V5)': signToken(`http%3a%2f%2f127.0.0.1%3a${server.port}%2f${ENTITY}`),
    '.NET style, trailing slash, no port (V6)': signToken(`http%3A%2F%2F127.0.0.1%2F${ENTITY}%2F`),
    'sb scheme': signToken(`sb%3A%2F%2F${host}%2F${ENTITY}`),
    '$hc kept in the path': signToken(`http%3A%2F%2F${host}%2F%24hc%2F${ENTITY}`),
    'upper-case entity': signToken(`http%3A%2F%2F${host}%2F${ENTITY.toUpperCase()}`),
    'fields reordered, lower-case prefix': (() => {
      const tok = createToken(server.port, ENTITY);
      const fields = Object.fromEntries(tok.slice('SharedAccessSignature '.length).split('&').map((f) => f.split(/=(.*)/s)));
      return `sharedaccesssignature skn=${fields.skn}&se=${fields.se}&sig=${fields.sig}&sr=${fields.sr}&extra=1`;
    })(),
  };
  for (const [name, token] of Object.entries(forms)) {
    await t.test(name, async (tt) => {
      await expectSenderWorks(tt, sender(token));
    });
  }
});

test('listener: missing, bad, expired tokens get 401; a token for another path 403', { timeout: 15_000 }, async (t) => {
  const entity = 'listen-auth';
  const url = listenUrl(server.port, entity);
  await expectRefused(t, wsConnect(url), 401, PHRASE.noToken);
  await expectRefused(t, wsConnect(url, {
    headers: { ServiceBusAuthorization: createToken(server.port, entity, { key: 'not-the-key' }) },
  }), 401, PHRASE.badSig);
  await expectRefused(t, wsConnect(url, {
    headers: { ServiceBusAuthorization: createToken(server.port, entity, { seconds: -600 }) },
  }), 401, PHRASE.expired);
  await expectRefused(t, wsConnect(url, {
    headers: { ServiceBusAuthorization: createToken(server.port, 'not-this-one') },
  }), 403, PHRASE.audience);
});

test('entity-scoped Send-only rule: cannot listen (403), can send, unknown elsewhere (401)', { timeout: 15_000 }, async (t) => {
  const scopedToken = (path) => createToken(server.port, path, { keyName: SCOPED.rule, key: SCOPED.key });
  await expectRefused(t, wsConnect(listenUrl(server.port, SCOPED.entity), {
    headers: { ServiceBusAuthorization: scopedToken(SCOPED.entity) },
  }), 403, PHRASE.noListen);

  const l = await startHycoListener(server.port, SCOPED.entity, (sock) => sock.on('open', () => sock.send('ok')));
  t.after(() => closeHycoListener(l));
  await expectSenderWorks(t, hycoConnect(connectUrl(server.port, SCOPED.entity), scopedToken(SCOPED.entity)));

  // Section 2.3/2.5: an entity rule is only in scope for its entity; elsewhere its skn is unknown.
  await expectRefused(t, sender(scopedToken(ENTITY)), 401, PHRASE.malformed);
});
