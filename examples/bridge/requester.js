// The requester's end: a local TCP port whose every connection is bridged to the device.
//   node requester.js RELAY_URL API_KEY DEVICE_ID LOCAL_PORT [REQUEST_DATA]
const net = require('node:net');
const WebSocket = require('ws');
const pipe = require('./pipe');

const [relay, apiKey, deviceId, localPort, requestData] = process.argv.slice(2);
if (!relay || !apiKey || !deviceId || !localPort) {
  console.error('usage: node requester.js RELAY_URL API_KEY DEVICE_ID LOCAL_PORT [REQUEST_DATA]');
  process.exit(2);
}

const server = net.createServer({ allowHalfOpen: true }, (tcp) => {
  let url = `${relay}/bridge/connect?deviceId=${encodeURIComponent(deviceId)}`;
  if (requestData !== undefined) url += `&requestData=${encodeURIComponent(requestData)}`;
  const ws = new WebSocket(url, { headers: { 'X-Api-Key': apiKey }, perMessageDeflate: false });
  ws.on('unexpected-response', (_, res) => {
    console.error(`requester: refused: ${res.statusCode} ${res.statusMessage}`);
    ws.terminate();
    tcp.destroy();
  });
  ws.on('close', (code, reason) => {
    if (code !== 1000) console.error(`requester: bridge closed: ${code} ${reason}`);
  });
  tcp.on('error', () => {});
  pipe(ws, tcp);
});
server.listen(Number(localPort), '127.0.0.1', () => {
  console.log(`requester: 127.0.0.1:${server.address().port} now leads to device '${deviceId}'`);
});
