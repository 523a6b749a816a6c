// Starts and stops a Switchboard process for one test file, and reads its memory use.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const INTEROP_DIR = path.resolve(HERE, '..');
export const REPO_DIR = path.resolve(INTEROP_DIR, '..', '..');
export const ARTIFACTS_DIR = path.join(INTEROP_DIR, 'artifacts');

export const SERVER_BIN = process.env.SWITCHBOARD_BIN || path.join(REPO_DIR, 'build', 'release', 'switchboard');
export const KEY_NAME = 'RootManageSharedAccessKey';
export const KEY = 'testkey';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 15_000;

// Every test runs from 127.0.0.1 and many of them fail handshakes on purpose; the per-source
// throttle (configuration.md [limits]) would otherwise delay those answers by seconds.
const BASE_LIMITS = {
  failed_handshakes_before_delay: 1_000_000,
  max_pending_handshakes_per_source: 4096,
};

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  throw new TypeError(`cannot write ${typeof v} to TOML`);
}

function tomlPairs(obj) {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined && !(Array.isArray(v) && typeof v[0] === 'object'))
    .map(([k, v]) => `${k} = ${tomlValue(v)}\n`)
    .join('');
}

// Renders { top-level keys, limits: {}, localfirst: {}, bridge: { webhook: {}, device_keys: {} },
// hybrid: {}, entities: [{ path, ..., rules: [] }] } as TOML. The [localfirst] and [bridge] tables
// are written only when given.
export function renderConfig({ limits = {}, hybrid = {}, entities = [], localfirst, bridge, polling, ...top } = {}) {
  let out = tomlPairs(top);
  out += `\n[limits]\n${tomlPairs({ ...BASE_LIMITS, ...limits })}`;
  if (localfirst) out += `\n[localfirst]\n${tomlPairs(localfirst)}`;
  if (polling) out += `\n[polling]\n${tomlPairs(polling)}`;
  if (bridge) {
    const { webhook, device_keys: deviceKeys, ...rest } = bridge;
    out += `\n[bridge]\n${tomlPairs(rest)}`;
    if (webhook) out += `\n[bridge.webhook]\n${tomlPairs(webhook)}`;
    if (deviceKeys) {
      out += '\n[bridge.device_keys]\n';
      for (const [id, key] of Object.entries(deviceKeys)) out += `${JSON.stringify(id)} = ${JSON.stringify(key)}\n`;
    }
  }
  out += `\n[hybrid]\n${tomlPairs(hybrid)}`;
  for (const { rules = [], ...entity } of entities) {
    out += `\n[[hybrid.entities]]\n${tomlPairs(entity)}`;
    for (const rule of rules) out += `\n[[hybrid.entities.rules]]\n${tomlPairs(rule)}`;
  }
  return out;
}

export function writeConfig(config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-interop-'));
  const file = path.join(dir, 'switchboard.toml');
  fs.writeFileSync(file, renderConfig(config));
  return file;
}

export function readRssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

function tail(text, lines = 30) {
  return text.split('\n').slice(-lines).join('\n');
}

// Starts `switchboard serve` on a free loopback port (or on listen, e.g. '127.0.0.1:PORT' to reuse
// the port of a stopped server). name labels the log file in artifacts/.
export async function startServer({ name = 'switchboard', config = {}, extraArgs = [], listen = '127.0.0.1:0' } = {}) {
  try {
    fs.accessSync(SERVER_BIN, fs.constants.X_OK);
  } catch {
    throw new Error(
      `Switchboard binary not found or not executable: ${SERVER_BIN}\n` +
        'Build it first (build/release/switchboard) or point SWITCHBOARD_BIN at it.',
    );
  }
  const configFile = writeConfig(config);
  const args = [
    'serve', '--listen', listen, '--sas-key', `${KEY_NAME}=${KEY}`,
    '--log-level', 'debug', '--config', configFile, ...extraArgs,
  ];
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const logPath = path.join(ARTIFACTS_DIR, `${name}.log`);
  const log = fs.createWriteStream(logPath);
  log.write(`# ${SERVER_BIN} ${args.join(' ')}\n# config:\n${fs.readFileSync(configFile, 'utf8')}\n`);

  const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let recent = '';
  const remember = (chunk) => {
    log.write(chunk);
    recent = (recent + chunk.toString('utf8')).slice(-16_384);
  };
  proc.stderr.on('data', remember);

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  exited.then(() => {
    log.end();
    fs.rmSync(path.dirname(configFile), { recursive: true, force: true });
  });

  const port = await new Promise((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server printed no "listening on 127.0.0.1:PORT" within ${START_TIMEOUT_MS} ms\n${tail(recent)}`));
    }, START_TIMEOUT_MS);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${SERVER_BIN}: ${err.message}`));
    });
    proc.stdout.on('data', (chunk) => {
      remember(chunk);
      if (pending === null) return;
      pending += chunk.toString('utf8').replace(/\x1b\[[0-9;]*m/g, '');
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(pending);
      if (m) {
        pending = null;
        clearTimeout(timer);
        resolve(Number(m[1]));
      } else {
        pending = pending.slice(-4096);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (code ${code}, signal ${signal})\n${tail(recent)}`));
    });
  });

  return {
    port,
    pid: proc.pid,
    proc,
    logPath,
    exited,
    isAlive: () => exitInfo === null,
    rss: () => readRssBytes(proc.pid),
    recentLog: () => tail(recent),
    // SIGTERM, then SIGKILL after 15 s; resolves { code, signal, killed, early }.
    async stop() {
      if (exitInfo) return { ...exitInfo, killed: false, early: true };
      proc.kill('SIGTERM');
      let timer;
      const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS); });
      const info = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (info) return { ...info, killed: false, early: false };
      proc.kill('SIGKILL');
      return { ...(await exited), killed: true, early: false };
    },
  };
}

// Stops the server and explains a non-zero exit. Use in after().
export async function stopServer(server, assert) {
  if (!server) return;
  const r = await server.stop();
  assert.ok(!r.early, `server exited during the tests (code ${r.code}, signal ${r.signal}); log: ${server.logPath}`);
  assert.ok(!r.killed, `server still alive ${STOP_TIMEOUT_MS} ms after SIGTERM; killed; log: ${server.logPath}`);
  assert.equal(r.code, 0, `server exit code after SIGTERM (signal ${r.signal}); log: ${server.logPath}\n${server.recentLog()}`);
}
