// Baseline for `leadex-ws-bench` (issue 5): the stack the system we replace
// used — one Node process per core running socket.io, fanned out through
// @socket.io/redis-adapter — serving the same contract the loader drives:
//
// - Socket.IO on PORT, `subscribe {verticals: [...]}` joins `vertical:<slug>`
//   rooms and acknowledges `{ok: true, subscribed}`;
// - `POST /v1/admin/announcements {verticals, message}` emits
//   `system:announcement {message, verticals, ts, correlation_id}` to those
//   rooms (ts = server emit time, ms) and answers 202.
//
// Env: PORT (required), REDIS_URL (optional: enables the Redis adapter),
// PING_INTERVAL_MS / PING_TIMEOUT_MS (default 10000 / 10000, as leadex).
import http from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "socket.io";

const port = Number(process.env.PORT);
if (!port) {
  console.error("PORT is required");
  process.exit(2);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

const httpServer = http.createServer(async (req, res) => {
  if (req.method === "POST" && req.url === "/v1/admin/announcements") {
    try {
      const body = await readJson(req);
      const rooms = body.verticals.map((v) => `vertical:${v}`);
      const correlation_id = randomUUID();
      io.to(rooms).emit("system:announcement", {
        message: body.message,
        verticals: body.verticals,
        ts: Date.now(),
        correlation_id,
      });
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ rooms, correlation_id }));
    } catch {
      res.writeHead(400).end();
    }
    return;
  }
  if (req.method === "GET" && req.url === "/health/ready") {
    res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(httpServer, {
  pingInterval: Number(process.env.PING_INTERVAL_MS ?? 10000),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS ?? 10000),
});

if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

io.on("connection", (socket) => {
  socket.on("subscribe", (req, ack) => {
    const verticals = Array.isArray(req?.verticals) ? req.verticals : [];
    socket.join(verticals.map((v) => `vertical:${v}`));
    if (typeof ack === "function") ack({ ok: true, subscribed: verticals });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.error(`baseline listening on ${port}`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
