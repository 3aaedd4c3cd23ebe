/* Fuzz the WAN routing table (agent/wan_table.c): a WAN member's name, host
 * and tags come from any server of any datacenter (or anyone holding the
 * gossip key). Input: u8 name length, name, u8 host length, host, u8
 * status, then the encoded tags (up to GOSSIP_TAGS_MAX). Only tags the codec
 * would accept (gossip_tags_valid) reach wan_server_of in the agent, but the
 * parser must hold for any. A member it accepts must round-trip its parts:
 * NODE.DC = the name, the dc tag = DC, a port in 1..65535 in the address;
 * and the table functions over a handful of such members stay in bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/wan_table.h"
#include "base/err.h"

static size_t take(const uint8_t **p, size_t *n, char *out, size_t cap)
{
    if (!*n)
        return 0;
    size_t l = (*p)[0];
    (*p)++, (*n)--;
    if (l > *n)
        l = *n;
    if (l >= cap)
        l = cap - 1;
    memcpy(out, *p, l);
    out[l] = '\0';
    *p += l;
    *n -= l;
    return strlen(out); /* an embedded NUL ends the string */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[GOSSIP_NAME_MAX + 1], host[GOSSIP_HOST_MAX + 1];
    const uint8_t *p = data;
    size_t n = size;
    take(&p, &n, name, sizeof(name));
    take(&p, &n, host, sizeof(host));
    uint8_t st = n ? p[0] : 1;
    if (n)
        p++, n--;
    size_t tl = n > GOSSIP_TAGS_MAX ? GOSSIP_TAGS_MAX : n;
    struct gossip_member m = {.name = name,
                              .host = host,
                              .port = 8302,
                              .status = (enum gossip_status)(1 + st % 4),
                              .tags = p,
                              .tags_len = tl};
    struct wan_server sv[4];
    memset(sv, 0, sizeof(sv));
    int rc = wan_server_of(&m, &sv[0]);
    if (rc != 0 && rc != CN_EINVAL)
        abort();
    if (rc == 0) {
        char full[sizeof(sv[0].node) + WAN_DC_MAX + 1];
        snprintf(full, sizeof(full), "%s.%s", sv[0].node, sv[0].dc);
        if (strcmp(full, name) != 0 || !sv[0].node[0] || !sv[0].dc[0])
            abort();
        const char *colon = strrchr(sv[0].addr, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (port < 1 || port > 65535)
            abort();
        sv[1] = sv[0];
        sv[1].alive = !sv[1].alive;
        snprintf(sv[2].dc, sizeof(sv[2].dc), "dc1");
        char out[4][WAN_DC_MAX];
        size_t k = wan_datacenters(sv, 3, "dc1", out, 4);
        if (k < 1 || k > 3 || strcmp(out[0], "dc1") != 0)
            abort();
        const char *addrs[3];
        size_t a = wan_dc_servers(sv, 3, sv[0].dc, addrs, 3);
        if (a < 1 || a > 3) /* sv[0] or sv[1] is alive */
            abort();
        (void)wan_dc_known(sv, 3, sv[0].dc);
    }
    return 0;
}
