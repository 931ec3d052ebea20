// Multiplexed RAG queries on /ws/query (S4.6, seed 004 envelope):
//   {"type":"query","request_id":"...","data":{"query":"...",...}}
// Each iteration opens one connection, sends QUERIES queries with at most
// INFLIGHT in flight at once, counts the `token` frames of each answer and
// measures time to first token and time to `complete`.
//
//   k6 run scripts/k6/query.js
//   k6 run -e VUS=50 -e INFLIGHT=4 -e MODE=fast -e DURATION_S=120 scripts/k6/query.js
//
// Environment: RAGWS_URL, RAGWS_TOKEN (see lib.js), and
//   VUS (20), DURATION_S (60), RAMP_S (20), QUERIES (5 per connection),
//   INFLIGHT (2, keep <= the server's max_inflight_per_connection),
//   MODE (balanced: fast|balanced|comprehensive), MAX_RESULTS (10),
//   COLLECTION (documents), QUERY (one fixed query instead of the built-in list),
//   QUERY_TIMEOUT_MS (30000).

import { WebSocket } from 'k6/websockets';
import { clearTimeout, setTimeout } from 'k6/timers';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { envInt, parseJSON, secs, wsParams, wsUrl } from './lib.js';

const VUS = Math.max(1, envInt('VUS', 20));
const DURATION_S = Math.max(1, envInt('DURATION_S', 60));
const RAMP_S = envInt('RAMP_S', 20);
const QUERIES = Math.max(1, envInt('QUERIES', 5));
const INFLIGHT = Math.max(1, envInt('INFLIGHT', 2));
const MODE = __ENV.MODE || 'balanced';
const MAX_RESULTS = Math.min(50, Math.max(1, envInt('MAX_RESULTS', 10)));
const COLLECTION = __ENV.COLLECTION || 'documents';
const QUERY_TIMEOUT_MS = Math.max(1, envInt('QUERY_TIMEOUT_MS', 30000));
const QUERY_TEXTS = __ENV.QUERY
  ? [__ENV.QUERY]
  : [
      'What is the budget for the IT department?',
      'Summarize the main findings of the report.',
      'Which documents mention security requirements?',
      'How is the ingestion pipeline configured?',
      'What are the deadlines listed in the project plan?',
    ];

const duration = new Trend('ragws_query_duration', true); // send -> complete
const ttft = new Trend('ragws_query_ttft', true); // send -> first token
const tokensPerQuery = new Trend('ragws_query_tokens_per_query');
const tokens = new Counter('ragws_query_tokens');
const citations = new Counter('ragws_query_citations');
const errors = new Counter('ragws_query_errors');
const success = new Rate('ragws_query_success');
const connected = new Rate('ragws_connect_ok');

/** @type {import('k6/options').Options} */
export const options = {
  stages: [
    { duration: secs(RAMP_S), target: VUS },
    { duration: secs(DURATION_S), target: VUS },
    { duration: '10s', target: 0 },
  ],
  thresholds: {
    ragws_query_success: ['rate>0.99'],
    ragws_query_duration: ['p(95)<3000'],
    ragws_query_ttft: ['p(95)<1000'],
    ragws_query_tokens: ['count>0'],
    ragws_connect_ok: ['rate>0.99'],
    checks: ['rate>0.99'],
  },
};

export default function () {
  const ws = new WebSocket(wsUrl('/ws/query'), null, wsParams(__ENV.RAGWS_TOKEN, { endpoint: '/ws/query' }));
  /** @type {Map<string, {sent: number, tokens: number}>} */
  const inflight = new Map();
  let sent = 0;
  let finished = 0;
  let opened = false;
  /** @type {number | undefined} */
  let deadline;

  /**
   * Counts every request still in flight as failed.
   * @param {string} code
   */
  function failInflight(code) {
    for (let i = 0; i < inflight.size; i++) {
      errors.add(1, { code });
      success.add(false);
    }
    inflight.clear();
  }

  function sendNext() {
    if (sent >= QUERIES) return;
    const requestId = `k6_${__VU}_${__ITER}_${sent}`;
    const text = QUERY_TEXTS[(__VU + __ITER + sent) % QUERY_TEXTS.length];
    sent++;
    inflight.set(requestId, { sent: Date.now(), tokens: 0 });
    ws.send(
      JSON.stringify({
        type: 'query',
        request_id: requestId,
        data: {
          query: text,
          collection_name: COLLECTION,
          mode: MODE,
          stream: true,
          max_results: MAX_RESULTS,
          include_sources: true,
        },
      }),
    );
  }

  /**
   * @param {string} requestId
   * @param {boolean} ok
   */
  function finish(requestId, ok) {
    inflight.delete(requestId);
    success.add(ok);
    finished++;
    if (finished >= QUERIES) ws.close();
    else sendNext();
  }

  ws.onopen = () => {
    opened = true;
    connected.add(true);
    for (let i = 0; i < INFLIGHT; i++) sendNext();
    // Whatever has not completed by then counts as failed.
    deadline = setTimeout(() => {
      failInflight('TIMEOUT');
      ws.close();
    }, QUERY_TIMEOUT_MS * Math.ceil(QUERIES / INFLIGHT));
  };

  // A pending timer keeps the iteration alive: drop it once the socket closes.
  // Requests still in flight when the server closes the connection failed.
  ws.onclose = () => {
    if (deadline !== undefined) clearTimeout(deadline);
    failInflight('CLOSED');
  };

  ws.onmessage = (event) => {
    if (!event) return;
    const now = Date.now();
    const msg = parseJSON(event.data);
    if (!check(msg, { 'query frame is a JSON envelope': (m) => m !== null && typeof m.type === 'string' })) return;

    if (msg.type === 'auth_error') {
      console.warn(`query VU ${__VU}: ${event.data}`);
      failInflight((msg.data && msg.data.code) || 'auth_error');
      ws.close();
      return;
    }
    const req = inflight.get(msg.request_id);
    if (!req) return; // e.g. config_updated, or frames after a timeout

    switch (msg.type) {
      case 'token':
        tokens.add(1);
        if (req.tokens++ === 0) ttft.add(now - req.sent);
        break;
      case 'citation':
        citations.add(1);
        break;
      case 'complete': {
        duration.add(now - req.sent);
        tokensPerQuery.add(req.tokens);
        const ok = check(msg.data, {
          'complete has tokens_generated': (d) => d && typeof d.tokens_generated === 'number',
          'complete has query_analysis': (d) => d && typeof d.query_analysis === 'object',
          'streamed at least one token': () => req.tokens > 0,
        });
        finish(msg.request_id, ok);
        break;
      }
      case 'error':
        errors.add(1, { code: (msg.data && msg.data.code) || 'unknown' });
        console.warn(`query ${msg.request_id}: ${event.data}`);
        finish(msg.request_id, false);
        break;
      default:
        break; // status frames
    }
  };

  ws.onerror = (event) => {
    if (!opened) connected.add(false);
    console.warn(`query VU ${__VU}: ${event ? event.error : 'error'}`);
  };
}
