// Joins a TCP socket and a bridge WebSocket as one byte stream (bridge.md section 9): TCP bytes go
// out as binary messages, a zero-length message is EOF both ways (TCP half-close), and each side
// waits for the other when it falls behind.
const WebSocket = require('ws');

const MAX_UNACKED_SENDS = 16;

module.exports = function pipe(ws, tcp) {
  let unacked = 0;
  tcp.pause();  // until the WebSocket is open
  const start = () => tcp.resume();
  if (ws.readyState === WebSocket.OPEN) start(); else ws.once('open', start);

  tcp.on('data', (chunk) => {
    unacked += 1;
    if (unacked >= MAX_UNACKED_SENDS) tcp.pause();
    ws.send(chunk, () => {
      unacked -= 1;
      if (unacked < MAX_UNACKED_SENDS / 2 && ws.readyState === WebSocket.OPEN) tcp.resume();
    });
  });
  tcp.on('end', () => { if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.alloc(0)); });
  tcp.on('close', () => ws.close());
  tcp.on('error', () => ws.terminate());

  ws.on('message', (data) => {
    if (data.length === 0) { tcp.end(); return; }
    if (!tcp.write(data)) {
      ws.pause();
      tcp.once('drain', () => ws.resume());
    }
  });
  ws.on('close', () => tcp.end());
  ws.on('error', () => tcp.destroy());
};
