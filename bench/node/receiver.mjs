// A Protocol 012 receiver for the `sync` case, in a process of its own so
// that it never competes with the client for the same event loop:
// POST /api/v1/analytics/events → 202 {"event_id", "status":"accepted"} (200
// "duplicate" for an id seen before), keep-alive. Sends {port} over IPC once
// listening, and answers:
//   'count'            → {count (unique events), duplicates, requests, waves429, cpuUs}
//                        (cpuUs: this process's CPU time so far, user + system, µs)
//                        (waves429: runs of 429s, each starting at least its
//                        Retry-After after the previous run began: the pauses
//                        the server imposes on a client that honours it)
//   {faults: {...}}    → sets faults (counters restart) and answers {ok: true}:
//     dropEvery n      every nth request's connection destroyed before storing
//     loseReplyEvery n every nth request stored, then its connection destroyed
//     burstAfter n     after n requests: burst503 503s, then burst429 429s
//     burst503, burst429, retryAfter (seconds, for the 429s)
//     maxBodyBytes n   bodies over n bytes answered 413
//   'reset'            → forgets every event and fault, answers {ok: true}
import http from 'node:http';

let seen = new Set();
let duplicates = 0;
let requests = 0;
let faults = {};
let nth = 0;
let pending503 = 0;
let pending429 = 0;
let waves429 = 0;
let waveStart = -Infinity;

function answer(res, status, payload, headers = {}) {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    requests++;
    nth++;
    const body = Buffer.concat(chunks);
    let id = null;
    try {
      id = JSON.parse(body.toString('utf8')).event_id ?? null;
    } catch {
      // counted as bad below
    }
    if (req.method !== 'POST' || req.url !== '/api/v1/analytics/events' || typeof id !== 'string') {
      answer(res, 400, { error: 'VALIDATION_ERROR', message: 'bad request' });
      return;
    }
    if (faults.burstAfter !== undefined && nth > faults.burstAfter) {
      pending503 += faults.burst503 ?? 0;
      pending429 += faults.burst429 ?? 0;
      faults.burstAfter = undefined;
    }
    const every = (n) => n > 0 && nth % n === 0;
    if (every(faults.dropEvery ?? 0)) {
      req.socket.destroy();
      return;
    }
    if (body.length > (faults.maxBodyBytes ?? Infinity)) {
      answer(res, 413, { error: 'PAYLOAD_TOO_LARGE', message: 'request entity too large' });
      return;
    }
    if (pending503 > 0) {
      pending503--;
      answer(res, 503, { error: 'SERVICE_UNAVAILABLE', message: 'try again later' });
      return;
    }
    if (pending429 > 0) {
      pending429--;
      const now = performance.now();
      if (now - waveStart >= (faults.retryAfter ?? 1) * 1_000) {
        waves429++;
        waveStart = now;
      }
      answer(res, 429, { error: 'RATE_LIMIT_EXCEEDED', message: 'slow down' }, { 'Retry-After': String(faults.retryAfter ?? 1) });
      return;
    }
    const duplicate = seen.has(id);
    if (duplicate) duplicates++;
    else seen.add(id);
    if (every(faults.loseReplyEvery ?? 0)) {
      req.socket.destroy();
      return;
    }
    const text = `{"event_id":${JSON.stringify(id)},"status":"${duplicate ? 'duplicate' : 'accepted'}"}`;
    res.writeHead(duplicate ? 200 : 202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') {
    const cpu = process.cpuUsage();
    process.send({ count: seen.size, duplicates, requests, waves429, cpuUs: cpu.user + cpu.system });
  } else if (m === 'reset') {
    seen = new Set();
    duplicates = 0;
    requests = 0;
    faults = {};
    nth = 0;
    pending503 = 0;
    pending429 = 0;
    waves429 = 0;
    waveStart = -Infinity;
    process.send({ ok: true });
  } else if (m !== null && typeof m === 'object' && 'faults' in m) {
    faults = { ...m.faults };
    nth = 0;
    process.send({ ok: true });
  }
});
process.on('disconnect', () => process.exit(0));
