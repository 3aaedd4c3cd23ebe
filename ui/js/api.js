// api.js: the HTTP API (/v1/) as the pages use it: an ACL token from
// Settings on every request, JSON answers with their X-Consul-* headers, and
// watch(): Consul's blocking queries (?index=&wait=) in a loop that only
// asks again when the last answer came back, backing off on errors.

const TOKEN_KEY = 'cairn.token';
export const WAIT = '5m';

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts for this page only */ }
}

export class ApiError extends Error {
  constructor(status, text) {
    super(status ? `${status}: ${text}` : text);
    this.status = status;
  }
}

// KV keys and other path parts: each segment encoded, slashes kept.
export function encPath(p) {
  return String(p).split('/').map(encodeURIComponent).join('/');
}

// request('GET', 'kv/a/b', {params: {keys: ''}, body, signal, ok404, text})
// -> {data, index, lastContact, knownLeader, status}
export async function request(method, path, opt = {}) {
  const url = new URL('/v1/' + path, location.origin);
  for (const [k, v] of Object.entries(opt.params || {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, v);
  }
  const headers = {};
  const t = getToken();
  if (t) headers['X-Consul-Token'] = t;
  let res;
  try {
    res = await fetch(url, {method, headers, body: opt.body, signal: opt.signal, cache: 'no-store'});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'cannot reach the agent');
  }
  const text = await res.text();
  const meta = {
    index: Number(res.headers.get('X-Consul-Index')) || 0,
    lastContact: res.headers.get('X-Consul-LastContact'),
    knownLeader: res.headers.get('X-Consul-KnownLeader'),
    status: res.status,
  };
  if (res.status === 404 && opt.ok404) return {data: null, ...meta};
  if (!res.ok) {
    let msg = text.trim() || res.statusText;
    if (res.status === 403) msg += ' (set an ACL token in Settings)';
    throw new ApiError(res.status, msg);
  }
  return {data: opt.text ? text : (text ? JSON.parse(text) : null), ...meta};
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
  });
}

// Live status for the header (one per page: the worst of its watches).
const listeners = new Set();
export function onLive(fn) { listeners.add(fn); }
function live(state, detail) { for (const fn of listeners) fn(state, detail); }

// watch(path, params, signal, onData): the first answer at once, then a
// blocking query at the last X-Consul-Index, re-issued only when the agent
// answered (a change, or the wait ran out). Errors: onData is not called,
// the live status says why, and the next try waits 1 s, 2 s, ... 30 s
// (with jitter). An index going backwards (a restored snapshot, another
// server) starts over at 0, as Consul's blocking-query docs say.
export function watch(path, params, signal, onData, opt = {}) {
  let index = 0;
  let delay = 0;
  (async () => {
    while (!signal.aborted) {
      try {
        const p = {...params};
        if (index > 0) { p.index = index; p.wait = WAIT; }
        const r = await request('GET', path, {params: p, signal, ok404: opt.ok404});
        if (signal.aborted) return;
        delay = 0;
        live('ok');
        const changed = r.index !== index || index === 0;
        index = r.index < index ? 0 : r.index;
        if (changed) onData(r);
        if (!r.index) return; // not a blocking endpoint: nothing to wait on
      } catch (e) {
        if (signal.aborted || e.name === 'AbortError') return;
        delay = Math.min(delay ? delay * 2 : 1000, 30000);
        live('error', `${e.message}; retrying in ${Math.round(delay / 1000)} s`);
        if (opt.onError) opt.onError(e);
        await sleep(delay * (0.8 + Math.random() * 0.4), signal);
      }
    }
  })();
}
