// Operations dashboard feed /ws/monitor (S4.8): each iteration connects,
// waits for SAMPLES `system_metrics` messages, checks their shape
// ({type, timestamp, data{active_connections, cpu_usage, memory_usage, ...}})
// and measures the time to the first one and the interval between two.
// `service_status` messages seen meanwhile are checked too.
//
//   k6 run scripts/k6/monitor.js
//   k6 run -e VUS=200 -e MONITOR_INTERVAL_S=1 scripts/k6/monitor.js
//
// Environment: RAGWS_URL, RAGWS_TOKEN (see lib.js), and
//   VUS (5), DURATION_S (30), SAMPLES (2 system_metrics per connection),
//   MONITOR_INTERVAL_S (5: the server's monitor.interval; the wait limit is
//   2.5 intervals).

import { WebSocket } from 'k6/websockets';
import { clearTimeout, setTimeout } from 'k6/timers';
import { check } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { envInt, parseJSON, secs, wsParams, wsUrl } from './lib.js';

const VUS = Math.max(1, envInt('VUS', 5));
const DURATION_S = Math.max(1, envInt('DURATION_S', 30));
const SAMPLES = Math.max(1, envInt('SAMPLES', 2));
const INTERVAL_MS = Math.max(1, envInt('MONITOR_INTERVAL_S', 5)) * 1000;
const WAIT_MS = Math.round(INTERVAL_MS * 2.5);

const firstMetrics = new Trend('ragws_monitor_first_metrics', true); // open -> first system_metrics
const interval = new Trend('ragws_monitor_interval', true); // between two system_metrics
const activeConnections = new Gauge('ragws_monitor_active_connections');
const received = new Counter('ragws_monitor_system_metrics');
const gotMetrics = new Rate('ragws_monitor_got_metrics');
const connected = new Rate('ragws_connect_ok');

/** @type {import('k6/options').Options} */
export const options = {
  stages: [
    { duration: '5s', target: VUS },
    { duration: secs(DURATION_S), target: VUS },
  ],
  thresholds: {
    ragws_monitor_got_metrics: ['rate==1'],
    ragws_monitor_first_metrics: [`max<${WAIT_MS}`],
    ragws_monitor_interval: [`p(95)<${Math.round(INTERVAL_MS * 1.5)}`],
    ragws_connect_ok: ['rate>0.99'],
    checks: ['rate==1'],
  },
};

export default function () {
  const ws = new WebSocket(wsUrl('/ws/monitor'), null, wsParams(__ENV.RAGWS_TOKEN, { endpoint: '/ws/monitor' }));
  let opened = false;
  let openedAt = 0;
  let last = 0;
  let samples = 0;
  /** @type {number | undefined} */
  let deadline;

  ws.onopen = () => {
    opened = true;
    openedAt = Date.now();
    connected.add(true);
    deadline = setTimeout(() => {
      console.warn(`monitor VU ${__VU}: ${samples}/${SAMPLES} system_metrics within ${WAIT_MS * SAMPLES} ms`);
      ws.close();
    }, WAIT_MS * SAMPLES);
  };

  ws.onclose = () => {
    if (deadline !== undefined) clearTimeout(deadline);
    if (opened) gotMetrics.add(samples >= SAMPLES);
  };

  ws.onmessage = (event) => {
    if (!event) return;
    const now = Date.now();
    const msg = parseJSON(event.data);
    if (!check(msg, { 'monitor frame is JSON with a type': (m) => m !== null && typeof m.type === 'string' })) return;

    if (msg.type === 'service_status') {
      check(msg.data, {
        'service_status has service and status': (d) =>
          d && typeof d.service === 'string' && ['healthy', 'degraded', 'down'].includes(d.status),
      });
      return;
    }
    if (msg.type !== 'system_metrics') return; // error_alert, ...

    check(msg, {
      'system_metrics has timestamp': (m) => typeof m.timestamp === 'string' || typeof m.timestamp === 'number',
      'system_metrics has data.active_connections': (m) =>
        m.data && Number.isInteger(m.data.active_connections) && m.data.active_connections >= 0,
      'system_metrics has cpu_usage and memory_usage': (m) =>
        m.data && typeof m.data.cpu_usage === 'number' && typeof m.data.memory_usage === 'number',
    });
    received.add(1);
    if (msg.data && typeof msg.data.active_connections === 'number') activeConnections.add(msg.data.active_connections);
    if (samples === 0) firstMetrics.add(now - openedAt);
    else interval.add(now - last);
    last = now;
    if (++samples >= SAMPLES) ws.close();
  };

  ws.onerror = (event) => {
    if (!opened) connected.add(false);
    console.warn(`monitor VU ${__VU}: ${event ? event.error : 'error'}`);
  };
}
