// settings.js: the ACL token, kept in this browser's localStorage and sent
// as X-Consul-Token with every API request.
import {h, fill, note} from './dom.js';
import {getToken, setToken} from './api.js';

export function page(main, _args, {setTitle}) {
  setTitle('Settings');
  const msg = h('div', {'aria-live': 'polite'});
  const input = h('input', {id: 'acl-token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    value: getToken(), 'aria-describedby': 'acl-token-help'});
  const show = h('input', {id: 'acl-token-show', type: 'checkbox'});
  show.addEventListener('change', () => { input.type = show.checked ? 'text' : 'password'; });
  const clear = h('button', {type: 'button', id: 'acl-token-clear'}, 'Clear');
  const form = h('form', {class: 'card'},
    h('h2', null, 'ACL token'),
    h('label', {for: 'acl-token'}, 'Token (SecretID)'), input,
    h('p', {id: 'acl-token-help', class: 'muted'},
      'Stored in this browser only (localStorage) and sent as the X-Consul-Token header with every request.'),
    h('label', {class: 'inline'}, show, ' Show the token'),
    h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'acl-token-save'}, 'Save'), ' ', clear));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    fill(msg, note('ok', input.value.trim() ? 'Token saved.' : 'Token cleared.'));
  });
  clear.addEventListener('click', () => {
    input.value = '';
    setToken('');
    fill(msg, note('ok', 'Token cleared.'));
  });
  fill(main, h('h1', null, 'Settings'), msg, form);
}
