// Benchmark stand-in for an LLM backend: an OpenAI-compatible
// /v1/chat/completions that streams TOKENS Server-Sent Events, one every
// DELAY ms, each token's text being the monotonic clock (ns) at the moment
// it was written. The client that finally receives the token computes how
// long the gateway in between took. Usage: node fake_llm_stamp.js PORT TOKENS DELAY_MS
'use strict';
const http = require('http');
const [port, tokens, delay] = process.argv.slice(2).map(Number);

http.createServer((req, res) => {
  if (req.method !== 'POST') { res.writeHead(404).end(); return; }
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    let i = 0;
    const tick = () => {
      if (res.destroyed) return;
      if (i === tokens) { res.end('data: [DONE]\n\n'); return; }
      i++;
      const stamp = process.hrtime.bigint().toString();
      res.write(`data: {"choices":[{"delta":{"content":"${stamp} "}}]}\n\n`);
      setTimeout(tick, delay);
    };
    tick();
  });
}).listen(port, '127.0.0.1', () => console.log('ready'));
