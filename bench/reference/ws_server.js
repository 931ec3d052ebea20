'use strict';
// Reference server for the ragws benchmark: the same wire contract as ragws
// (/api/v1/ws subscribers, /ws/publish publisher, GET /health), written the
// way a typical Node service would with the `ws` package, so the comparison
// is against idiomatic code rather than a tuned special case.
//
// usage: node bench/reference/ws_server.js PORT [HOST]
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8090);
const host = process.argv[3] || '127.0.0.1';

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});

// One WebSocketServer per path; the HTTP server routes upgrades by URL.
const subscribers = new WebSocketServer({ noServer: true, clientTracking: true });
const publishers = new WebSocketServer({ noServer: true, clientTracking: false });

// Every subscriber listens on the single channel the contract defines.
const channels = new Map([['global', subscribers.clients]]);

function sendError(ws, message) {
  ws.send(JSON.stringify({ type: 'error', data: { code: 'VALIDATION_ERROR', message } }));
}

publishers.on('connection', (ws) => {
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return sendError(ws, 'expected a text frame');
    let msg;
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      return sendError(ws, 'invalid JSON');
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.channel !== 'string' ||
        msg.message === null || typeof msg.message !== 'object' || Array.isArray(msg.message)) {
      return sendError(ws, 'expected {"channel":string,"message":object}');
    }
    const clients = channels.get(msg.channel);
    if (!clients) return;
    const data = JSON.stringify(msg.message);
    // The textbook ws broadcast loop.
    for (const client of clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data);
    }
  });
  ws.on('error', () => {});
});

subscribers.on('connection', (ws) => {
  ws.on('error', () => {});
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const wss = path === '/api/v1/ws' ? subscribers : path === '/ws/publish' ? publishers : null;
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.listen({ port, host, backlog: 4096 }, () => {
  process.stdout.write('ready\n');
});

function shutdown() {
  for (const ws of subscribers.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
