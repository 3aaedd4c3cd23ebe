// kv.js: the KV browser. #/kv/<folder>/ lists a folder
// (GET /v1/kv/<folder>/?keys&separator=/, blocking), #/kv/<key> shows one
// key as text with Save and Delete (check-and-set on its ModifyIndex, so a
// change made meanwhile elsewhere is never overwritten silently).
import {h, fill, note, link} from './dom.js';
import {watch, request, encPath} from './api.js';

function crumbs(path) {
  const parts = path.split('/');
  const out = [h('a', {href: '#/kv/'}, 'Key/Value'), ' / '];
  let acc = '';
  for (let i = 0; i < parts.length - 1; i++) {
    acc += parts[i] + '/';
    out.push(h('a', {href: link('kv', acc)}, parts[i]), ' / ');
  }
  return h('p', {class: 'crumbs'}, out);
}

function parentOf(key) {
  const t = key.endsWith('/') ? key.slice(0, -1) : key;
  const i = t.lastIndexOf('/');
  return i < 0 ? '' : t.slice(0, i + 1);
}

function decode(b64) {
  if (!b64) return {text: '', binary: false};
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    return {text: new TextDecoder('utf-8', {fatal: true}).decode(bytes), binary: false};
  } catch {
    return {text: b64, binary: true};
  }
}

export function page(main, [path], ctx) {
  if (path === '' || path.endsWith('/')) folder(main, path, ctx);
  else key(main, path, ctx);
}

function folder(main, prefix, {signal, setTitle}) {
  setTitle(prefix ? prefix : 'Key/Value');
  const body = h('ul', {class: 'kvlist', id: 'kv-list'});
  const err = h('div');
  const msg = h('div', {'aria-live': 'polite'});
  const name = h('input', {id: 'kv-new-key', type: 'text', required: true, autocomplete: 'off',
    spellcheck: 'false', placeholder: 'name, or name/ for a folder'});
  const value = h('textarea', {id: 'kv-new-value', rows: '4', spellcheck: 'false'});
  const form = h('form', {class: 'card', id: 'kv-create'},
    h('h2', null, 'Create'),
    h('label', {for: 'kv-new-key'}, 'Key', prefix ? h('span', {class: 'muted'}, ` (in ${prefix})`) : null),
    name,
    h('label', {for: 'kv-new-value'}, 'Value'), value,
    h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'kv-create-button'}, 'Create')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const full = prefix + name.value;
    if (!name.value) return;
    try {
      const isFolder = full.endsWith('/');
      const r = await request('PUT', 'kv/' + encPath(full), {params: {cas: 0},
        body: isFolder ? '' : value.value});
      if (r.data === false) {
        fill(msg, note('error', `${full} exists already.`));
        return;
      }
      name.value = '';
      value.value = '';
      fill(msg, note('ok', `Created ${full}.`));
      if (!isFolder) location.hash = link('kv', full);
    } catch (e) {
      fill(msg, note('error', e.message));
    }
  });
  const title = prefix ? prefix.slice(0, -1).split('/').pop() + '/' : 'Key/Value';
  const delFolder = prefix ? deleteButton(`Delete folder ${prefix} and every key under it`,
    async () => {
      await request('DELETE', 'kv/' + encPath(prefix), {params: {recurse: ''}});
      location.hash = link('kv', parentOf(prefix));
    }, msg, 'Delete this folder') : null;
  fill(main, prefix ? crumbs(prefix) : null, h('h1', null, title), err, body, msg, form, delFolder);
  watch('kv/' + encPath(prefix), {keys: '', separator: '/'}, signal, (r) => {
    fill(err);
    const keys = (r.data || []).filter((k) => k !== prefix);
    if (!keys.length) {
      fill(body, h('li', {class: 'muted'}, 'No keys here.'));
    } else {
      fill(body, keys.map((k) => {
        const rel = k.slice(prefix.length);
        const isFolder = k.endsWith('/');
        return h('li', {'data-key': k, class: isFolder ? 'folder' : 'key'},
          h('a', {href: link('kv', k)}, h('span', {class: 'icon', 'aria-hidden': 'true'}, isFolder ? '\u{1F4C1}' : '\u{1F511}'), rel));
      }));
    }
    main.dataset.rendered = String(Date.now());
  }, {ok404: true, onError: (e) => fill(err, note('error', e.message))});
}

// A Delete button that asks again in the page (no modal dialogs).
function deleteButton(label, action, msg, text = 'Delete') {
  const box = h('div', {class: 'actions danger'});
  const ask = () => {
    const yes = h('button', {type: 'button', class: 'danger', id: 'kv-confirm-delete'}, 'Yes, delete');
    const no = h('button', {type: 'button'}, 'Cancel');
    yes.addEventListener('click', async () => {
      try { await action(); } catch (e) { fill(msg, note('error', e.message)); }
    });
    no.addEventListener('click', reset);
    fill(box, h('span', null, label + '?'), ' ', yes, ' ', no);
    yes.focus();
  };
  const reset = () => {
    const b = h('button', {type: 'button', class: 'danger', id: 'kv-delete'}, text);
    b.addEventListener('click', ask);
    fill(box, b);
  };
  reset();
  return box;
}

function key(main, k, {signal, setTitle}) {
  setTitle(k);
  const err = h('div');
  const msg = h('div', {'aria-live': 'polite'});
  const text = h('textarea', {id: 'kv-value', rows: '12', spellcheck: 'false'});
  const props = h('dl', {class: 'props'});
  const save = h('button', {type: 'submit', id: 'kv-save'}, 'Save');
  let cur = null; // the entry as last read
  let dirty = false;
  text.addEventListener('input', () => { dirty = true; });
  const form = h('form', {class: 'card'}, h('label', {for: 'kv-value'}, 'Value'), text,
    h('div', {class: 'actions'}, save));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (cur && cur.binary) return;
    try {
      const r = await request('PUT', 'kv/' + encPath(k),
        {params: {cas: cur ? cur.ModifyIndex : 0}, body: text.value});
      if (r.data === false) {
        fill(msg, note('error', 'Not saved: the key changed since it was loaded. Its new value is shown below; edit and save again.'));
        dirty = false;
        if (latest) show(latest);
        return;
      }
      dirty = false;
      fill(msg, note('ok', 'Saved.'));
    } catch (e) {
      fill(msg, note('error', e.message));
    }
  });
  let latest = null;
  const show = (e) => {
    const d = decode(e.Value);
    cur = {...e, binary: d.binary};
    text.value = d.text;
    text.readOnly = d.binary;
    save.disabled = d.binary;
    fill(props,
      h('dt', null, 'Flags'), h('dd', null, String(e.Flags)),
      h('dt', null, 'Lock session'), h('dd', null, e.Session ? h('a', {href: '#/sessions'}, e.Session) : 'none'),
      h('dt', null, 'Create / Modify / Lock index'), h('dd', null, `${e.CreateIndex} / ${e.ModifyIndex} / ${e.LockIndex}`),
      d.binary ? [h('dt', null, 'Encoding'), h('dd', null, 'not UTF-8: shown as base64, read only')] : null);
  };
  fill(main, crumbs(k), h('h1', null, k.split('/').pop()), err, msg, form, props,
    deleteButton(`Delete ${k}`, async () => {
      const r = await request('DELETE', 'kv/' + encPath(k), {params: cur ? {cas: cur.ModifyIndex} : {}});
      if (r.data === false) throw new Error('Not deleted: the key changed since it was loaded.');
      location.hash = link('kv', parentOf(k));
    }, msg));
  watch('kv/' + encPath(k), {}, signal, (r) => {
    fill(err);
    const e = r.data && r.data[0];
    if (!e) {
      cur = null;
      latest = null;
      fill(err, note('muted', 'This key does not exist (any more). Save creates it.'));
      main.dataset.rendered = String(Date.now());
      return;
    }
    latest = e;
    if (dirty && cur && e.ModifyIndex !== cur.ModifyIndex) {
      const load = h('button', {type: 'button'}, 'Load it');
      load.addEventListener('click', () => { dirty = false; show(latest); fill(msg); });
      fill(msg, note('warn', `The key changed on the server (index ${e.ModifyIndex}) while you were editing. `, load));
    } else if (!dirty) {
      show(e);
    }
    main.dataset.rendered = String(Date.now());
  }, {ok404: true, onError: (e) => fill(err, note('error', e.message))});
}
