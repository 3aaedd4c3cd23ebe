/* state/values.c: the value structs of state.h (state_node, state_service,
 * state_check, state_register): clearing and deep copies, shared by the state
 * machine's own records and by every module that builds these structs (the
 * api/ decoders, the agent's local/ registrations). Also the check status and
 * output rules every writer of a check follows. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

void state_map_clear(struct state_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        cn_free(m->items[i].k);
        cn_free(m->items[i].v);
    }
    cn_free(m->items);
    m->items = NULL;
    m->n = 0;
}

void state_node_clear(struct state_node *n)
{
    if (!n)
        return;
    cn_free(n->name);
    cn_free(n->id);
    cn_free(n->address);
    state_map_clear(&n->tagged_addresses);
    state_map_clear(&n->meta);
    memset(n, 0, sizeof(*n));
}

void state_service_clear(struct state_service *v)
{
    if (!v)
        return;
    cn_free(v->node);
    cn_free(v->id);
    cn_free(v->service);
    cn_free(v->kind);
    for (size_t i = 0; i < v->ntags; i++)
        cn_free(v->tags[i]);
    cn_free(v->tags);
    cn_free(v->address);
    state_map_clear(&v->meta);
    for (size_t i = 0; i < v->ntaddrs; i++) {
        cn_free(v->taddrs[i].name);
        cn_free(v->taddrs[i].address);
    }
    cn_free(v->taddrs);
    state_proxy_clear(&v->proxy);
    memset(v, 0, sizeof(*v));
}

void state_proxy_clear(struct state_proxy *p)
{
    cn_free(p->dest_name);
    cn_free(p->dest_id);
    cn_free(p->local_address);
    cn_free(p->config);
    for (size_t i = 0; i < p->nups; i++) {
        struct state_upstream *u = &p->ups[i];
        cn_free(u->dest_type);
        cn_free(u->dest_name);
        cn_free(u->datacenter);
        cn_free(u->local_bind_address);
        cn_free(u->config);
    }
    cn_free(p->ups);
    memset(p, 0, sizeof(*p));
}

void state_check_clear(struct state_check *c)
{
    if (!c)
        return;
    char **strs[] = {&c->node,   &c->check_id,   &c->name,         &c->status, &c->notes,
                     &c->output, &c->service_id, &c->service_name, &c->type,   &c->http,
                     &c->method, &c->tcp,        &c->header_json,  &c->body};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        cn_free(*strs[i]);
    cn_free(c->tls_server_name);
    cn_free(c->udp);
    cn_free(c->grpc);
    cn_free(c->alias_node);
    cn_free(c->h2ping);
    cn_free(c->alias_service);
    for (size_t i = 0; i < c->nargs; i++)
        cn_free(c->args[i]);
    cn_free(c->args);
    memset(c, 0, sizeof(*c));
}

void state_register_clear(struct state_register *r)
{
    if (!r)
        return;
    state_node_clear(&r->node);
    if (r->service) {
        state_service_clear(r->service);
        cn_free(r->service);
    }
    for (size_t i = 0; i < r->nchecks; i++)
        state_check_clear(&r->checks[i]);
    cn_free(r->checks);
    memset(r, 0, sizeof(*r));
}

/* ---- deep copies --------------------------------------------------------- */

static int dup_into(char **dst, const char *src)
{
    *dst = cn_strdup(src ? src : "");
    return *dst ? 0 : CN_ENOMEM;
}

static int map_copy(struct state_map *dst, const struct state_map *src)
{
    dst->n = 0;
    dst->items = NULL;
    if (!src->n)
        return 0;
    dst->items = cn_calloc(src->n, sizeof(*dst->items));
    if (!dst->items)
        return CN_ENOMEM;
    for (size_t i = 0; i < src->n; i++) {
        dst->n++;
        if (dup_into(&dst->items[i].k, src->items[i].k) ||
            dup_into(&dst->items[i].v, src->items[i].v))
            return CN_ENOMEM;
    }
    return 0;
}

int state__node_copy(struct state_node *dst, const struct state_node *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->create_index = src->create_index;
    dst->modify_index = src->modify_index;
    if (dup_into(&dst->name, src->name) || dup_into(&dst->id, src->id) ||
        dup_into(&dst->address, src->address) ||
        map_copy(&dst->tagged_addresses, &src->tagged_addresses) ||
        map_copy(&dst->meta, &src->meta)) {
        state_node_clear(dst);
        return CN_ENOMEM;
    }
    return 0;
}

int state_check_copy(struct state_check *dst, const struct state_check *src)
{
    *dst = *src; /* scalars; every string is replaced below */
    dst->node = dst->check_id = dst->name = dst->status = dst->notes = dst->output = NULL;
    dst->service_id = dst->service_name = dst->type = dst->http = dst->method = NULL;
    dst->tcp = dst->header_json = dst->body = NULL;
    dst->tls_server_name = dst->udp = dst->grpc = dst->alias_node = dst->alias_service = NULL;
    dst->h2ping = NULL;
    dst->args = NULL;
    dst->nargs = 0;
    if ((src->tls_server_name && dup_into(&dst->tls_server_name, src->tls_server_name)) ||
        (src->udp && dup_into(&dst->udp, src->udp)) ||
        (src->grpc && dup_into(&dst->grpc, src->grpc)) ||
        (src->alias_node && dup_into(&dst->alias_node, src->alias_node)) ||
        (src->alias_service && dup_into(&dst->alias_service, src->alias_service)) ||
        (src->h2ping && dup_into(&dst->h2ping, src->h2ping))) {
        state_check_clear(dst);
        return CN_ENOMEM;
    }
    if (src->nargs) {
        if (!(dst->args = cn_calloc(src->nargs, sizeof(*dst->args)))) {
            state_check_clear(dst);
            return CN_ENOMEM;
        }
        for (; dst->nargs < src->nargs; dst->nargs++)
            if (dup_into(&dst->args[dst->nargs], src->args[dst->nargs])) {
                state_check_clear(dst);
                return CN_ENOMEM;
            }
    }
    if (dup_into(&dst->node, src->node) || dup_into(&dst->check_id, src->check_id) ||
        dup_into(&dst->name, src->name) || dup_into(&dst->status, src->status) ||
        dup_into(&dst->notes, src->notes) || dup_into(&dst->output, src->output) ||
        dup_into(&dst->service_id, src->service_id) ||
        dup_into(&dst->service_name, src->service_name) || dup_into(&dst->type, src->type) ||
        dup_into(&dst->http, src->http) || dup_into(&dst->method, src->method) ||
        dup_into(&dst->tcp, src->tcp) || dup_into(&dst->header_json, src->header_json) ||
        dup_into(&dst->body, src->body)) {
        state_check_clear(dst);
        return CN_ENOMEM;
    }
    return 0;
}

int state_service_copy(struct state_service *dst, const struct state_service *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->port = src->port;
    dst->weight_passing = src->weight_passing;
    dst->weight_warning = src->weight_warning;
    dst->enable_tag_override = src->enable_tag_override;
    dst->create_index = src->create_index;
    dst->modify_index = src->modify_index;
    if (dup_into(&dst->node, src->node) || dup_into(&dst->id, src->id) ||
        dup_into(&dst->service, src->service) || dup_into(&dst->kind, src->kind) ||
        dup_into(&dst->address, src->address) || map_copy(&dst->meta, &src->meta))
        goto oom;
    if (src->ntags) {
        dst->tags = cn_calloc(src->ntags, sizeof(*dst->tags));
        if (!dst->tags)
            goto oom;
        for (size_t i = 0; i < src->ntags; i++) {
            dst->ntags++;
            if (dup_into(&dst->tags[i], src->tags[i]))
                goto oom;
        }
    }
    if (src->ntaddrs) {
        dst->taddrs = cn_calloc(src->ntaddrs, sizeof(*dst->taddrs));
        if (!dst->taddrs)
            goto oom;
        for (size_t i = 0; i < src->ntaddrs; i++) {
            dst->ntaddrs++;
            dst->taddrs[i].port = src->taddrs[i].port;
            if (dup_into(&dst->taddrs[i].name, src->taddrs[i].name) ||
                dup_into(&dst->taddrs[i].address, src->taddrs[i].address))
                goto oom;
        }
    }
    dst->connect_native = src->connect_native;
    const struct state_proxy *sp = &src->proxy;
    struct state_proxy *dp = &dst->proxy;
    dp->local_port = sp->local_port;
    if (dup_into(&dp->dest_name, sp->dest_name) || dup_into(&dp->dest_id, sp->dest_id) ||
        dup_into(&dp->local_address, sp->local_address) || dup_into(&dp->config, sp->config))
        goto oom;
    if (sp->nups) {
        if (!(dp->ups = cn_calloc(sp->nups, sizeof(*dp->ups))))
            goto oom;
        for (size_t i = 0; i < sp->nups; i++) {
            const struct state_upstream *su = &sp->ups[i];
            struct state_upstream *du = &dp->ups[i];
            dp->nups++;
            du->local_bind_port = su->local_bind_port;
            if (dup_into(&du->dest_type, su->dest_type) ||
                dup_into(&du->dest_name, su->dest_name) ||
                dup_into(&du->datacenter, su->datacenter) ||
                dup_into(&du->local_bind_address, su->local_bind_address) ||
                dup_into(&du->config, su->config))
                goto oom;
        }
    }
    return 0;
oom:
    state_service_clear(dst);
    return CN_ENOMEM;
}

/* ---- check rules ----------------------------------------------------------- */

bool state_check_status_valid(const char *s)
{
    return s && (!strcmp(s, "passing") || !strcmp(s, "warning") || !strcmp(s, "critical"));
}

char *state_check_output_truncate(const char *s)
{
    size_t n = strlen(s);
    if (n <= STATE_CHECK_OUTPUT_MAX)
        return cn_strdup(s);
    /* agent/check.go: "%s ... (captured %d of %d bytes)" */
    char tail[80];
    int t =
        snprintf(tail, sizeof(tail), " ... (captured %d of %zu bytes)", STATE_CHECK_OUTPUT_MAX, n);
    char *out = cn_malloc(STATE_CHECK_OUTPUT_MAX + (size_t)t + 1);
    if (!out)
        return NULL;
    memcpy(out, s, STATE_CHECK_OUTPUT_MAX);
    memcpy(out + STATE_CHECK_OUTPUT_MAX, tail, (size_t)t + 1);
    return out;
}
