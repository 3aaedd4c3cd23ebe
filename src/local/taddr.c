/* local/taddr.c: the tagged addresses Consul's agent adds to a service it
 * registers (agent/agent.go addServiceInternal, "Set default tagged
 * addresses"): when the service has an Address that parses as an IP, the
 * entries lan_ipv4 and wan_ipv4 (an IPv4 address, IPv4-mapped IPv6 included,
 * as Go's net.IP.To4 counts it) or lan_ipv6 and wan_ipv6 (any other IPv6
 * address) are set to {Address, Port} unless the registration named them
 * itself. A hostname or an empty Address adds nothing. Every agent-side
 * registration gets them (local_add_service: the HTTP API and service
 * definitions alike); /v1/catalog/register stores what it is given. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "local/local_int.h"
#include "base/err.h"
#include "base/mem.h"

static int taddr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct state_taddr *)a)->name, ((const struct state_taddr *)b)->name);
}

static bool has_taddr(const struct state_service *s, const char *name)
{
    for (size_t i = 0; i < s->ntaddrs; i++)
        if (!strcmp(s->taddrs[i].name, name))
            return true;
    return false;
}

/* 4: IPv4 (or IPv4-mapped), 6: IPv6, 0: not an IP literal. */
static int ip_family(const char *a)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, a, buf) == 1)
        return 4;
    if (inet_pton(AF_INET6, a, buf) == 1)
        return IN6_IS_ADDR_V4MAPPED((struct in6_addr *)buf) ? 4 : 6;
    return 0;
}

int local__default_taddrs(struct state_service *s)
{
    if (!s->address || !*s->address)
        return 0;
    int fam = ip_family(s->address);
    if (!fam)
        return 0;
    const char *names[2] = {fam == 4 ? "lan_ipv4" : "lan_ipv6", fam == 4 ? "wan_ipv4" : "wan_ipv6"};
    size_t add = 0;
    for (int i = 0; i < 2; i++)
        add += !has_taddr(s, names[i]);
    if (!add)
        return 0;
    struct state_taddr *t = cn_realloc(s->taddrs, (s->ntaddrs + add) * sizeof(*t));
    if (!t)
        return CN_ENOMEM;
    s->taddrs = t;
    for (int i = 0; i < 2; i++) {
        if (has_taddr(s, names[i]))
            continue;
        struct state_taddr *n = &s->taddrs[s->ntaddrs];
        n->name = cn_strdup(names[i]);
        n->address = cn_strdup(s->address);
        n->port = s->port;
        if (!n->name || !n->address) {
            cn_free(n->name);
            cn_free(n->address);
            return CN_ENOMEM;
        }
        s->ntaddrs++;
    }
    qsort(s->taddrs, s->ntaddrs, sizeof(*s->taddrs), taddr_cmp);
    return 0;
}
