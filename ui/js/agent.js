// agent.js: this agent's configuration (GET /v1/agent/self: Config, and
// DebugConfig, the whole runtime configuration). Not a blocking endpoint:
// read when the page opens and on Refresh.
import {h, fill, note} from './dom.js';
import {request} from './api.js';

export function page(main, _args, {signal, setTitle}) {
  setTitle('Agent');
  const err = h('div');
  const facts = h('dl', {class: 'props'});
  const search = h('input', {type: 'search', id: 'config-filter', placeholder: 'key', autocomplete: 'off'});
  const pre = h('pre', {class: 'json', id: 'debug-config', tabindex: '0'});
  const refresh = h('button', {type: 'button'}, 'Refresh');
  fill(main, h('h1', null, 'Agent'), err, facts,
    h('h2', null, 'Runtime configuration'),
    h('div', {class: 'toolbar'}, h('label', {for: 'config-filter'}, 'Filter keys'), search, refresh), pre);
  let cfg = {};
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const out = {};
    for (const [k, v] of Object.entries(cfg)) if (!q || k.toLowerCase().includes(q)) out[k] = v;
    pre.textContent = JSON.stringify(out, null, 2);
  };
  const load = async () => {
    try {
      const r = await request('GET', 'agent/self', {signal});
      fill(err);
      const c = r.data.Config || {};
      fill(facts, ['Datacenter', 'NodeName', 'NodeID', 'Version', 'Server']
        .map((k) => [h('dt', null, k), h('dd', null, String(c[k]))]));
      cfg = r.data.DebugConfig || {};
      render();
      main.dataset.rendered = String(Date.now());
    } catch (e) {
      if (e.name !== 'AbortError') fill(err, note('error', e.message));
    }
  };
  search.addEventListener('input', render);
  refresh.addEventListener('click', load);
  load();
}
