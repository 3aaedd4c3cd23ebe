// app.js: the router. Routes live in the URL's hash (#/services/web), so
// every page is a real link, the back button works and the agent serves one
// index.html under any ui_config.content_path. Each page gets an
// AbortSignal that ends its blocking queries when the user navigates away.
import {h, fill} from './dom.js';
import {onLive} from './api.js';
import * as services from './services.js';
import * as nodes from './nodes.js';
import * as kv from './kv.js';
import * as sessions from './sessions.js';
import * as cluster from './cluster.js';
import * as agent from './agent.js';
import * as settings from './settings.js';

const routes = [
  [/^services$/, 'services', services.list],
  [/^services\/([^/]+)$/, 'services', services.detail],
  [/^nodes$/, 'nodes', nodes.list],
  [/^kv\/(.*)$/, 'kv', kv.page],
  [/^sessions$/, 'sessions', sessions.page],
  [/^cluster$/, 'cluster', cluster.page],
  [/^agent$/, 'agent', agent.page],
  [/^settings$/, 'settings', settings.page],
];

const main = document.getElementById('main');
let current = null;
let first = true;

function route() {
  const hash = location.hash;
  if (!hash || hash === '#' || hash === '#/') {
    location.replace('#/services');
    return;
  }
  if (!hash.startsWith('#/')) { // the skip link (#main) and other anchors
    if (first) location.replace('#/services');
    return;
  }
  const path = hash.slice(2);
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  fill(main);
  setLive('ok');
  for (const [re, nav, fn] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    let args;
    try {
      args = m.slice(1).map((s) => decodeURIComponent(s));
    } catch {
      break;
    }
    for (const a of document.querySelectorAll('nav a[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    fn(main, args, {signal, setTitle});
    if (!first) {
      const h1 = main.querySelector('h1');
      if (h1) { h1.tabIndex = -1; h1.focus({preventScroll: true}); }
    }
    first = false;
    return;
  }
  setTitle('Not found');
  fill(main, h('h1', null, 'Not found'),
    h('p', null, 'Nothing here. ', h('a', {href: '#/services'}, 'Go to the services.')));
}

function setTitle(t) {
  document.title = t ? `${t} - cairn` : 'cairn';
}

const liveEl = document.getElementById('live');
function setLive(state, detail) {
  liveEl.className = 'live ' + state;
  liveEl.textContent = state === 'ok' ? 'live' : detail || 'disconnected';
  liveEl.title = state === 'ok' ? 'Updated through blocking queries as the cluster changes' : '';
}
onLive(setLive);

window.addEventListener('hashchange', route);
route();
