// A device behind NAT: keeps a control channel open to Switchboard and connects every bridge it
// is asked for to a local TCP service.
//   node device.js RELAY_URL DEVICE_ID DEVICE_KEY [HOST:PORT]     (default 127.0.0.1:22)
const net = require('node:net');
const WebSocket = require('ws');
const pipe = require('./pipe');

const [relay, deviceId, deviceKey, service = '127.0.0.1:22'] = process.argv.slice(2);
if (!relay || !deviceId || !deviceKey) {
  console.error('usage: node device.js RELAY_URL DEVICE_ID DEVICE_KEY [HOST:PORT]');
  process.exit(2);
}
const colon = service.lastIndexOf(':');
const host = service.slice(0, colon);
const port = Number(service.slice(colon + 1));

function accept({ acceptUrl, requestData }) {
  console.log(`device: bridge requested (requestData ${JSON.stringify(requestData)}), connecting ${service}`);
  const tcp = net.connect({ host, port, allowHalfOpen: true });
  const ws = new WebSocket(acceptUrl, { perMessageDeflate: false });
  ws.on('unexpected-response', (_, res) => console.error(`device: accept refused: ${res.statusCode} ${res.statusMessage}`));
  tcp.on('error', (e) => console.error(`device: ${service}: ${e.message}`));
  pipe(ws, tcp);
}

// Reconnects with jittered exponential backoff, 1 s doubling to 60 s (bridge.md section 7.3).
function connect(delay = 1000) {
  const url = `${relay}/bridge/device/${encodeURIComponent(deviceId)}`;
  const ws = new WebSocket(url, { headers: { 'X-Device-Key': deviceKey }, perMessageDeflate: false });
  let opened = false;
  ws.on('open', () => { opened = true; console.log(`device: control channel open as '${deviceId}'`); });
  ws.on('message', (data) => {
    let message;
    try { message = JSON.parse(data); } catch { return; }
    if (message.bridge) accept(message.bridge);
    if (message.cancel) console.log(`device: request cancelled (${message.cancel.reason})`);
  });
  ws.on('unexpected-response', (_, res) => {
    console.error(`device: control channel refused: ${res.statusCode} ${res.statusMessage}`);
    ws.terminate();
  });
  ws.on('error', (e) => { if (!/closed before/.test(e.message)) console.error(`device: ${e.message}`); });
  ws.once('close', (code, reason) => {
    const next = opened ? 1000 : Math.min(delay * 2, 60_000);
    const wait = Math.round((opened ? 1000 : delay) * (0.5 + Math.random() / 2));
    console.log(`device: control channel closed (${code} ${reason}); reconnecting in ${(wait / 1000).toFixed(1)} s`);
    setTimeout(() => connect(next), wait);
  });
}

connect();
