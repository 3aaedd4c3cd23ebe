/* gossip/ident.c: interned member identities (see ident.h). */
#include "gossip/ident.h"

#include <stdbool.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

uint64_t gossip__name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static uint64_t tuple_hash(uint64_t nhash, const char *host, uint16_t port, const uint8_t *tags,
                           size_t tags_len)
{
    uint64_t h = nhash ^ 0x9E3779B97F4A7C15ull;
    for (; *host; host++)
        h = (h ^ (uint8_t)*host) * 1099511628211ull;
    h = (h ^ port) * 1099511628211ull;
    for (size_t i = 0; i < tags_len; i++)
        h = (h ^ tags[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

struct gossip_idents *gossip_idents_new(void)
{
    struct gossip_idents *t = cn_calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->free = GIDENT_NONE;
    t->nbuckets = 64;
    t->buckets = cn_malloc(t->nbuckets * sizeof(*t->buckets));
    if (!t->buckets) {
        cn_free(t);
        return NULL;
    }
    memset(t->buckets, 0xff, t->nbuckets * sizeof(*t->buckets));
    return t;
}

void gossip_idents_free(struct gossip_idents *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->v[i].refs)
            cn_free(t->v[i].name);
    cn_free(t->v);
    cn_free(t->buckets);
    cn_free(t);
}

size_t gossip_idents_count(const struct gossip_idents *t)
{
    return t->live;
}

static int grow_buckets(struct gossip_idents *t)
{
    uint32_t nb = t->nbuckets * 2;
    uint32_t *b = cn_malloc((size_t)nb * sizeof(*b));
    if (!b)
        return -1;
    memset(b, 0xff, (size_t)nb * sizeof(*b));
    for (uint32_t i = 0; i < t->n; i++) {
        struct gident *e = &t->v[i];
        if (!e->refs)
            continue;
        uint32_t k = (uint32_t)(e->hash & (nb - 1));
        e->next = b[k];
        b[k] = i;
    }
    cn_free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    return 0;
}

uint32_t gossip__ident_get(struct gossip_idents *t, const char *name, const char *host,
                           uint16_t port, const uint8_t *tags, size_t tags_len)
{
    uint64_t nh = gossip__name_hash(name);
    uint64_t h = tuple_hash(nh, host, port, tags, tags_len);
    for (uint32_t i = t->buckets[h & (t->nbuckets - 1)]; i != GIDENT_NONE; i = t->v[i].next) {
        struct gident *e = &t->v[i];
        if (e->hash == h && e->port == port && e->tags_len == tags_len && !strcmp(e->name, name) &&
            !strcmp(e->host, host) && (!tags_len || !memcmp(e->tags, tags, tags_len))) {
            e->refs++;
            return i;
        }
    }
    if (t->live >= t->nbuckets && grow_buckets(t))
        return GIDENT_NONE;
    bool reuse = t->free != GIDENT_NONE;
    uint32_t id = t->free;
    if (!reuse) {
        if (t->n == t->cap) {
            uint32_t nc = t->cap ? t->cap * 2 : 16;
            struct gident *v = cn_realloc(t->v, (size_t)nc * sizeof(*v));
            if (!v)
                return GIDENT_NONE;
            t->v = v;
            t->cap = nc;
        }
        id = t->n;
    }
    size_t nl = strlen(name), hl = strlen(host);
    char *p = cn_malloc(nl + 1 + hl + 1 + tags_len + 1);
    if (!p)
        return GIDENT_NONE;
    if (reuse)
        t->free = t->v[id].next;
    else
        t->n++;
    struct gident *e = &t->v[id];
    memcpy(p, name, nl + 1);
    memcpy(p + nl + 1, host, hl + 1);
    if (tags_len)
        memcpy(p + nl + hl + 2, tags, tags_len);
    e->name = p;
    e->host = p + nl + 1;
    e->tags = (uint8_t *)p + nl + hl + 2;
    e->tags_len = (uint16_t)tags_len;
    e->port = port;
    e->nhash = nh;
    e->hash = h;
    e->refs = 1;
    uint32_t k = (uint32_t)(h & (t->nbuckets - 1));
    e->next = t->buckets[k];
    t->buckets[k] = id;
    t->live++;
    return id;
}

void gossip__ident_put(struct gossip_idents *t, uint32_t id)
{
    CN_ASSERT(id < t->n && t->v[id].refs > 0);
    struct gident *e = &t->v[id];
    if (--e->refs)
        return;
    uint32_t *pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != id) {
        CN_INVARIANT(*pp != GIDENT_NONE);
        pp = &t->v[*pp].next;
    }
    *pp = e->next;
    cn_free(e->name);
    e->name = e->host = NULL;
    e->tags = NULL;
    e->next = t->free;
    t->free = id;
    t->live--;
}
