/* local/sidecar.c: what Consul's agent adds to a Connect sidecar expanded from
 * a service's Connect.SidecarService (agent/sidecar_service.go): a port from
 * the sidecar range when none was given, and the two default checks when the
 * definition has none. The rest of the expansion (ID, name, proxy fields) is
 * the decoder's (api/decode_service.c). Pure: no I/O. */
#include <stdio.h>
#include <string.h>

#include "base/dur.h"
#include "base/err.h"
#include "base/mem.h"
#include "local/local_int.h"

int local__sidecar_port(const struct state_service *const *svcs, size_t n, const char *sidecar_id,
                        int min, int max)
{
    if (min < 1 || max < min)
        return CN_ENOTFOUND;
    /* A sidecar already registered with a port in the range keeps it. */
    for (size_t i = 0; i < n; i++)
        if (!strcmp(svcs[i]->id, sidecar_id) && svcs[i]->port >= min && svcs[i]->port <= max)
            return svcs[i]->port;
    for (int p = min; p <= max; p++) {
        bool used = false;
        for (size_t i = 0; i < n && !used; i++)
            used = svcs[i]->port == p;
        if (!used)
            return p;
    }
    return CN_ENOTFOUND;
}

static int sdup(char **dst, const char *s)
{
    cn_free(*dst);
    *dst = cn_strdup(s ? s : "");
    return *dst ? 0 : CN_ENOMEM;
}

static int default_check(struct state_check *c, const struct state_service *sc, int ordinal,
                         const char *name, const char *type)
{
    char id[600];
    snprintf(id, sizeof(id), "service:%.500s:%d", sc->id, ordinal);
    if (sdup(&c->check_id, id) || sdup(&c->name, name) || sdup(&c->status, "critical") ||
        sdup(&c->service_id, sc->id) || sdup(&c->service_name, sc->service) ||
        sdup(&c->type, type) || sdup(&c->notes, "") || sdup(&c->output, "") || sdup(&c->node, "") ||
        sdup(&c->http, "") || sdup(&c->method, "") || sdup(&c->tcp, "") ||
        sdup(&c->header_json, "") || sdup(&c->body, ""))
        return CN_ENOMEM;
    return 0;
}

int local__sidecar_checks(struct local_svc_def *d)
{
    if (d->nchecks)
        return 0;
    const struct state_service *sc = &d->svc;
    const char *parent = sc->proxy.dest_id ? sc->proxy.dest_id : "";
    /* The check dials the sidecar's address, else the local service address. */
    const char *host = *sc->address ? sc->address
                       : sc->proxy.local_address && *sc->proxy.local_address
                           ? sc->proxy.local_address
                           : "127.0.0.1";
    char addr[600], name[600];
    if (strchr(host, ':'))
        snprintf(addr, sizeof(addr), "[%.500s]:%d", host, sc->port);
    else
        snprintf(addr, sizeof(addr), "%.500s:%d", host, sc->port);
    snprintf(name, sizeof(name), "Connect Sidecar Aliasing %.500s", parent);
    struct state_check *cs = cn_calloc(2, sizeof(*cs));
    if (!cs)
        return CN_ENOMEM;
    d->checks = cs;
    d->nchecks = 2;
    if (default_check(&cs[0], sc, 1, "Connect Sidecar Listening", STATE_CHECK_TCP) ||
        sdup(&cs[0].tcp, addr) || default_check(&cs[1], sc, 2, name, STATE_CHECK_ALIAS) ||
        sdup(&cs[1].alias_service, parent))
        return CN_ENOMEM;
    cs[0].interval_ns = 10 * CN_NS_PER_S;
    return 0;
}
