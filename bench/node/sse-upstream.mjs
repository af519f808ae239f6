// The SSE upstream of the `meter` case (bench/node/meter.mjs), in a process of
// its own: answers every request with the same 200-chunk Chat Completions
// stream, one write per event, as fast as the socket takes it. Sends its port
// to the parent over IPC.
import http from 'node:http';
import { sseEvents } from './meter.mjs';

const events = sseEvents().map((e) => Buffer.from(e));
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  for (let i = 0; i < events.length - 1; i++) res.write(events[i]);
  res.end(events[events.length - 1]);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
process.on('disconnect', () => process.exit(0));
