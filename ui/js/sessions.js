// sessions.js: sessions (GET /v1/session/list) and the keys each one
// holds (GET /v1/internal/ui/session-locks), both blocking.
import {h, fill, note, link} from './dom.js';
import {watch, request} from './api.js';

function dur(ns) {
  if (!ns) return '0s';
  return ns % 1e9 === 0 ? `${ns / 1e9}s` : `${ns / 1e6}ms`;
}

export function page(main, _args, {signal, setTitle}) {
  setTitle('Sessions');
  const body = h('tbody');
  const err = h('div');
  const msg = h('div', {'aria-live': 'polite'});
  const summary = h('p', {class: 'summary'});
  fill(main, h('h1', null, 'Sessions'), summary, err, msg,
    h('table', {class: 'list', id: 'sessions-table'},
      h('thead', null, h('tr', null, ['Session', 'Node', 'Behavior', 'TTL', 'Lock delay', 'Checks', 'Locks', '']
        .map((t) => h('th', {scope: 'col'}, t)))),
      body));
  let sessions = null;
  let locks = {};
  const render = () => {
    if (!sessions) return;
    summary.textContent = `${sessions.length} session${sessions.length === 1 ? '' : 's'}`;
    body.replaceChildren(...sessions.map((s) => {
      const held = locks[s.ID] || [];
      const destroy = h('button', {type: 'button', class: 'danger small'}, 'Invalidate');
      // Asks once more in place: the first press arms it, the second acts.
      destroy.addEventListener('blur', () => { destroy.textContent = 'Invalidate'; });
      destroy.addEventListener('click', async () => {
        if (destroy.textContent === 'Invalidate') {
          destroy.textContent = 'Really invalidate (releases its locks)?';
          return;
        }
        try {
          await request('PUT', 'session/destroy/' + encodeURIComponent(s.ID));
          fill(msg, note('ok', `Invalidated ${s.ID}.`));
        } catch (e) {
          fill(msg, note('error', e.message));
        }
      });
      const checks = s.NodeChecks || s.Checks || [];
      return h('tr', {'data-session': s.ID},
        h('th', {scope: 'row', 'data-label': 'Session'}, s.Name ? h('div', null, s.Name) : null, h('code', {class: 'id'}, s.ID)),
        h('td', {'data-label': 'Node'}, h('a', {href: '#/nodes'}, s.Node)),
        h('td', {'data-label': 'Behavior'}, s.Behavior),
        h('td', {'data-label': 'TTL'}, s.TTL || '-'),
        h('td', {'data-label': 'Lock delay'}, dur(s.LockDelay)),
        h('td', {'data-label': 'Checks'}, checks.length ? checks.join(', ') : '-'),
        h('td', {'data-label': 'Locks'}, held.length
          ? h('ul', {class: 'plain'}, held.map((k) => h('li', {'data-lock': k}, h('a', {href: link('kv', k)}, k))))
          : '-'),
        h('td', null, destroy));
    }));
    main.dataset.rendered = String(Date.now());
  };
  const onError = (e) => fill(err, note('error', e.message));
  watch('session/list', {}, signal, (r) => { fill(err); sessions = r.data || []; render(); }, {onError});
  watch('internal/ui/session-locks', {}, signal, (r) => { locks = r.data || {}; render(); }, {onError});
}
