/* api/encode.c: the catalog/health JSON shapes shared by catalog.c, health.c
 * and agent.c (Node, AgentService/NodeService, HealthCheck), in Consul's field
 * order (api/catalog.go, api/agent.go, api/health.go). Slices and maps that
 * Consul normalises to []/{} are never written as null: some clients iterate
 * without null checks (agent/health_endpoint.go, agent_endpoint.go). */
#include <string.h>

#include "api/api_int.h"
#include "base/dur.h"

void api_json_map(struct cn_jsonw *w, const struct state_map *m)
{
    cn_jsonw_obj_open(w);
    for (size_t i = 0; m && i < m->n; i++)
        cn_jsonw_kstr(w, m->items[i].k, m->items[i].v);
    cn_jsonw_obj_close(w);
}

void api_json_node(struct cn_jsonw *w, const struct state_node *n, const char *dc)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ID", n->id);
    cn_jsonw_kstr(w, "Node", n->name);
    cn_jsonw_kstr(w, "Address", n->address);
    cn_jsonw_kstr(w, "Datacenter", dc);
    cn_jsonw_key(w, "TaggedAddresses");
    api_json_map(w, &n->tagged_addresses);
    cn_jsonw_key(w, "Meta");
    api_json_map(w, &n->meta);
    cn_jsonw_ku64(w, "CreateIndex", n->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", n->modify_index);
    cn_jsonw_obj_close(w);
}

static void json_tags(struct cn_jsonw *w, char *const *tags, size_t n)
{
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        cn_jsonw_str(w, tags[i]);
    cn_jsonw_arr_close(w);
}

void api_json_taddrs(struct cn_jsonw *w, const struct state_service *s)
{
    cn_jsonw_obj_open(w);
    for (size_t i = 0; i < s->ntaddrs; i++) {
        cn_jsonw_key(w, s->taddrs[i].name);
        cn_jsonw_obj_open(w);
        cn_jsonw_kstr(w, "Address", s->taddrs[i].address);
        cn_jsonw_ki64(w, "Port", s->taddrs[i].port);
        cn_jsonw_obj_close(w);
    }
    cn_jsonw_obj_close(w);
}

static void json_weights(struct cn_jsonw *w, const struct state_service *s)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_ki64(w, "Passing", s->weight_passing);
    cn_jsonw_ki64(w, "Warning", s->weight_warning);
    cn_jsonw_obj_close(w);
}

static bool set(const char *s)
{
    return s && *s;
}

/* structs.ConnectProxyConfig: Consul's NodeService always carries one (not a
 * pointer, so never omitted); its empty form is {"MeshGateway":{},"Expose":{}}. */
void api_json_proxy(struct cn_jsonw *w, const struct state_service *s)
{
    const struct state_proxy *p = &s->proxy;
    cn_jsonw_obj_open(w);
    if (set(p->dest_name))
        cn_jsonw_kstr(w, "DestinationServiceName", p->dest_name);
    if (set(p->dest_id))
        cn_jsonw_kstr(w, "DestinationServiceID", p->dest_id);
    if (set(p->local_address))
        cn_jsonw_kstr(w, "LocalServiceAddress", p->local_address);
    if (p->local_port)
        cn_jsonw_ki64(w, "LocalServicePort", p->local_port);
    if (set(p->config)) {
        cn_jsonw_key(w, "Config");
        cn_jsonw_raw(w, p->config, strlen(p->config));
    }
    if (p->nups) {
        cn_jsonw_key(w, "Upstreams");
        cn_jsonw_arr_open(w);
        for (size_t i = 0; i < p->nups; i++) {
            const struct state_upstream *u = &p->ups[i];
            cn_jsonw_obj_open(w);
            if (set(u->dest_type))
                cn_jsonw_kstr(w, "DestinationType", u->dest_type);
            cn_jsonw_kstr(w, "DestinationName", u->dest_name ? u->dest_name : "");
            if (set(u->datacenter))
                cn_jsonw_kstr(w, "Datacenter", u->datacenter);
            if (set(u->local_bind_address))
                cn_jsonw_kstr(w, "LocalBindAddress", u->local_bind_address);
            if (u->local_bind_port)
                cn_jsonw_ki64(w, "LocalBindPort", u->local_bind_port);
            if (set(u->config)) {
                cn_jsonw_key(w, "Config");
                cn_jsonw_raw(w, u->config, strlen(u->config));
            }
            cn_jsonw_key(w, "MeshGateway");
            cn_jsonw_raw(w, "{}", 2);
            cn_jsonw_obj_close(w);
        }
        cn_jsonw_arr_close(w);
    }
    cn_jsonw_key(w, "MeshGateway");
    cn_jsonw_raw(w, "{}", 2);
    cn_jsonw_key(w, "Expose");
    cn_jsonw_raw(w, "{}", 2);
    cn_jsonw_obj_close(w);
}

/* structs.ServiceConnect: {} or {"Native":true} (the sidecar definition is
 * expanded at registration and never stored, as in Consul). */
void api_json_connect(struct cn_jsonw *w, const struct state_service *s)
{
    cn_jsonw_obj_open(w);
    if (s->connect_native)
        cn_jsonw_kbool(w, "Native", 1);
    cn_jsonw_obj_close(w);
}

bool api_service_is_proxy(const struct state_service *s)
{
    return s->kind && !strcmp(s->kind, STATE_KIND_CONNECT_PROXY);
}

/* The opening both service shapes share: {Kind (omitempty), ID, Service, Tags. */
static void json_service_head(struct cn_jsonw *w, const struct state_service *s)
{
    cn_jsonw_obj_open(w);
    if (s->kind && *s->kind)
        cn_jsonw_kstr(w, "Kind", s->kind);
    cn_jsonw_kstr(w, "ID", s->id);
    cn_jsonw_kstr(w, "Service", s->service);
    cn_jsonw_key(w, "Tags");
    json_tags(w, s->tags, s->ntags);
}

void api_json_service(struct cn_jsonw *w, const struct state_service *s, const char *dc)
{
    (void)dc;
    json_service_head(w, s);
    cn_jsonw_kstr(w, "Address", s->address);
    if (s->ntaddrs) { /* omitempty in NodeService */
        cn_jsonw_key(w, "TaggedAddresses");
        api_json_taddrs(w, s);
    }
    cn_jsonw_key(w, "Meta");
    api_json_map(w, &s->meta);
    cn_jsonw_ki64(w, "Port", s->port);
    cn_jsonw_key(w, "Weights");
    json_weights(w, s);
    cn_jsonw_kbool(w, "EnableTagOverride", s->enable_tag_override);
    cn_jsonw_key(w, "Proxy");
    api_json_proxy(w, s);
    cn_jsonw_key(w, "Connect");
    api_json_connect(w, s);
    cn_jsonw_ku64(w, "CreateIndex", s->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", s->modify_index);
    cn_jsonw_obj_close(w);
}

void api_json_agent_service(struct cn_jsonw *w, const struct state_service *s, const char *dc,
                            const char *content_hash)
{
    json_service_head(w, s);
    cn_jsonw_key(w, "Meta");
    api_json_map(w, &s->meta);
    cn_jsonw_ki64(w, "Port", s->port);
    cn_jsonw_kstr(w, "Address", s->address);
    if (s->ntaddrs) { /* omitempty in api.AgentService */
        cn_jsonw_key(w, "TaggedAddresses");
        api_json_taddrs(w, s);
    }
    cn_jsonw_key(w, "Weights");
    json_weights(w, s);
    cn_jsonw_kbool(w, "EnableTagOverride", s->enable_tag_override);
    /* api.AgentService: Proxy and Connect are pointers, omitted when unset. */
    if (api_service_is_proxy(s)) {
        cn_jsonw_key(w, "Proxy");
        api_json_proxy(w, s);
    }
    if (s->connect_native) {
        cn_jsonw_key(w, "Connect");
        api_json_connect(w, s);
    }
    cn_jsonw_kstr(w, "Datacenter", dc ? dc : "");
    if (content_hash)
        cn_jsonw_kstr(w, "ContentHash", content_hash);
    cn_jsonw_obj_close(w);
}

static void kdur(struct cn_jsonw *w, const char *k, int64_t ns)
{
    char buf[64] = "";
    if (ns > 0)
        cn_dur_format(ns, buf, sizeof(buf));
    cn_jsonw_kstr(w, k, buf);
}

void api_json_check(struct cn_jsonw *w, const struct state_check *c,
                    const struct state_service *svc)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Node", c->node);
    cn_jsonw_kstr(w, "CheckID", c->check_id);
    cn_jsonw_kstr(w, "Name", c->name);
    cn_jsonw_kstr(w, "Status", c->status);
    cn_jsonw_kstr(w, "Notes", c->notes);
    cn_jsonw_kstr(w, "Output", c->output);
    cn_jsonw_kstr(w, "ServiceID", c->service_id);
    cn_jsonw_kstr(w, "ServiceName", c->service_name);
    cn_jsonw_key(w, "ServiceTags");
    json_tags(w, svc ? svc->tags : NULL, svc ? svc->ntags : 0);
    cn_jsonw_kstr(w, "Type", c->type);
    kdur(w, "Interval", c->interval_ns);
    kdur(w, "Timeout", c->timeout_ns);
    cn_jsonw_ki64(w, "ExposedPort", 0);
    /* HealthCheckDefinition: only what is set (omitempty in Consul). */
    cn_jsonw_key(w, "Definition");
    cn_jsonw_obj_open(w);
    if (c->http && *c->http) {
        cn_jsonw_kstr(w, "HTTP", c->http);
        if (c->header_json && *c->header_json) {
            cn_jsonw_key(w, "Header");
            cn_jsonw_raw(w, c->header_json, strlen(c->header_json));
        }
        if (c->method && *c->method)
            cn_jsonw_kstr(w, "Method", c->method);
        if (c->body && *c->body)
            cn_jsonw_kstr(w, "Body", c->body);
        if (c->tls_skip_verify)
            cn_jsonw_kbool(w, "TLSSkipVerify", 1);
    }
    if (c->tls_server_name && *c->tls_server_name)
        cn_jsonw_kstr(w, "TLSServerName", c->tls_server_name);
    if (c->tcp && *c->tcp)
        cn_jsonw_kstr(w, "TCP", c->tcp);
    /* Agent-only fields: present on the agent's own copy (/v1/agent/...). */
    if (c->udp && *c->udp)
        cn_jsonw_kstr(w, "UDP", c->udp);
    if (c->grpc && *c->grpc) {
        cn_jsonw_kstr(w, "GRPC", c->grpc);
        if (c->grpc_use_tls)
            cn_jsonw_kbool(w, "GRPCUseTLS", 1);
    }
    if (c->nargs) {
        cn_jsonw_key(w, "ScriptArgs");
        cn_jsonw_arr_open(w);
        for (size_t i = 0; i < c->nargs; i++)
            cn_jsonw_str(w, c->args[i]);
        cn_jsonw_arr_close(w);
    }
    if (c->h2ping && *c->h2ping) {
        cn_jsonw_kstr(w, "H2PING", c->h2ping);
        if (c->h2ping_use_tls)
            cn_jsonw_kbool(w, "H2PingUseTLS", 1);
    }
    if (c->alias_node && *c->alias_node)
        cn_jsonw_kstr(w, "AliasNode", c->alias_node);
    if (c->alias_service && *c->alias_service)
        cn_jsonw_kstr(w, "AliasService", c->alias_service);
    if (c->interval_ns > 0)
        kdur(w, "Interval", c->interval_ns);
    if (c->timeout_ns > 0)
        kdur(w, "Timeout", c->timeout_ns);
    if (c->deregister_after_ns > 0)
        kdur(w, "DeregisterCriticalServiceAfter", c->deregister_after_ns);
    cn_jsonw_obj_close(w);
    cn_jsonw_ku64(w, "CreateIndex", c->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", c->modify_index);
    cn_jsonw_obj_close(w);
}
