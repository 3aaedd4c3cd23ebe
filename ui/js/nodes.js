// nodes.js: every node with its services and checks
// (GET /v1/internal/ui/nodes, blocking).
import {h, fill, badge, worst, note, link, pager, PAGE} from './dom.js';
import {watch} from './api.js';

let filterText = '';

export function list(main, _args, {signal, setTitle}) {
  setTitle('Nodes');
  const search = h('input', {type: 'search', id: 'node-filter', placeholder: 'node name or address',
    value: filterText, autocomplete: 'off'});
  const summary = h('p', {class: 'summary', 'aria-live': 'polite'});
  const body = h('div', {id: 'nodes'});
  const err = h('div');
  const more = h('div', {class: 'actions'});
  fill(main, h('h1', null, 'Nodes'),
    h('div', {class: 'toolbar'}, h('label', {for: 'node-filter'}, 'Filter'), search), summary, err, body,
    more);
  let data = [];
  let limit = PAGE;
  const render = () => {
    const q = filterText.trim().toLowerCase();
    const all = data.filter((n) => !q || n.Node.toLowerCase().includes(q) || n.Address.includes(q));
    const shown = all.slice(0, limit);
    pager(more, all.length, shown.length, () => { limit += PAGE; render(); });
    summary.textContent = q ? `${all.length} of ${data.length} nodes match` : `${data.length} nodes`;
    body.replaceChildren(...shown.map((n) => {
      const st = worst(n.Checks);
      return h('section', {class: 'card', 'data-node': n.Node},
        h('h2', {id: 'node-' + n.ID}, badge(st), ' ', n.Node, ' ', h('span', {class: 'muted'}, n.Address)),
        n.Services.length
          ? h('p', null, 'Services: ', n.Services.map((s, i) => [i ? ', ' : '',
            h('a', {href: link('services', s.Service)}, s.ID === s.Service ? s.Service : `${s.Service} (${s.ID})`)]))
          : h('p', {class: 'muted'}, 'No services.'),
        n.Checks.length
          ? h('ul', {class: 'checklist'}, n.Checks.map((c) => h('li', {'data-check': c.CheckID},
            badge(c.Status), ' ', c.Name || c.CheckID,
            c.ServiceName ? h('span', {class: 'muted'}, ` (${c.ServiceName})`) : null,
            c.Output ? h('details', null, h('summary', null, 'Output'), h('pre', {class: 'output'}, c.Output)) : null)))
          : h('p', {class: 'muted'}, 'No checks.'));
    }));
    main.dataset.rendered = String(Date.now());
  };
  search.addEventListener('input', () => { filterText = search.value; limit = PAGE; render(); });
  watch('internal/ui/nodes', {}, signal, (r) => {
    fill(err);
    data = r.data || [];
    render();
  }, {onError: (e) => fill(err, note('error', e.message))});
}
