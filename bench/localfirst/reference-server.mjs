// Starts the reference @localfirst/relay 4.2.2 server on 127.0.0.1:PORT (default 0) and prints its
// port. The upstream Server listens on every interface; express-ws passes listen()'s arguments
// through, so the host is added here.
import { Server } from '@localfirst/relay/Server.js';
const port = Number(process.argv[2] || 0);
const server = new Server({ port });
const listen = server.app.listen.bind(server.app);
let bound;
server.app.listen = (p, callback) => {
  bound = listen(p, '127.0.0.1', callback);
  return bound;
};
await server.listen({ silent: true });
console.log(`reference server listening on 127.0.0.1:${bound.address().port}`);
