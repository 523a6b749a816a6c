// A WebSocket client over net.Socket for byte-level cases: exact request bytes, frames as sent,
// data after a received Close, custom Close payloads. Every wait has a timeout.
import crypto from 'node:crypto';
import net from 'node:net';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

export function acceptKeyFor(key) {
  return crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
}

function timeoutError(ms, what) {
  return new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// Splits ws://host:port/target without normalising the target: it is sent byte for byte.
function splitUrl(url) {
  const m = /^(?:ws|http):\/\/([^/:]+):(\d+)(\/.*)$/.exec(url);
  if (!m) throw new Error(`raw client needs ws://host:port/target, got ${url}`);
  return { host: m[1], port: Number(m[2]), authority: `${m[1]}:${m[2]}`, target: m[3] };
}

function parseHead(text) {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), statusMessage: m[2] ?? '', headers };
}

// Sends an upgrade request (headers: [name, value] pairs, in order, spelled as given) and
// resolves { status, statusMessage, headers, key, localPort, ws } where ws is a RawWebSocket on 101.
// key: null leaves Sec-WebSocket-Key out.
export function rawUpgrade(url, {
  headers = [], key = crypto.randomBytes(16).toString('base64'), version = '13', timeoutMs = 5000,
} = {}) {
  const { host, port, authority, target } = splitUrl(url);
  const lines = [
    `GET ${target} HTTP/1.1`,
    `Host: ${authority}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    `Sec-WebSocket-Version: ${version}`,
    ...(key === null ? [] : [`Sec-WebSocket-Key: ${key}`]),
    ...headers.map(([n, v]) => `${n}: ${v}`),
  ];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(timeoutError(timeoutMs, `the upgrade response from ${target}`));
    }, timeoutMs);
    const fail = (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error(`connection closed before a complete response to ${target}`)));
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeAllListeners('close');
      socket.removeListener('error', fail);
      let head;
      try {
        head = parseHead(buf.subarray(0, end).toString('latin1'));
      } catch (err) {
        fail(err);
        return;
      }
      const rest = buf.subarray(end + 4);
      const localPort = socket.localPort;
      if (head.status !== 101) {
        socket.on('error', () => {});
        socket.destroy();
        resolve({ ...head, key, localPort, ws: null });
        return;
      }
      if (head.headers['sec-websocket-accept'] !== acceptKeyFor(key)) {
        fail(new Error(`wrong Sec-WebSocket-Accept ${head.headers['sec-websocket-accept']} for key ${key}`));
        return;
      }
      resolve({ ...head, key, localPort, ws: new RawWebSocket(socket, rest) });
    };
    socket.on('data', onData);
  });
}

export class RawWebSocket {
  constructor(socket, initial) {
    this.socket = socket;
    this.buf = initial;
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    this.endWaiters = [];
    socket.on('data', (chunk) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed while waiting for a frame'));
      for (const w of this.endWaiters.splice(0)) w();
    });
    if (initial.length) queueMicrotask(() => this.parse());
  }

  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const maskOff = off;
      if (masked) off += 4;
      if (b.length < off + len) return;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[maskOff + (i & 3)];
      const frame = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 0x7, opcode: b[0] & 0x0f, masked, payload };
      this.buf = b.subarray(off + len);
      const w = this.waiters.shift();
      if (w) w.resolve(frame);
      else this.frames.push(frame);
    }
  }

  nextFrame(timeoutMs = 5000) {
    if (this.frames.length) return Promise.resolve(this.frames.shift());
    if (this.ended) return Promise.reject(new Error('connection closed while waiting for a frame'));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (f) => { clearTimeout(timer); resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(timeoutError(timeoutMs, 'a WebSocket frame'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  // Next message: { type: 'text' | 'binary', data, frames } or { type: 'close', code, reason, frame }.
  // Pings are answered and pongs skipped on the way.
  async readMessage(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    let first = null;
    const parts = [];
    for (;;) {
      const f = await this.nextFrame(left());
      if (f.opcode === OP.PING) {
        this.sendFrame(OP.PONG, f.payload);
        continue;
      }
      if (f.opcode === OP.PONG) continue;
      if (f.opcode === OP.CLOSE) {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
        return { type: 'close', code, reason: f.payload.subarray(2).toString('utf8'), frame: f };
      }
      if (!first) {
        if (f.opcode !== OP.TEXT && f.opcode !== OP.BINARY) throw new Error(`unexpected opcode ${f.opcode} at message start`);
        first = f;
      } else if (f.opcode !== OP.CONT) {
        throw new Error(`opcode ${f.opcode} inside a fragmented message`);
      }
      parts.push(f.payload);
      if (f.fin) {
        return { type: first.opcode === OP.TEXT ? 'text' : 'binary', data: Buffer.concat(parts), frames: parts.length, masked: first.masked };
      }
    }
  }

  sendFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0 } = {}) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const len = data.length;
    const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const frame = Buffer.alloc(head + (mask ? 4 : 0) + len);
    frame[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | opcode;
    frame[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
    if (head === 4) frame.writeUInt16BE(len, 2);
    if (head === 10) frame.writeBigUInt64BE(BigInt(len), 2);
    if (mask) {
      const key = crypto.randomBytes(4);
      key.copy(frame, head);
      for (let i = 0; i < len; i++) frame[head + 4 + i] = data[i] ^ key[i & 3];
    } else {
      data.copy(frame, head);
    }
    this.socket.write(frame);
  }

  sendText(text, opts) { this.sendFrame(OP.TEXT, Buffer.from(text, 'utf8'), opts); }
  sendBinary(data, opts) { this.sendFrame(OP.BINARY, data, opts); }

  sendClose(code, reason = '', opts) {
    if (code === undefined) return this.sendFrame(OP.CLOSE, Buffer.alloc(0), opts);
    const r = Buffer.from(reason, 'utf8');
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    return this.sendFrame(OP.CLOSE, p, opts);
  }

  // Resolves when the peer has closed the TCP connection.
  waitEnd(timeoutMs = 5000) {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(timeoutError(timeoutMs, 'the TCP connection to end')), timeoutMs);
      this.endWaiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  destroy() { this.socket.destroy(); }
}
