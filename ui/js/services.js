// services.js: the services list (GET /v1/internal/ui/services: one
// summary per name with its instances by health) and one service's
// instances with their checks (GET /v1/health/service/:name).
import {h, fill, badge, worst, note, link, pager, PAGE} from './dom.js';
import {watch, encPath} from './api.js';

let filterText = '';

function matches(s, q) {
  if (!q) return true;
  if (s.Name.toLowerCase().includes(q)) return true;
  return (s.Tags || []).some((t) => t.toLowerCase().includes(q));
}

function counts(s) {
  return h('span', {class: 'counts'},
    s.InstancesPassing ? badge('passing', `${s.InstancesPassing} passing`) : null,
    s.InstancesWarning ? badge('warning', `${s.InstancesWarning} warning`) : null,
    s.InstancesCritical ? badge('critical', `${s.InstancesCritical} critical`) : null);
}

function tags(list) {
  return h('span', {class: 'tags'}, (list || []).map((t) => h('span', {class: 'tag'}, t)));
}

export function list(main, _args, {signal, setTitle}) {
  setTitle('Services');
  const search = h('input', {
    type: 'search', id: 'service-filter', placeholder: 'name or tag', value: filterText,
    autocomplete: 'off', 'aria-controls': 'services-table',
  });
  const summary = h('p', {class: 'summary', 'aria-live': 'polite'});
  const body = h('tbody');
  const table = h('table', {id: 'services-table', class: 'list'},
    h('caption', {class: 'visually-hidden'}, 'Services'),
    h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Service'),
      h('th', {scope: 'col'}, 'Instances'), h('th', {scope: 'col'}, 'Tags'))),
    body);
  const err = h('div');
  const more = h('div', {class: 'actions'});
  fill(main, h('h1', null, 'Services'),
    h('div', {class: 'toolbar'}, h('label', {for: 'service-filter'}, 'Filter'), search), summary,
    err, table, more);
  let data = [];
  let limit = PAGE;
  const render = () => {
    const q = filterText.trim().toLowerCase();
    const all = data.filter((s) => matches(s, q));
    // A bounded page of rows (the DOM of 5,000 rows costs seconds to lay
    // out); the rest one click away, the filter over everything.
    const shown = all.slice(0, limit);
    pager(more, all.length, shown.length, () => { limit += PAGE; render(); });
    const rows = shown.map((s) => h('tr', {'data-service': s.Name},
      h('th', {scope: 'row', 'data-label': 'Service'},
        h('a', {href: link('services', s.Name)}, s.Name)),
      h('td', {'data-label': 'Instances'}, h('span', {class: 'total'}, String(s.InstanceCount)), ' ',
        counts(s)),
      h('td', {'data-label': 'Tags'}, tags(s.Tags))));
    body.replaceChildren(...rows);
    summary.textContent = q ? `${all.length} of ${data.length} services match` : `${data.length} services`;
    main.dataset.rendered = String(Date.now());
    // bench/ui.sh reads this: the first time the list was on screen.
    if (data.length && !performance.getEntriesByName('cairn:services-rendered').length) {
      performance.mark('cairn:services-rendered');
    }
  };
  search.addEventListener('input', () => { filterText = search.value; limit = PAGE; render(); });
  watch('internal/ui/services', {}, signal, (r) => {
    fill(err);
    data = r.data || [];
    render();
  }, {onError: (e) => fill(err, note('error', e.message))});
}

function kv(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}

function checkRows(checks) {
  if (!checks.length) return note('muted', 'No checks: the instance counts as passing.');
  return h('table', {class: 'checks'},
    h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Check'), h('th', {scope: 'col'}, 'Status'),
      h('th', {scope: 'col'}, 'Type'), h('th', {scope: 'col'}, 'Output'))),
    h('tbody', null, checks.map((c) => h('tr', {'data-check': c.CheckID},
      h('th', {scope: 'row', 'data-label': 'Check'}, c.Name || c.CheckID,
        c.ServiceID ? null : h('span', {class: 'muted'}, ' (node)'),
        c.Notes ? h('div', {class: 'muted'}, c.Notes) : null),
      h('td', {'data-label': 'Status'}, badge(c.Status)),
      h('td', {'data-label': 'Type'}, c.Type || '-'),
      h('td', {'data-label': 'Output'}, h('pre', {class: 'output'}, c.Output || ''))))));
}

export function detail(main, [name], {signal, setTitle}) {
  setTitle(name);
  const body = h('div', {id: 'instances'});
  const err = h('div');
  fill(main, h('p', {class: 'crumbs'}, h('a', {href: '#/services'}, 'Services'), ' / '),
    h('h1', null, name), err, body);
  watch('health/service/' + encPath(name), {}, signal, (r) => {
    fill(err);
    const list = r.data || [];
    if (!list.length) {
      fill(body, note('muted', 'No instances of this service are registered.'));
      main.dataset.rendered = String(Date.now());
      return;
    }
    fill(body, h('p', {class: 'summary'}, `${list.length} instance${list.length === 1 ? '' : 's'}`),
      list.map((e) => {
        const s = e.Service;
        const st = worst(e.Checks);
        const addr = s.Address || e.Node.Address;
        return h('section', {class: 'card', 'data-instance': s.ID},
          h('h2', null, badge(st), ' ', s.ID),
          h('dl', {class: 'props'},
            kv('Node', e.Node.Node),
            kv('Address', s.Port ? `${addr}:${s.Port}` : addr),
            s.Tags && s.Tags.length ? kv('Tags', tags(s.Tags)) : null,
            Object.keys(s.Meta || {}).length
              ? kv('Meta', Object.entries(s.Meta).map(([k, v]) => h('div', null, h('code', null, k), ' = ', v)))
              : null),
          h('h3', null, 'Checks'), checkRows(e.Checks || []));
      }));
    main.dataset.rendered = String(Date.now());
  }, {onError: (e) => fill(err, note('error', e.message))});
}
