/* gossip/ident.h: interned member identities (name, address, tags), shared
 * by every member table that points at them.
 *
 * A member table (gossip.c) holds, per member it knows, a 16-byte record
 * whose identity is an index into this table: the strings are stored once
 * however many tables name the same member with the same address and tags.
 * A core owns a private table unless the shell hands it one to share
 * (gossip_config.idents: the simulator, whose N cores all know the same N
 * members). Entries are reference counted and reused; the table is a plain
 * data structure (no locks: the cores sharing one run on one thread). */
#ifndef CN_GOSSIP_IDENT_H
#define CN_GOSSIP_IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "gossip/gossip.h"

#define GIDENT_NONE UINT32_MAX

struct gident {
    char *name; /* one allocation: name, NUL, host, NUL, tags */
    char *host;
    uint8_t *tags;
    uint64_t nhash; /* hash of the name: the member tables' key */
    uint64_t hash;  /* hash of name, host, port and tags: interning */
    uint32_t refs;  /* 0: a free entry */
    uint32_t next;  /* interning chain, or the free list */
    uint16_t port, tags_len;
};

struct gossip_idents {
    struct gident *v;
    uint32_t n, cap;   /* entries used or freed, allocated */
    uint32_t free;     /* free list head (GIDENT_NONE: empty) */
    uint32_t live;     /* entries with refs > 0 */
    uint32_t *buckets; /* interning chains by hash */
    uint32_t nbuckets;
};

/* The name hash (FNV-1a) the member tables use. */
uint64_t gossip__name_hash(const char *s);
/* The entry for this identity with one more reference (a new entry when
 * none matches), or GIDENT_NONE on out of memory. */
uint32_t gossip__ident_get(struct gossip_idents *t, const char *name, const char *host,
                           uint16_t port, const uint8_t *tags, size_t tags_len);
/* Drop a reference; the entry is freed (its index reused) at zero. */
void gossip__ident_put(struct gossip_idents *t, uint32_t id);

static inline const struct gident *gossip__ident(const struct gossip_idents *t, uint32_t id)
{
    return &t->v[id];
}

#endif
