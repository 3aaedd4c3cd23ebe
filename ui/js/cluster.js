// cluster.js: the Raft servers (GET /v1/operator/raft/configuration), the
// leader and this agent's last contact with it (X-Consul-LastContact,
// /v1/agent/self Stats.raft). The Raft configuration is not a blocking
// endpoint (nor in Consul): the page reads it again whenever the node list
// changes (GET /v1/internal/ui/nodes, blocking: servers joining, leaving or
// failing their serfHealth check) and on Refresh.
import {h, fill, note, badge} from './dom.js';
import {watch, request} from './api.js';

export function page(main, _args, {signal, setTitle}) {
  setTitle('Cluster');
  const err = h('div');
  const facts = h('dl', {class: 'props', id: 'cluster-facts'});
  const body = h('tbody');
  const refresh = h('button', {type: 'button'}, 'Refresh');
  fill(main, h('h1', null, 'Cluster'), err, facts,
    h('table', {class: 'list', id: 'raft-peers'},
      h('caption', null, 'Raft servers'),
      h('thead', null, h('tr', null, ['Node', 'Address', 'Role', 'Voter', 'ID'].map((t) => h('th', {scope: 'col'}, t)))),
      body),
    h('div', {class: 'actions'}, refresh));
  let health = new Map();
  const load = async () => {
    try {
      const [cfg, self] = await Promise.all([
        request('GET', 'operator/raft/configuration', {signal}),
        request('GET', 'agent/self', {signal}),
      ]);
      fill(err);
      const raft = (self.data.Stats && self.data.Stats.raft) || {};
      const leader = cfg.data.Servers.find((s) => s.Leader);
      fill(facts,
        h('dt', null, 'Leader'), h('dd', {id: 'cluster-leader'}, leader ? `${leader.Node} (${leader.Address})` : 'none known'),
        h('dt', null, 'This agent'), h('dd', null, `${self.data.Config.NodeName}: ${raft.state || '?'}`),
        h('dt', null, 'Last contact with the leader'), h('dd', null,
          raft.state === 'Leader' ? 'this agent leads' : (raft.last_contact || cfg.lastContact + 'ms')),
        h('dt', null, 'Known leader'), h('dd', null, cfg.knownLeader === 'false' ? 'no' : 'yes'),
        h('dt', null, 'Commit / applied index'), h('dd', null, `${raft.commit_index ?? '?'} / ${raft.applied_index ?? '?'}`));
      body.replaceChildren(...cfg.data.Servers.map((s) => h('tr', {'data-peer': s.Node},
        h('th', {scope: 'row', 'data-label': 'Node'}, health.has(s.Node) ? badge(health.get(s.Node), '') : null, ' ', s.Node),
        h('td', {'data-label': 'Address'}, s.Address),
        h('td', {'data-label': 'Role'}, s.Leader ? h('strong', null, 'leader') : 'follower'),
        h('td', {'data-label': 'Voter'}, s.Voter ? 'yes' : 'no (learner)'),
        h('td', {'data-label': 'ID'}, h('code', {class: 'id'}, s.ID)))));
      main.dataset.rendered = String(Date.now());
    } catch (e) {
      if (e.name !== 'AbortError') fill(err, note('error', e.message));
    }
  };
  refresh.addEventListener('click', load);
  watch('internal/ui/nodes', {}, signal, (r) => {
    health = new Map((r.data || []).map((n) => {
      const serf = n.Checks.find((c) => c.CheckID === 'serfHealth');
      return [n.Node, serf ? serf.Status : 'passing'];
    }));
    load();
  }, {onError: (e) => fill(err, note('error', e.message))});
}
