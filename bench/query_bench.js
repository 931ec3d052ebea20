// Query benchmark client (ws from npm).
//   tokens URL STREAMS SECONDS: STREAMS connections each run one query after
//     another against a backend whose tokens carry their send time; prints
//     the latency the gateway added per token (p50/p99/p999, microseconds).
//   direct LLM_PORT STREAMS SECONDS: the same token latency with no gateway,
//     reading the backend's Server-Sent Events straight (the baseline the
//     gateways' figures include: backend timers, loopback, this client).
//   qps URL CLIENTS SECONDS QUESTION: CLIENTS connections each run one query
//     after another; prints completed queries per second.
// Output: a line "RESULT key=value ...".
'use strict';
const WebSocket = require('ws');
const [mode, url, nStr, secStr, question] = process.argv.slice(2);
const n = Number(nStr), seconds = Number(secStr);

const lat = [];
let completed = 0, errors = 0, tokens = 0;
const deadline = Date.now() + seconds * 1000;
let open = 0;

function pct(arr, p) {
  if (!arr.length) return 0;
  return arr[Math.min(arr.length - 1, Math.floor(arr.length * p))];
}

function client(i) {
  const ws = new WebSocket(url);
  let seq = 0;
  const ask = () => {
    if (Date.now() >= deadline) { ws.close(); return; }
    ws.send(JSON.stringify({ type: 'query', request_id: `c${i}-${seq++}`,
      data: { query: question || 'How do workers share broadcasts?', include_sources: false } }));
  };
  ws.on('open', () => { open++; ask(); });
  ws.on('message', (raw) => {
    const now = process.hrtime.bigint();
    const m = JSON.parse(raw);
    if (m.type === 'token') {
      if (mode === 'tokens' && m.data.content) {
        const sent = BigInt(m.data.content.trim());
        lat.push(Number(now - sent) / 1000);
      }
      tokens++;
    } else if (m.type === 'complete') {
      completed++;
      ask();
    } else if (m.type === 'error') {
      errors++;
      ask();
    }
  });
  ws.on('error', () => { errors++; });
  ws.on('close', () => { if (--open === 0) finish(); });
}

let done = false;
function finish() {
  if (done) return;
  done = true;
  lat.sort((a, b) => a - b);
  if (mode === 'tokens' || mode === 'direct') {
    console.log(`RESULT tokens=${lat.length} p50_us=${pct(lat, 0.5).toFixed(0)} ` +
      `p99_us=${pct(lat, 0.99).toFixed(0)} p999_us=${pct(lat, 0.999).toFixed(0)} ` +
      `completed=${completed} errors=${errors}`);
  } else {
    console.log(`RESULT qps=${(completed / seconds).toFixed(1)} completed=${completed} ` +
      `errors=${errors} tokens=${tokens}`);
  }
  process.exit(0);
}
function direct(i) {
  const http = require('http');
  const ask = () => {
    if (Date.now() >= deadline) { if (--open === 0) finish(); return; }
    const req = http.request({ host: '127.0.0.1', port: Number(url), method: 'POST',
      path: '/v1/chat/completions', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const now = process.hrtime.bigint();
        buf += chunk;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const data = ev.slice(6);
          if (data === '[DONE]') continue;
          const sent = BigInt(JSON.parse(data).choices[0].delta.content.trim());
          lat.push(Number(now - sent) / 1000);
          tokens++;
        }
      });
      res.on('end', () => { completed++; ask(); });
    });
    req.on('error', () => { errors++; });
    req.end('{"stream":true}');
  };
  open++;
  ask();
}

for (let i = 0; i < n; i++) (mode === 'direct' ? direct : client)(i);
setTimeout(finish, (seconds + 15) * 1000).unref();
