/* agent/wan_table.c: the routing table of other datacenters (wan_table.h). */
#include "agent/wan_table.h"

#include <math.h>
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
    out->rtt_s = -1;
    return 0;
}

int wan_flood_target(const struct gossip_member *lan_m, const char *local_dc, char *wan_name,
                     size_t namecap, char *addr, size_t addrcap)
{
    char role[32], dc[WAN_DC_MAX], port[16];
    if (lan_m->status != GOSSIP_ALIVE && lan_m->status != GOSSIP_SUSPECT)
        return CN_EINVAL;
    if (gossip_tags_get(lan_m->tags, lan_m->tags_len, "role", role, sizeof(role)) ||
        strcmp(role, "consul") != 0 ||
        gossip_tags_get(lan_m->tags, lan_m->tags_len, "dc", dc, sizeof(dc)) ||
        strcmp(dc, local_dc) != 0 ||
        gossip_tags_get(lan_m->tags, lan_m->tags_len, "wan_join_port", port, sizeof(port)))
        return CN_EINVAL;
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!port[0] || *end || p < 1 || p > 65535)
        return CN_EINVAL;
    int n = snprintf(wan_name, namecap, "%s.%s", lan_m->name, dc);
    if (n < 0 || (size_t)n >= namecap)
        return CN_EINVAL;
    n = strchr(lan_m->host, ':') ? snprintf(addr, addrcap, "[%s]:%ld", lan_m->host, p)
                                 : snprintf(addr, addrcap, "%s:%ld", lan_m->host, p);
    if (n < 0 || (size_t)n >= addrcap)
        return CN_EINVAL;
    return 0;
}

struct dc_rtt {
    char name[WAN_DC_MAX];
    double median; /* seconds; HUGE_VAL: no server's coordinate known */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_dc(const void *a, const void *b)
{
    const struct dc_rtt *x = a, *y = b;
    if (x->median != y->median)
        return x->median < y->median ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The median RTT to dc's servers (not left) with a known one. rtts: room for n. */
static double dc_median(const struct wan_server *sv, size_t n, const char *dc, double *rtts)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!sv[i].left && sv[i].rtt_s >= 0 && !strcmp(sv[i].dc, dc))
            rtts[k++] = sv[i].rtt_s;
    if (!k)
        return HUGE_VAL;
    qsort(rtts, k, sizeof(*rtts), cmp_double);
    return rtts[k / 2];
}

size_t wan_datacenters(const struct wan_server *sv, size_t n, const char *local,
                       char (*out)[WAN_DC_MAX], size_t cap)
{
    /* Collect the distinct names other than local, sort, then local first. */
    struct dc_rtt *names = NULL;
    double *rtts = NULL;
    size_t k = 0;
    if (n) {
        names = cn_malloc(n * sizeof(*names));
        rtts = cn_malloc(n * sizeof(*rtts));
        if (!names || !rtts) {
            cn_free(names);
            cn_free(rtts);
            return 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (sv[i].left || !strcmp(sv[i].dc, local))
            continue;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = !strcmp(names[j].name, sv[i].dc);
        if (!seen) {
            snprintf(names[k].name, WAN_DC_MAX, "%s", sv[i].dc);
            names[k].median = dc_median(sv, n, sv[i].dc, rtts);
            k++;
        }
    }
    if (k > 1)
        qsort(names, k, sizeof(*names), cmp_dc);
    size_t total = 0;
    if (total < cap)
        snprintf(out[total], WAN_DC_MAX, "%s", local);
    total++;
    for (size_t j = 0; j < k; j++, total++)
        if (total < cap)
            memcpy(out[total], names[j].name, WAN_DC_MAX);
    cn_free(names);
    cn_free(rtts);
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
