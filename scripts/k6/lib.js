// Helpers shared by the ragws k6 scripts (broadcast.js, query.js, monitor.js).
//
// Environment (all optional):
//   RAGWS_URL          base URL, default ws://127.0.0.1:8000 (wss:// works too)
//   RAGWS_TOKEN        JWT sent as "Authorization: Bearer ..." on client endpoints
//   RAGWS_ADMIN_TOKEN  admin token for /ws/publish (S7: not needed from loopback
//                      when the server has no auth.admin_token_file)

/** Base URL without a trailing slash. */
export const BASE_URL = (__ENV.RAGWS_URL || 'ws://127.0.0.1:8000').replace(/\/+$/, '');

/**
 * Full URL of an endpoint, with optional query parameters.
 * @param {string} path e.g. "/ws/query"
 * @param {Record<string, string>} [query]
 * @returns {string}
 */
export function wsUrl(path, query) {
  const qs = Object.keys(query || {})
    .filter((k) => query && query[k] !== '')
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query ? query[k] : '')}`)
    .join('&');
  return BASE_URL + path + (qs ? `?${qs}` : '');
}

/**
 * WebSocket params: bearer token header (if any) and metric tags.
 * @param {string | undefined} token
 * @param {Record<string, string>} tags
 * @returns {import('k6/websockets').Params}
 */
export function wsParams(token, tags) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  return { headers, tags };
}

/**
 * Integer from the environment, or the default.
 * @param {string} name
 * @param {number} def
 * @returns {number}
 */
export function envInt(name, def) {
  const v = parseInt(__ENV[name] || '', 10);
  return Number.isFinite(v) && v >= 0 ? v : def;
}

/**
 * Parses a text frame; null for binary frames and invalid JSON (the scripts
 * count those as failed checks instead of throwing inside an event handler).
 * @param {unknown} data
 * @returns {any}
 */
export function parseJSON(data) {
  if (typeof data !== 'string') return null;
  try {
    return JSON.parse(data);
  } catch (e) {
    return null;
  }
}

/**
 * k6 duration string for a number of seconds.
 * @param {number} s
 * @returns {string}
 */
export function secs(s) {
  return `${s}s`;
}
