// Operations: live charts of /ws/monitor's system_metrics (connections,
// messages in/out per second, ring lag and overruns, latency, CPU and
// memory), the status of each worker, PostgreSQL and the LLM backend
// (service_status), and alerts (error_alert) as they arrive.
import { $, api, counters, el, fmtTime, Live, liveChart, logLine } from './common.js';

let charts = null;
const services = new Map();

function renderServices() {
  const list = [...services.values()].sort((a, b) => a.service.localeCompare(b.service, undefined, { numeric: true }));
  $('services').replaceChildren(...list.map((s) => el('tr', { 'data-service': s.service },
    el('th', { scope: 'row' }, s.service),
    el('td', {}, el('span', { class: `badge ${s.status}` }, s.status),
      s.connections !== undefined ? ` · ${s.connections} conn.` : '', s.pid ? ` · pid ${s.pid}` : ''),
    el('td', { class: 'n' }, Math.round(s.response_time ?? 0)), el('td', {}, fmtTime(s.last_check)))));
}

function onMonitor(m) {
  const d = m.data || {};
  if (m.type === 'system_metrics') {
    const t = Date.parse(m.timestamp) / 1000 || Date.now() / 1000;
    charts.conns.push(t, [d.active_connections, d.http_connections]);
    charts.msgs.push(t, [d.messages_in_per_second, d.messages_out_per_second]);
    charts.ring.push(t, [d.ring_lag, d.ring_overruns]);
    charts.latency.push(t, [(d.average_response_time || 0) * 1000, d.broadcast_latency_p99_ms]);
    charts.sys.push(t, [d.cpu_usage, d.memory_usage]);
    counters($('ops-now'), [
      ['Connections', d.active_connections], ['Workers', d.workers], ['Msgs in/s', +(d.messages_in_per_second || 0).toFixed(1)],
      ['Msgs out/s', +(d.messages_out_per_second || 0).toFixed(1)], ['Queries / min', d.queries_per_minute],
      ['Slow consumers', d.slow_consumers_dropped], ['Errors', d.errors], ['RSS (MiB)', Math.round((d.rss_bytes || 0) / 1048576)],
    ]);
  } else if (m.type === 'service_status') {
    services.set(d.service, d);
    renderServices();
  } else if (m.type === 'error_alert') {
    logLine($('alerts'), el('li', { class: `lvl-${d.severity}` },
      el('span', { class: 'who' }, `${fmtTime(m.timestamp)} ${d.severity} · ${d.service}`), ' ', d.message), 100);
  }
}

export function start() {
  const box = $('ops-charts');
  charts = {
    conns: liveChart(box, 'Connections', ['WebSocket', 'HTTP']),
    msgs: liveChart(box, 'Messages per second', ['in', 'out']),
    ring: liveChart(box, 'Broadcast ring', ['lag', 'overruns']),
    latency: liveChart(box, 'Latency (ms)', ['avg response', 'broadcast p99'], { unit: ' ms' }),
    sys: liveChart(box, 'CPU and memory (%)', ['CPU', 'memory'], { unit: ' %' }),
  };
  new Live('/ws/monitor', { onMessage: onMonitor, label: '/ws/monitor' });
  $('pub-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = $('pub-result');
    let message;
    try { message = JSON.parse($('pub-message').value); } catch (e) { out.textContent = `not JSON: ${e.message}`; return; }
    try {
      const r = await api('POST', '/api/broadcast', { admin: true, body: { channel: $('pub-channel').value, message } });
      out.textContent = `published (${r && r.status ? r.status : 'ok'})`;
      out.classList.remove('bad');
    } catch (e) {
      out.textContent = e.message;
      out.classList.add('bad');
    }
  });
}
