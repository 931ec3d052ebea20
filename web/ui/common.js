// Shared pieces of the ragws UI: tokens (sessionStorage: this tab only),
// REST calls, WebSockets that reconnect with exponential backoff and say
// so on the page, DOM helpers and uPlot charts.

const TOKEN_KEY = 'ragws.token';
const ADMIN_KEY = 'ragws.admin';

export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ''; },
  get admin() { return sessionStorage.getItem(ADMIN_KEY) || ''; },
  set(token, admin) {
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
    if (admin) sessionStorage.setItem(ADMIN_KEY, admin); else sessionStorage.removeItem(ADMIN_KEY);
  },
  onNeeded: null, // set by app.js: open the token dialog
  needed(reason) { if (this.onNeeded) this.onNeeded(reason); },
};

/** fetch() on ragws with the user (or admin) token; JSON answers parsed. */
export async function api(method, path, { body, admin = false, headers = {} } = {}) {
  const h = { ...headers };
  const tok = admin ? auth.admin : auth.token;
  if (tok) h.Authorization = `Bearer ${tok}`;
  if (body !== undefined && !(body instanceof FormData)) {
    h['Content-Type'] = 'application/json';
    body = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers: h, body });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (r.status === 401) auth.needed(json && json.error ? json.error.message : 'this call needs a token');
  if (!r.ok) {
    const msg = json && json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${r.status}`;
    const e = new Error(msg);
    e.status = r.status;
    e.body = json;
    throw e;
  }
  return json;
}

/** ws(s)://this host/path, with ?token= when a token is set. */
export function wsUrl(path) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (auth.token) u.searchParams.set('token', auth.token);
  return u.href;
}

// ---- live connections and their status line ----

const sockets = new Set();
let statusEl = null;

function renderStatus() {
  if (!statusEl) statusEl = document.getElementById('live-status');
  if (!statusEl) return;
  const down = [...sockets].filter((s) => s.state !== 'open' && !s.stopped);
  const up = [...sockets].filter((s) => s.state === 'open');
  statusEl.classList.toggle('bad', down.length > 0);
  if (!down.length) {
    statusEl.textContent = up.length ? `Live: ${up.length} connection${up.length > 1 ? 's' : ''} open` : 'Idle';
    return;
  }
  statusEl.textContent = down.map((s) => s.describe()).join(' · ');
}

/**
 * A WebSocket to ragws that reconnects by itself: 0.5 s, 1 s, 2 s ... at
 * most 30 s apart (with jitter), reset once a connection stayed open.
 * onMessage gets each JSON message; onOpen(send) after every (re)connect.
 */
export class Live {
  constructor(path, { onMessage, onOpen, onClose, label } = {}) {
    this.path = path;
    this.label = label || path.split('?')[0];
    this.onMessage = onMessage || (() => {});
    this.onOpen = onOpen || (() => {});
    this.onClose = onClose || (() => {});
    this.attempt = 0;
    this.state = 'connecting';
    this.stopped = false;
    this.nextAt = 0;
    this.lastReason = '';
    sockets.add(this);
    this.connect();
  }

  describe() {
    if (this.state === 'connecting') return `Connecting to ${this.label}…`;
    const secs = Math.max(0, Math.ceil((this.nextAt - Date.now()) / 1000));
    const why = this.lastReason ? ` (${this.lastReason})` : '';
    return `${this.label} disconnected${why}: reconnecting in ${secs} s (attempt ${this.attempt})`;
  }

  connect() {
    if (this.stopped) return;
    this.state = 'connecting';
    renderStatus();
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.path));
    } catch (e) {
      this.retry(String(e));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.state = 'open';
      this.openedAt = Date.now();
      renderStatus();
      this.onOpen((m) => this.send(m));
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (m && m.type === 'auth_error') {
        auth.needed(m.data && m.data.message ? m.data.message : 'the server refused the token');
      }
      this.onMessage(m, (x) => this.send(x));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onClose(ev);
      if (ev.code === 1008) this.lastReason = ev.reason || 'refused: token?';
      else if (ev.code === 4404) this.lastReason = ev.reason || 'not found';
      else this.lastReason = ev.code === 1006 ? 'connection lost' : `closed ${ev.code}`;
      if (ev.code === 4404) { this.stop(); return; }
      this.retry();
    };
  }

  retry(reason) {
    if (this.stopped) return;
    if (reason) this.lastReason = reason;
    if (this.openedAt && Date.now() - this.openedAt > 10000) this.attempt = 0;
    this.openedAt = 0;
    this.attempt++;
    const base = Math.min(30000, 500 * 2 ** (this.attempt - 1));
    const delay = base / 2 + Math.random() * base / 2;
    this.state = 'waiting';
    this.nextAt = Date.now() + delay;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
    clearInterval(this.tick);
    this.tick = setInterval(() => { if (this.state === 'waiting') renderStatus(); else clearInterval(this.tick); }, 1000);
    renderStatus();
  }

  /** Reconnect now (e.g. with a new token). */
  restart() {
    if (this.stopped) return;
    this.attempt = 0;
    clearTimeout(this.timer);
    if (this.ws) { const w = this.ws; this.ws = null; w.close(1000); }
    this.connect();
  }

  send(m) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.tick);
    if (this.ws) { const w = this.ws; this.ws = null; w.close(1000); }
    sockets.delete(this);
    renderStatus();
  }
}

export function restartAll() { for (const s of sockets) s.restart(); }

// ---- DOM ----

/** el('li', {class: 'x', onclick: f}, 'text', child...) */
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

export const $ = (id) => document.getElementById(id);

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString();
}

export function pct(x) { return `${Math.round((Number(x) || 0) * 100)} %`; }

/** Prepend a line to a list, keeping at most max. */
export function logLine(list, node, max = 100) {
  const hint = list.querySelector('.hint');
  if (hint) hint.remove();
  list.prepend(node);
  while (list.children.length > max) list.lastChild.remove();
}

/** Render a counters <dl> from [[label, value], ...]. */
export function counters(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('div', { class: 'counter' }, el('dt', {}, k), el('dd', {}, v))]));
}

// ---- charts (uPlot, embedded) ----

const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

/**
 * A live time-series chart: chart.push(t_seconds, [v1, v2, ...]) adds a
 * point per series, keeping the last `keep`. Each chart is a <figure> with
 * a caption naming it (the series are in uPlot's legend).
 */
export function liveChart(parent, title, seriesNames, { keep = 120, unit = '' } = {}) {
  const fig = el('figure', { class: 'chart card' }, el('figcaption', {}, title));
  parent.append(fig);
  const data = [[], ...seriesNames.map(() => [])];
  const width = () => Math.max(260, Math.min(fig.clientWidth - 24 || 480, 900));
  const opts = {
    width: width(),
    height: 180,
    series: [{}, ...seriesNames.map((n, i) => ({
      label: n, stroke: PALETTE[i % PALETTE.length], width: 2,
      value: (u, v) => (v === null || v === undefined ? '—' : `${+v.toFixed(2)}${unit}`),
    }))],
    axes: [{}, { size: 50 }],
    scales: { x: { time: true } },
    legend: { live: true },
  };
  const plot = new uPlot(opts, data, fig);
  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 180 }));
  ro.observe(fig);
  let points = 0;
  return {
    fig,
    plot,
    get points() { return points; },
    push(t, values) {
      data[0].push(t);
      values.forEach((v, i) => data[i + 1].push(v === undefined || v === null ? null : Number(v)));
      if (data[0].length > keep) for (const s of data) s.shift();
      points++;
      fig.dataset.points = String(points);
      fig.dataset.last = JSON.stringify(values.map((v) => (v === undefined || v === null ? null : Number(v))));
      plot.setData(data);
    },
  };
}
