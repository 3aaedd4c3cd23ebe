/* proxy/pdiff.h: what changes between the configuration the proxy runs and
 * a new one (the sidecar registration changed): which upstreams continue
 * (same DestinationName: their health watch and instances are kept), which
 * are added or removed, which listening sockets are taken over unchanged
 * (same address: no rebind, no moment without a listener) and which must
 * be bound anew or closed. Pure, deterministic: proxy.c applies it. */
#ifndef CN_PROXY_PDIFF_H
#define CN_PROXY_PDIFF_H

#include <stdbool.h>

#include "proxy/pconf.h"

#define PX_LIS_NEW (-1)    /* a listener bound anew */
#define PX_LIS_PUBLIC (-2) /* the old public listener, taken over */
#define PX_LIS_NONE (-3)   /* no listener (the new configuration has no public side) */

struct px_diff {
    /* new upstream i continues old upstream up_from[i] (same name), or -1: added */
    int up_from[PX_MAX_UPSTREAMS];
    /* the socket new upstream i listens on: old upstream j's (j >= 0),
     * PX_LIS_PUBLIC, or PX_LIS_NEW */
    int up_lis[PX_MAX_UPSTREAMS];
    int pub_lis;                     /* the same for the new public listener, or PX_LIS_NONE */
    bool up_kept[PX_MAX_UPSTREAMS];  /* old upstream j continues (else: removed) */
    bool lis_kept[PX_MAX_UPSTREAMS]; /* old upstream j's socket is taken over (else: closed) */
    bool pub_kept;                   /* the old public socket is taken over */
    bool app;                        /* the application's address changed */
    bool timeouts;                   /* local_connect_ms or handshake_ms changed */
    bool any;                        /* anything at all changed */
};

/* Upstreams are matched by name, those on the same address first, then in
 * order; each old socket is taken over at most once, by the first new
 * listener (upstreams in order, then the public one) on its exact address. */
void px_cfg_diff(const struct px_cfg *old, const struct px_cfg *neu, struct px_diff *d);

#endif
