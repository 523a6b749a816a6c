// The C++ client side: the example consumer built against the installed Switchboard::client
// package, and processes (relay-echo, `switchboard listen|connect|forward`) whose output lines
// the tests wait on.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ARTIFACTS_DIR, REPO_DIR, SERVER_BIN } from './server.mjs';
import { withTimeout } from './hc.mjs';

const run = promisify(execFile);
const SANITIZE = process.env.SWITCHBOARD_VARIANT === 'sanitize';

// cmake --install of the build that made SERVER_BIN, then examples/client built against it.
// Resolves the path of relay-echo.
export async function buildExample() {
  const buildDir = path.dirname(SERVER_BIN);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-example-'));
  const prefix = path.join(work, 'prefix');
  const out = path.join(work, 'build');
  await run('cmake', ['--install', buildDir, '--prefix', prefix]);
  const flags = SANITIZE ? ['-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined', '-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined'] : [];
  await run('cmake', ['-S', path.join(REPO_DIR, 'examples', 'client'), '-B', out, '-G', 'Ninja',
    `-DCMAKE_BUILD_TYPE=${SANITIZE ? 'Debug' : 'Release'}`, `-DCMAKE_PREFIX_PATH=${prefix}`, ...flags]);
  await run('cmake', ['--build', out], { maxBuffer: 16 * 1024 * 1024 });
  return { bin: path.join(out, 'relay-echo'), work };
}

// A process whose stdout and stderr lines are kept; waitLine resolves the first line matching
// `pattern` that arrived after the previous match (or from the start with { from: 0 }).
export function startProcess(bin, args, { name = path.basename(bin), stdin = 'ignore', env } = {}) {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const log = fs.createWriteStream(path.join(ARTIFACTS_DIR, `${name}.log`));
  log.write(`# ${bin} ${args.join(' ')}\n`);
  const proc = spawn(bin, args, { stdio: [stdin, 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  const lines = [];
  const waiters = [];
  const stdoutChunks = [];
  let exit = null;
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    exit = { code, signal };
    log.end();
    resolve(exit);
    for (const w of waiters.splice(0)) w();
  }));
  const collect = (stream, keep) => {
    let partial = '';
    stream.on('data', (chunk) => {
      log.write(chunk);
      if (keep) stdoutChunks.push(chunk);
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop();
      lines.push(...parts);
      for (const w of waiters.splice(0)) w();
    });
  };
  collect(proc.stdout, true);
  collect(proc.stderr, false);
  let cursor = 0;
  return {
    name,
    proc,
    lines,
    exited,
    stdout: () => Buffer.concat(stdoutChunks),
    async waitLine(pattern, ms = 10_000, { from } = {}) {
      if (from !== undefined) cursor = from;
      const find = () => {
        for (let i = cursor; i < lines.length; ++i) {
          if (pattern.test(lines[i])) {
            cursor = i + 1;
            return lines[i];
          }
        }
        return null;
      };
      return withTimeout(new Promise((resolve, reject) => {
        const check = () => {
          const line = find();
          if (line !== null) return resolve(line);
          if (exit) return reject(new Error(`${name} exited (${exit.code ?? exit.signal}) before printing ${pattern}:\n${lines.slice(-15).join('\n')}`));
          waiters.push(check);
        };
        check();
      }), ms, `${name} to print ${pattern}; last lines:\n${lines.slice(-10).join('\n')}`);
    },
    async stop(signal = 'SIGTERM') {
      if (exit) return exit;
      proc.kill(signal);
      return withTimeout(exited, 10_000, `${name} to exit`).catch(() => {
        proc.kill('SIGKILL');
        return exited;
      });
    },
  };
}

// `switchboard ARGS...` (the client subcommands).
let started = 0;
export function startSwitchboard(args, options = {}) {
  return startProcess(SERVER_BIN, args, { name: `switchboard-${args[0]}-${++started}`, ...options });
}

// Runs a program to completion: { code, stdout, stderr }.
export async function runProgram(bin, args, { timeoutMs = 10_000 } = {}) {
  try {
    const { stdout, stderr } = await run(bin, args, { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export const runSwitchboard = (args, options) => runProgram(SERVER_BIN, args, options);

// FNV-1a 32-bit as relay-echo computes it.
export function fnv1a(buf) {
  let h = 0x811c9dc5;
  for (const b of buf) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}
