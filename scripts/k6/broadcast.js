// Broadcast fan-out: SUBSCRIBERS VUs listen on /api/v1/ws (S4.1), one VU
// publishes through the admin endpoint /ws/publish (S8) with
// {"channel":"global","message":{...}} at PUBLISH_RATE messages/s. Every
// message carries the publisher's send time (ms since epoch) and a sequence
// number; subscribers report end-to-end delivery latency and lost messages.
// Publisher and subscribers run in the same k6 process, so they share a clock
// (do not split this test over several k6 instances).
//
//   k6 run scripts/k6/broadcast.js
//   k6 run -e SUBSCRIBERS=1000 -e PUBLISH_RATE=50 -e DURATION_S=120 scripts/k6/broadcast.js
//
// Environment: RAGWS_URL, RAGWS_TOKEN, RAGWS_ADMIN_TOKEN (see lib.js), and
//   SUBSCRIBERS (100), PUBLISH_RATE (10/s), DURATION_S (60), RAMP_S (15),
//   HOLD_S (30: a subscriber reconnects after this many seconds),
//   PAYLOAD_BYTES (64: padding in each message),
//   RAGWS_CHANNEL (global), RAGWS_SUB_PATH (/api/v1/ws).

import { WebSocket } from 'k6/websockets';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'k6/timers';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { envInt, parseJSON, secs, wsParams, wsUrl } from './lib.js';

const SUBSCRIBERS = Math.max(1, envInt('SUBSCRIBERS', 100));
const PUBLISH_RATE = Math.max(1, envInt('PUBLISH_RATE', 10));
const DURATION_S = Math.max(1, envInt('DURATION_S', 60));
const RAMP_S = envInt('RAMP_S', 15);
const HOLD_S = Math.max(1, envInt('HOLD_S', 30));
const PAYLOAD_BYTES = envInt('PAYLOAD_BYTES', 64);
const CHANNEL = __ENV.RAGWS_CHANNEL || 'global';
const SUB_PATH = __ENV.RAGWS_SUB_PATH || '/api/v1/ws';
const PROBE_TYPE = 'k6_broadcast';

const latency = new Trend('ragws_broadcast_latency', true);
const delivered = new Counter('ragws_broadcast_delivered');
const lost = new Counter('ragws_broadcast_lost');
const resyncs = new Counter('ragws_broadcast_resync');
const published = new Counter('ragws_broadcast_published');
const publishErrors = new Counter('ragws_publish_errors');
const connected = new Rate('ragws_connect_ok');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    subscribers: {
      executor: 'ramping-vus',
      exec: 'subscribe',
      startVUs: 0,
      stages: [
        { duration: secs(RAMP_S), target: SUBSCRIBERS },
        { duration: secs(DURATION_S), target: SUBSCRIBERS },
        { duration: '5s', target: 0 },
      ],
      gracefulRampDown: secs(HOLD_S + 5),
    },
    publisher: {
      executor: 'per-vu-iterations',
      exec: 'publish',
      vus: 1,
      iterations: 1,
      // Publish once the subscribers are connected.
      startTime: secs(RAMP_S),
      maxDuration: secs(DURATION_S + 30),
    },
  },
  thresholds: {
    ragws_broadcast_latency: ['p(95)<100', 'p(99)<250'],
    ragws_broadcast_delivered: ['count>0'],
    ragws_broadcast_lost: ['count==0'],
    ragws_publish_errors: ['count==0'],
    ragws_connect_ok: ['rate>0.99'],
    checks: ['rate>0.99'],
    ws_connecting: ['p(95)<1000'],
  },
};

/**
 * The probe inside a broadcast frame: the server delivers the published
 * `message` object itself; a wrapper ({message} or {data}) is accepted too.
 * @param {any} msg
 * @returns {any}
 */
function probeOf(msg) {
  if (!msg || typeof msg !== 'object') return null;
  for (const m of [msg, msg.message, msg.data]) {
    if (m && typeof m === 'object' && m.type === PROBE_TYPE) return m;
  }
  return null;
}

// One subscriber connection per iteration, held for HOLD_S seconds.
export function subscribe() {
  const ws = new WebSocket(wsUrl(SUB_PATH), null, wsParams(__ENV.RAGWS_TOKEN, { role: 'subscriber' }));
  let opened = false;
  let lastSeq = -1;
  /** @type {number | undefined} */
  let holdTimer;

  ws.onopen = () => {
    opened = true;
    connected.add(true);
    holdTimer = setTimeout(() => ws.close(), HOLD_S * 1000);
  };

  // A pending timer keeps the iteration alive: drop it if the server closes first.
  ws.onclose = () => {
    if (holdTimer !== undefined) clearTimeout(holdTimer);
  };

  ws.onmessage = (event) => {
    if (!event) return;
    const now = Date.now();
    const msg = parseJSON(event.data);
    if (!check(msg, { 'subscriber frame is JSON': (m) => m !== null })) return;
    if (msg.type === 'resync') {
      resyncs.add(1);
      return;
    }
    const probe = probeOf(msg);
    if (!probe) return; // other broadcasts on this endpoint (follow-up questions, indexing progress)
    delivered.add(1);
    latency.add(now - probe.sent_at);
    if (lastSeq >= 0 && probe.seq > lastSeq + 1) lost.add(probe.seq - lastSeq - 1);
    check(probe, { 'broadcast in order': (p) => p.seq > lastSeq });
    lastSeq = Math.max(lastSeq, probe.seq);
  };

  ws.onerror = (event) => {
    if (!opened) connected.add(false);
    console.warn(`subscriber VU ${__VU}: ${event ? event.error : 'error'}`);
  };
}

// The single publisher: PUBLISH_RATE messages/s for DURATION_S seconds.
export function publish() {
  const ws = new WebSocket(wsUrl('/ws/publish'), null, wsParams(__ENV.RAGWS_ADMIN_TOKEN, { role: 'publisher' }));
  const padding = 'x'.repeat(PAYLOAD_BYTES);
  let seq = 0;
  let opened = false;
  let stopping = false;
  /** @type {number | undefined} */
  let sendTimer;
  /** @type {number | undefined} */
  let stopTimer;

  ws.onopen = () => {
    opened = true;
    connected.add(true);
    sendTimer = setInterval(() => {
      ws.send(
        JSON.stringify({
          channel: CHANNEL,
          message: { type: PROBE_TYPE, seq: seq++, sent_at: Date.now(), pad: padding },
        }),
      );
      published.add(1);
    }, 1000 / PUBLISH_RATE);
    stopTimer = setTimeout(() => {
      stopping = true;
      ws.close();
    }, DURATION_S * 1000);
  };

  ws.onclose = () => {
    if (opened && !stopping) {
      publishErrors.add(1);
      console.warn('publisher: server closed /ws/publish before the end of the test');
    }
    if (sendTimer !== undefined) clearInterval(sendTimer);
    if (stopTimer !== undefined) clearTimeout(stopTimer);
  };

  // /ws/publish answers only when something is wrong (or with acks, which
  // are ignored here).
  ws.onmessage = (event) => {
    if (!event) return;
    const msg = parseJSON(event.data);
    if (msg && (msg.type === 'error' || msg.error)) {
      publishErrors.add(1);
      console.warn(`publish error: ${event.data}`);
    }
  };

  ws.onerror = (event) => {
    if (!opened) connected.add(false);
    publishErrors.add(1);
    console.warn(`publisher: ${event ? event.error : 'error'}`);
  };
}
