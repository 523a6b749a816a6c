// HTTP relaying helpers (section 5): the real hyco-https 1.4.5 listener, Node http senders, and
// curl. Every wait has a timeout.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import { createToken, listenUrl, withTimeout } from './hc.mjs';

const require = createRequire(import.meta.url);
export const hycoHttps = require('hyco-https');

// A hyco-https listener on `entity`; resolves once its control channel is open.
export async function startHttpsListener(port, entity, handler, { ms = 5000, query = '' } = {}) {
  const url = listenUrl(port, entity, query);
  const server = hycoHttps.createRelayedServer({ server: url, token: () => createToken(port, entity) }, handler);
  const errors = [];
  server.on('error', (e) => errors.push(e));
  const listening = new Promise((resolve) => server.once('listening', resolve));
  server.listen();
  try {
    await withTimeout(listening, ms, `hyco-https listener on ${entity}`);
  } catch (err) {
    closeHttpsListener(server);
    throw new Error(`${err.message}; errors: ${errors.map((e) => e.message || e).join('; ')}`);
  }
  return server;
}

// Stops a hyco-https listener for good (it reconnects after every close unless told to stop).
export async function closeHttpsListener(server, ms = 3000) {
  const closed = new Promise((resolve) => server.once('close', () => resolve(true)));
  try {
    server.close();
  } catch {
    return false;
  }
  return withTimeout(closed, ms, 'the hyco-https listener to close').catch(() => false);
}

// An echo handler: method, url, headers and a body summary as JSON, plus whatever `extra` adds.
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// One request with Node http. Resolves { status, statusMessage, headers, body: Buffer }.
// body: Buffer | string | async iterable; agent: false gives each request its own connection.
export function send(port, path, { method = 'GET', headers = {}, body, agent = false, timeoutMs = 10_000 } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, statusMessage: res.statusMessage, headers: res.headers, body: Buffer.concat(chunks),
      }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
    if (body === undefined) {
      req.end();
    } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      (async () => {
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(reject);
    }
  }), timeoutMs, `${method} ${path}`);
}

// Token for an HTTP sender (sr = http://127.0.0.1:PORT/entity).
export const sendToken = (port, entity) => createToken(port, entity);

// Runs curl; resolves { code, stdout: Buffer, stderr }.
export function curl(args, { timeoutMs = 20_000 } = {}) {
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'buffer', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
  });
}
