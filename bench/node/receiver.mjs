// A healthy Protocol 012 receiver for the `sync` case, in a process of its
// own so that it never competes with the client for the same event loop:
// POST /api/v1/analytics/events → 202 {"event_id", "status":"accepted"},
// keep-alive, counts the events. Sends {port} over IPC once listening, and
// answers 'count' with {count}.
import http from 'node:http';

let count = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let id = null;
    try {
      id = JSON.parse(Buffer.concat(chunks).toString('utf8')).event_id ?? null;
    } catch {
      // counted as bad below
    }
    if (req.method !== 'POST' || req.url !== '/api/v1/analytics/events' || typeof id !== 'string') {
      const text = JSON.stringify({ error: 'VALIDATION_ERROR', message: 'bad request' });
      res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    count++;
    const text = `{"event_id":${JSON.stringify(id)},"status":"accepted"}`;
    res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') process.send({ count });
});
process.on('disconnect', () => process.exit(0));
