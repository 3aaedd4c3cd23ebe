/* proxy/pdiff.c: the difference between two proxy configurations (pdiff.h). */
#include "proxy/pdiff.h"

#include <string.h>

/* The first old socket not yet taken whose address is addr: an old
 * upstream's index, PX_LIS_PUBLIC, or PX_LIS_NEW. */
static int take_socket(const struct px_cfg *old, struct px_diff *d, const char *addr)
{
    char a[300];
    for (size_t j = 0; j < old->nups; j++) {
        if (d->lis_kept[j])
            continue;
        px_upstream_addr(&old->ups[j], a, sizeof(a));
        if (!strcmp(a, addr)) {
            d->lis_kept[j] = true;
            return (int)j;
        }
    }
    if (*old->listen && !d->pub_kept && !strcmp(old->listen, addr)) {
        d->pub_kept = true;
        return PX_LIS_PUBLIC;
    }
    return PX_LIS_NEW;
}

static bool same_upstream(const struct px_upstream_opt *a, const struct px_upstream_opt *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->bind_addr, b->bind_addr) &&
           a->bind_port == b->bind_port && a->connect_ms == b->connect_ms;
}

void px_cfg_diff(const struct px_cfg *old, const struct px_cfg *neu, struct px_diff *d)
{
    memset(d, 0, sizeof(*d));
    /* names first on the same address, then by name in order */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < neu->nups; i++) {
            if (pass == 0)
                d->up_from[i] = -1;
            else if (d->up_from[i] >= 0)
                continue;
            for (size_t j = 0; j < old->nups; j++) {
                const struct px_upstream_opt *o = &old->ups[j], *n = &neu->ups[i];
                if (d->up_kept[j] || strcmp(o->name, n->name) != 0)
                    continue;
                if (pass == 0 &&
                    (strcmp(o->bind_addr, n->bind_addr) != 0 || o->bind_port != n->bind_port))
                    continue;
                d->up_kept[j] = true;
                d->up_from[i] = (int)j;
                break;
            }
        }
    }
    char a[300];
    for (size_t i = 0; i < neu->nups; i++) {
        px_upstream_addr(&neu->ups[i], a, sizeof(a));
        d->up_lis[i] = take_socket(old, d, a);
    }
    d->pub_lis = *neu->listen ? take_socket(old, d, neu->listen) : PX_LIS_NONE;
    d->app = strcmp(old->app, neu->app) != 0;
    d->timeouts =
        old->local_connect_ms != neu->local_connect_ms || old->handshake_ms != neu->handshake_ms;
    d->any = d->app || d->timeouts || old->nups != neu->nups ||
             strcmp(old->listen, neu->listen) != 0 || strcmp(old->service, neu->service) != 0;
    for (size_t i = 0; i < neu->nups && !d->any; i++)
        d->any = !same_upstream(&old->ups[i], &neu->ups[i]);
}
