/* gossip/gossip_int.h: what the core's files share (gossip.c: members,
 * messages, timers; bcast.c: the transmit-limited broadcast queue). */
#ifndef CN_GOSSIP_INT_H
#define CN_GOSSIP_INT_H

#include "gossip/codec.h"
#include "gossip/gossip.h"
#include "gossip/ident.h"

#define GOSSIP_BC_LEVELS 64 /* transmit counts tracked (the limit is clamped below) */
#define GOSSIP_RELAYS 32    /* ping-reqs relayed at once */
#define GOSSIP_QUERIES 8    /* our keyring queries in flight */
#define GOSSIP_QSEEN 256    /* queries remembered (not applied twice) */

struct gm;

/* A queued update (an encoded message), about one member: a newer update
 * about the same member replaces it (memberlist's invalidation by name). */
struct gbc {
    struct gbc *prev, *next;
    uint32_t x;       /* the member's extras (struct gmx, 1-based), 0: about no member */
    uint64_t expires; /* a query's: dropped once g->now reaches it (0: never) */
    uint32_t transmits;
    uint16_t len;
    uint8_t msg[];
};

struct gsusp {
    struct gsusp *prev, *next;
    uint32_t x; /* the suspect's extras (1-based) */
    uint64_t start, min, max, deadline;
    uint32_t k, n;
    uint64_t who[8]; /* hashes of the confirmers (and the first suspector, who[0]) */
    uint32_t nwho;
    bool asked; /* expired once: the suspect was asked directly (last_chance) */
};

/* A member as one core knows it: 16 bytes, in the array g->mem (a core of
 * a 10,000-member pool holds 10,000 of them). Its name, address and tags
 * are an interned identity (ident.h); what few members have at a time (a
 * suspicion, a queued update, a coordinate, the time it failed or left) is
 * in an extras entry, g->xs[x - 1]. A struct gm * is valid until the
 * member array changes (a member added or removed, the probe order
 * shuffled): nothing keeps one across those; lasting references are extras
 * indexes, which follow the member (gmx.slot). */
struct gm {
    uint32_t id;   /* identity (gossip__ident) */
    uint32_t inc;  /* incarnation */
    uint32_t x;    /* extras, 1-based; 0: none */
    uint8_t state; /* enum gossip_status */
    bool self;
};

struct gmx {
    uint32_t slot;    /* the member's index in g->mem; next free entry when unused */
    uint64_t changed; /* when it became FAILED or LEFT (ms) */
    struct gsusp *susp;
    struct gbc *bc;
    struct coord *coord; /* its coordinate from its last ACK (Serf's coordCache), or NULL */
};

struct grelay {
    bool used, nack, answered;
    uint32_t seq_out, seq_in;
    uint64_t deadline;
    char host[GOSSIP_HOST_MAX + 1];
    uint16_t port;
};

/* One of our queries, collecting answers. */
struct gquery {
    bool used;
    uint8_t op;
    uint32_t id;
    uint64_t token, deadline;
    size_t num_nodes;
    struct gossip_qresp *resp;
    size_t nresp, cap;
};

struct gossip {
    struct gossip_config cfg;
    char cluster[GOSSIP_CLUSTER_MAX + 1];
    uint64_t rng;
    struct gossip_idents *ids; /* identities (shared, or ours: own_ids) */
    bool own_ids;
    size_t self_slot; /* our own record in mem */
    struct gm *mem;   /* the members, in probe order */
    size_t n, cap;
    uint32_t *ix; /* open-addressing index by name hash: slot + 1, 0 empty */
    size_t nix;
    struct gmx *xs; /* extras entries */
    uint32_t nxs, capxs, xfree;
    uint64_t reap_due; /* the earliest a FAILED or LEFT member can be reaped */
    size_t nalive;     /* ALIVE + SUSPECT, self included */
    size_t nfailed;    /* FAILED */
    size_t nleft;      /* LEFT */
    size_t probe_at;   /* round-robin position in mem */
    struct gsusp *susps;

    struct {
        bool active, indirect;
        char name[GOSSIP_NAME_MAX + 1];
        uint32_t seq;
        uint64_t ack_deadline, end;
        uint32_t expected_nacks, nacks;
        uint64_t sent_us; /* when the PING went out (round-trip time) */
    } probe;
    uint32_t seq;
    unsigned awareness;
    struct grelay relays[GOSSIP_RELAYS];
    size_t nrelays;

    uint64_t now, next_probe, next_gossip, next_pp, next_reconnect, next_reap;
    uint64_t last_tick; /* the previous gossip_tick (a long gap: we were stalled) */
    uint64_t now_us;    /* gossip_clock_us for the event being handled */
    bool now_us_set;
    uint64_t cur_us;         /* the event's time in microseconds (take_clock) */
    struct coord_client *cc; /* this member's coordinate; NULL when disabled */
    bool leaving;
    bool rx_asked; /* the datagram being read PINGs us (gossip_recv) */

    struct gbc *bq[GOSSIP_BC_LEVELS];
    size_t nbc;
    size_t nbc_expiring; /* queued entries with an expiry (queries) */

    struct gossip_out *outs;
    size_t nouts, outs_cap;
    struct gossip_event *events;
    size_t nevents, events_cap;
    struct gossip_stats st;

    /* keyring queries (gossip.c) */
    struct gossip_keyring kr;
    bool kr_changed;
    struct gquery queries[GOSSIP_QUERIES];
    size_t nqueries;
    uint32_t qseq;
    uint64_t qseen[GOSSIP_QSEEN]; /* hash(origin) ^ id of queries seen */
    size_t qseen_at;
    struct gossip_query_done *qdone;
    size_t nqdone, qdone_cap;
};

/* gossip.c, for query.c and bcast.c */
static inline const struct gident *gossip__id(const struct gossip *g, const struct gm *m)
{
    return gossip__ident(g->ids, m->id);
}
static inline struct gm *gossip__self(const struct gossip *g)
{
    return &g->mem[g->self_slot];
}
static inline struct gmx *gossip__x(const struct gossip *g, const struct gm *m)
{
    return m->x ? &g->xs[m->x - 1] : NULL;
}
/* The member's extras entry (made when it has none), or NULL on out of memory. */
struct gmx *gossip__x_get(struct gossip *g, struct gm *m);
/* Free extras entry x (1-based) when it holds nothing any more. */
void gossip__x_gc(struct gossip *g, uint32_t x);
/* A datagram without piggybacked updates (answers to a query's origin: the
 * query's own transmits are not spent on the member that sent it). */
void gossip__send_plain(struct gossip *g, const char *host, uint16_t port,
                        const struct gossip_msg *m);
size_t gossip__pick_alive(struct gossip *g, size_t k, const struct gm *not_this, struct gm **out);
struct gm *gossip__find(const struct gossip *g, const char *name);
uint64_t gossip__hash(const char *s);

/* query.c */
void gossip__on_query(struct gossip *g, const struct gossip_msg *m);
void gossip__on_qresp(struct gossip *g, const struct gossip_msg *m); /* QRESP, QRELAY */
void gossip__query_tick(struct gossip *g);
uint64_t gossip__query_deadline(const struct gossip *g, uint64_t d);
void gossip__query_free_done(struct gossip *g);
void gossip__query_free_all(struct gossip *g);

/* bcast.c */
/* Queue an encoded message about m (replacing m's older one). */
void gossip__bc_queue(struct gossip *g, struct gm *m, const struct gossip_msg *msg);
/* Queue a message about no member (a query): never replaced, sent until its
 * transmit limit or until `expires` (a query's timeout: a member that joins
 * later never hears a stale operation). */
void gossip__bc_queue_free(struct gossip *g, const struct gossip_msg *msg, uint64_t expires);
/* Drop the expired queries of the queue. */
void gossip__bc_expire(struct gossip *g);
/* Drop m's queued update. */
void gossip__bc_drop(struct gossip *g, struct gm *m);
/* Append queued updates that fit in `space` bytes (at most max_msgs), least
 * transmitted first; each counts a transmit. Returns how many. */
unsigned gossip__bc_fill(struct gossip *g, struct cn_buf *b, size_t space, unsigned max_msgs);
unsigned gossip__bc_limit(const struct gossip *g);
void gossip__bc_free_all(struct gossip *g);

#endif
