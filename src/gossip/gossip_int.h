/* gossip/gossip_int.h: what the core's files share (gossip.c: members,
 * messages, timers; bcast.c: the transmit-limited broadcast queue). */
#ifndef CN_GOSSIP_INT_H
#define CN_GOSSIP_INT_H

#include "gossip/codec.h"
#include "gossip/gossip.h"

#define GOSSIP_BC_LEVELS 64 /* transmit counts tracked (the limit is clamped below) */
#define GOSSIP_RELAYS 32    /* ping-reqs relayed at once */

struct gm;

/* A queued update (an encoded message), about one member: a newer update
 * about the same member replaces it (memberlist's invalidation by name). */
struct gbc {
    struct gbc *prev, *next;
    struct gm *about;
    uint32_t transmits;
    uint16_t len;
    uint8_t msg[];
};

struct gsusp {
    struct gsusp *prev, *next;
    struct gm *m;
    uint64_t start, min, max, deadline;
    uint32_t k, n;
    uint64_t who[8]; /* hashes of the confirmers (and the first suspector, who[0]) */
    uint32_t nwho;
};

struct gm {
    char host[GOSSIP_HOST_MAX + 1];
    char *name; /* one allocation: name, NUL, tags */
    uint8_t *tags;
    uint16_t tags_len, port;
    uint8_t state; /* enum gossip_status */
    bool self;
    uint32_t inc;
    uint32_t idx; /* position in g->mem */
    uint64_t hash;
    uint64_t changed; /* when state last changed (ms) */
    struct gm *hnext;
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

struct gossip {
    struct gossip_config cfg;
    char cluster[GOSSIP_CLUSTER_MAX + 1];
    uint64_t rng;
    struct gm *self;
    struct gm **mem;
    size_t n, cap;
    struct gm **buckets;
    size_t nbuckets;
    size_t nalive;   /* ALIVE + SUSPECT, self included */
    size_t nfailed;  /* FAILED */
    size_t nleft;    /* LEFT */
    size_t probe_at; /* round-robin position in mem */
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

    struct gbc *bq[GOSSIP_BC_LEVELS];
    size_t nbc;

    struct gossip_out *outs;
    size_t nouts, outs_cap;
    struct gossip_event *events;
    size_t nevents, events_cap;
    struct gossip_stats st;
};

/* bcast.c */
/* Queue an encoded message about m (replacing m's older one). */
void gossip__bc_queue(struct gossip *g, struct gm *m, const struct gossip_msg *msg);
/* Drop m's queued update. */
void gossip__bc_drop(struct gossip *g, struct gm *m);
/* Append queued updates that fit in `space` bytes (at most max_msgs), least
 * transmitted first; each counts a transmit. Returns how many. */
unsigned gossip__bc_fill(struct gossip *g, struct cn_buf *b, size_t space, unsigned max_msgs);
unsigned gossip__bc_limit(const struct gossip *g);
void gossip__bc_free_all(struct gossip *g);

#endif
