// dom.js: building elements. Text from the API only ever goes in through
// text nodes (Node.append of a string) or setAttribute: never as HTML.

// h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more])
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

// Replace el's children.
export function fill(el, ...kids) {
  el.replaceChildren();
  add(el, kids);
  return el;
}

// A status badge: passing / warning / critical (and its text, for screen readers too).
export function badge(status, text) {
  const s = ['passing', 'warning', 'critical'].includes(status) ? status : 'unknown';
  return h('span', {class: 'badge ' + s}, text == null ? s : text);
}

export function worst(checks) {
  let w = 'passing';
  for (const c of checks || []) {
    if (c.Status === 'critical') return 'critical';
    if (c.Status === 'warning') w = 'warning';
  }
  return w;
}

// An error or note line.
export function note(kind, ...kids) {
  return h('p', {class: 'note ' + kind, role: kind === 'error' ? 'alert' : null}, ...kids);
}

// href for a route: path segments encoded, so names cannot escape the hash.
export function link(...segs) {
  return '#/' + segs.map((s) => String(s).split('/').map(encodeURIComponent).join('/')).join('/');
}

// Long lists show PAGE rows, then a button for the next PAGE.
export const PAGE = 200;
export function pager(box, total, shown, onMore) {
  if (shown >= total) {
    fill(box);
    return;
  }
  const b = h('button', {type: 'button', class: 'more'},
    `Show ${Math.min(PAGE, total - shown)} more (${shown} of ${total} shown)`);
  b.addEventListener('click', () => {
    onMore();
    // Keep keyboard focus on the button (it is rebuilt) for the next page.
    const next = box.querySelector('button');
    if (next) next.focus();
  });
  fill(box, b);
}
