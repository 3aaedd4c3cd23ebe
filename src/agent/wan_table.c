/* agent/wan_table.c: the routing table of other datacenters (wan_table.h). */
#include "agent/wan_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

int wan_server_of(const struct gossip_member *m, struct wan_server *out)
{
    char role[32], port[16];
    memset(out, 0, sizeof(*out));
    if (gossip_tags_get(m->tags, m->tags_len, "role", role, sizeof(role)) ||
        strcmp(role, "consul") != 0 ||
        gossip_tags_get(m->tags, m->tags_len, "dc", out->dc, sizeof(out->dc)) || !out->dc[0] ||
        gossip_tags_get(m->tags, m->tags_len, "port", port, sizeof(port)))
        return CN_EINVAL;
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!port[0] || *end || p < 1 || p > 65535)
        return CN_EINVAL;
    size_t nl = strlen(m->name), dl = strlen(out->dc);
    /* NODE.DC: a non-empty node, a dot, and exactly the dc tag. */
    if (nl < dl + 2 || m->name[nl - dl - 1] != '.' || strcmp(m->name + nl - dl, out->dc) != 0 ||
        nl - dl - 1 > GOSSIP_NAME_MAX)
        return CN_EINVAL;
    memcpy(out->node, m->name, nl - dl - 1);
    out->node[nl - dl - 1] = '\0';
    if (strchr(m->host, ':'))
        snprintf(out->addr, sizeof(out->addr), "[%s]:%ld", m->host, p);
    else
        snprintf(out->addr, sizeof(out->addr), "%s:%ld", m->host, p);
    out->alive = m->status == GOSSIP_ALIVE || m->status == GOSSIP_SUSPECT;
    out->left = m->status == GOSSIP_LEFT;
    return 0;
}

static int cmp_dc(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

size_t wan_datacenters(const struct wan_server *sv, size_t n, const char *local,
                       char (*out)[WAN_DC_MAX], size_t cap)
{
    /* Collect the distinct names other than local, sort, then local first. */
    char(*names)[WAN_DC_MAX] = NULL;
    size_t k = 0;
    if (n) {
        names = cn_malloc(n * sizeof(*names));
        if (!names)
            return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (sv[i].left || !strcmp(sv[i].dc, local))
            continue;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = !strcmp(names[j], sv[i].dc);
        if (!seen)
            snprintf(names[k++], WAN_DC_MAX, "%s", sv[i].dc);
    }
    if (k > 1)
        qsort(names, k, sizeof(*names), cmp_dc);
    size_t total = 0;
    if (total < cap)
        snprintf(out[total], WAN_DC_MAX, "%s", local);
    total++;
    for (size_t j = 0; j < k; j++, total++)
        if (total < cap)
            memcpy(out[total], names[j], WAN_DC_MAX);
    cn_free(names);
    return total;
}

size_t wan_dc_servers(const struct wan_server *sv, size_t n, const char *dc, const char **addrs,
                      size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!sv[i].alive || strcmp(sv[i].dc, dc) != 0)
            continue;
        /* insertion by address: the order does not depend on the pool's */
        if (k < cap) {
            size_t j = k;
            while (j > 0 && strcmp(addrs[j - 1], sv[i].addr) > 0) {
                addrs[j] = addrs[j - 1];
                j--;
            }
            addrs[j] = sv[i].addr;
        }
        k++;
    }
    return k;
}

bool wan_dc_known(const struct wan_server *sv, size_t n, const char *dc)
{
    for (size_t i = 0; i < n; i++)
        if (!sv[i].left && !strcmp(sv[i].dc, dc))
            return true;
    return false;
}
