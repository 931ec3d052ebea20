// Reference for the token-streaming benchmark: the usual Node.js way to
// put an LLM behind a WebSocket. /ws/query accepts the seed 004 query
// envelope, calls the backend's streaming /v1/chat/completions with Node's
// http module, parses the Server-Sent Events and forwards every delta as a
// `token` frame, then `complete`. No retrieval, no database: the figure it
// gives is the cost of relaying tokens alone.
// Usage: node query_gateway.js PORT LLM_PORT
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');
const [port, llmPort] = process.argv.slice(2).map(Number);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const server = http.createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end());
const wss = new WebSocketServer({ server, path: '/ws/query' });

wss.on('connection', (ws) => {
  ws.on('message', (raw) => {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (msg.type !== 'query') return;
    const rid = msg.request_id;
    const started = Date.now();
    const body = JSON.stringify({ model: 'bench', stream: true,
      messages: [{ role: 'user', content: msg.data.query }] });
    const req = http.request({ host: '127.0.0.1', port: llmPort, path: '/v1/chat/completions',
      method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let buf = '';
      let position = 0;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!ev.startsWith('data: ')) continue;
          const data = ev.slice(6);
          if (data === '[DONE]') continue;
          const content = JSON.parse(data).choices[0].delta.content;
          ws.send(JSON.stringify({ type: 'token', request_id: rid,
            data: { content, position: position++, is_complete: false } }));
        }
      });
      res.on('end', () => ws.send(JSON.stringify({ type: 'complete', request_id: rid,
        data: { total_time: (Date.now() - started) / 1000, tokens_generated: position } })));
    });
    req.on('error', () => {});
    req.end(body);
  });
});
server.listen(port, '127.0.0.1', () => console.log('ready'));
