// Starts the reference @localfirst/relay 4.2.2 server on PORT (default 0) and prints its port.
import { Server } from '@localfirst/relay/Server.js';
const port = Number(process.argv[2] || 0);
const server = new Server({ port });
server.listen();
console.log(`reference server listening on ${port}`);
