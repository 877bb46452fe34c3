// Socket.IO recorder for the integration tests: connects the clients given
// in CLIENTS (JSON: [{name, token?, subscribe?: [slug]}]) to BASE, prints
// {"ready": true} once every client is connected and subscribed, then reads
// commands from stdin, one JSON object per line:
//   {"client": "bob", "emit": "bid:place", "data": {...}}  → prints {"ack": …}
//   {"client": "bob", "emit": "join_auction", "data": {...}}
//   {"exit": true}                                        → prints events, exits
// Every event received is recorded with the client name and receive time.
import { io } from "socket.io-client";
import readline from "node:readline";

const base = process.env.BASE;
const specs = JSON.parse(process.env.CLIENTS);
const events = [];
const clients = {};
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

await Promise.all(specs.map((spec) => new Promise((resolve, reject) => {
  const socket = io(base, {
    transports: ["websocket"],
    auth: spec.token ? { token: spec.token } : {},
    reconnection: false,
  });
  clients[spec.name] = socket;
  socket.onAny((event, payload) => events.push({ client: spec.name, event, payload, received_at: Date.now() }));
  socket.on("connect_error", (e) => reject(e));
  socket.on("connect", async () => {
    if (spec.subscribe) {
      const ack = await socket.emitWithAck("subscribe", { verticals: spec.subscribe });
      if (!ack.ok) return reject(new Error(JSON.stringify(ack)));
    }
    resolve();
  });
})));
out({ ready: true });

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.exit) break;
  const ack = await clients[cmd.client].timeout(5000).emitWithAck(cmd.emit, cmd.data);
  out({ ack, client: cmd.client, emit: cmd.emit });
}
// Let in-flight events arrive before reporting.
await new Promise((r) => setTimeout(r, 300));
out({ events });
for (const s of Object.values(clients)) s.close();
process.exit(0);
