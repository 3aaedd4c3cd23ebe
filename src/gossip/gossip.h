/* gossip/gossip.h: cluster membership and failure detection as a pure,
 * deterministic state machine: SWIM (Das, Gupta, Motivala 2002) with the
 * Lifeguard extensions (Dadgar, Phillips, Currey 2018), shaped after
 * hashicorp/memberlist and Serf's member statuses, with cairn's own wire
 * format (gossip/codec.h; not memberlist-compatible).
 *
 * PURE: no sockets, clocks, threads, global state or hidden randomness. Time
 * is milliseconds handed in (gossip_tick); randomness comes from a PRNG
 * seeded through the config; links nothing but base/ (and libm). The shell
 * (gossip/net.c on the agent's libuv loop, tests/sim/gossip_sim.c in
 * simulation) does the I/O:
 *   1. feeds events: gossip_tick(now) when gossip_next_deadline(now) is
 *      reached, gossip_recv (a UDP datagram), gossip_recv_stream (a TCP
 *      push/pull request, whose reply it writes back; or that reply, read by
 *      the side that sent the request), gossip_join, gossip_leave,
 *      gossip_force_leave;
 *   2. while gossip_ready(g, &u) returns true: sends u.outs (UDP datagrams;
 *      `stream` ones over TCP, the reply read and handed to
 *      gossip_recv_stream with reply == NULL), handles u.events (membership
 *      changes), then calls gossip_done(g, &u).
 *
 * The protocol, per probe interval (scaled by the local health score):
 *   - direct probe: PING the next member of a shuffled round-robin order;
 *     ACK within the probe timeout (scaled) keeps it alive;
 *   - indirect probe: else PING-REQ through `indirect_checks` random members,
 *     who ping it and relay the ACK, or a NACK when it does not answer them;
 *   - no ACK by the end of the (scaled) interval: SUSPECT it. A suspicion
 *     becomes DEAD ("failed") after the suspicion timeout unless the member
 *     refutes it with a higher incarnation (ALIVE);
 *   - every update (ALIVE/SUSPECT/DEAD) is piggybacked on every packet sent,
 *     and sent to `gossip_nodes` random members every gossip interval, each
 *     at most retransmit_mult * ceil(log10(n + 1)) times, the least sent
 *     first;
 *   - every push_pull interval (scaled up for clusters over 32 members) the
 *     whole member list is exchanged with one random member over TCP;
 *     joining is such an exchange with any known address.
 * Lifeguard:
 *   - local health awareness (LHA): a score 0..awareness_max-1 multiplies the
 *     probe interval and timeout by (score + 1); a probe that fails raises it
 *     by the NACKs that did not come (by 1 without indirect checks), having
 *     to refute a suspicion of ourselves raises it by 1, a successful probe
 *     lowers it by 1;
 *   - dynamic suspicion: the timeout starts at max = suspicion_max_timeout_mult
 *     * min, min = suspicion_mult * max(1, log10(n)) * probe_interval, and
 *     shrinks towards min with log(confirmations + 1) / log(k + 1) as
 *     independent members (k = suspicion_mult - 2) suspect the same member;
 *   - buddy system: the probe of a suspect carries the SUSPECT message, so
 *     the suspect learns of it (and refutes) at once;
 *   - last chance (cairn's, in the buddy system's spirit): an expired
 *     suspicion first sends the suspect and indirect_checks random members
 *     a PING carrying the SUSPECT, and declares it failed a probe timeout
 *     later unless a refutation came; the suspect, when it hears a
 *     suspicion or death of itself at an incarnation older than its own,
 *     and a member so asked that holds the suspect alive at a newer
 *     incarnation, queue that ALIVE again (carried by the ACK, and
 *     gossiped). A member that missed a refutation's epidemic (saturated
 *     broadcast queues spread each update only a few times) thus learns
 *     it before it declares;
 *   - missed deadlines: a tick that comes more than a probe interval late
 *     (the process did not run) drops the probe in flight, gives expired
 *     suspicions a probe timeout of grace to read what arrived meanwhile,
 *     and raises the awareness score;
 * Turning `lifeguard` off gives plain SWIM (fixed interval and timeouts,
 * fixed suspicion timeout = min, no NACKs, no buddy), for comparison.
 *
 * Statuses (gossip_status): ALIVE, SUSPECT, FAILED (memberlist's dead), LEFT
 * (a graceful leave, or force-leave). FAILED and LEFT members are kept (and
 * gossiped to for gossip_to_the_dead_ms) and reaped after reap_failed_ms
 * (Consul's reconnect_timeout, 72h) / reap_left_ms (tombstone, 24h); every
 * reconnect_interval_ms a member makes a push/pull attempt to a random FAILED
 * member with probability failed / alive (Serf's reconnect: the pool tries
 * each about once per interval), so a member that was only unreachable
 * comes back.
 *
 * Ownership: everything reachable from a gossip_update is owned by the core
 * until gossip_done. Every input is copied. */
#ifndef CN_GOSSIP_H
#define CN_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "gossip/keyring.h"
#include "coord/coord.h"

#define GOSSIP_NAME_MAX 128 /* node names, bytes */
#define GOSSIP_HOST_MAX 63  /* an IP address as text */
#define GOSSIP_TAGS_MAX 512 /* encoded tags (memberlist's MetaMaxSize) */
#define GOSSIP_CLUSTER_MAX 64
#define GOSSIP_UDP_MAX 1400 /* a datagram's size (memberlist's UDPBufferSize) */

enum gossip_status {
    GOSSIP_ALIVE = 1,
    GOSSIP_SUSPECT = 2,
    GOSSIP_FAILED = 3,
    GOSSIP_LEFT = 4,
};
const char *gossip_status_name(enum gossip_status s);
/* Serf's MemberStatus number (/v1/agent/members "Status"): alive (suspect
 * too) 1, leaving 2, left 3, failed 4. */
int gossip_serf_status(enum gossip_status s, bool leaving);

struct gossip_config {
    const char *name;    /* this member's node name (unique in the cluster) */
    const char *host;    /* advertised IP */
    uint16_t port;       /* advertised gossip port (UDP and TCP) */
    const char *cluster; /* cluster identity (the datacenter): packets of others are refused */
    const uint8_t *tags; /* encoded tags (gossip_tags_put); may be NULL */
    size_t tags_len;
    uint64_t rng_seed;

    /* memberlist DefaultLANConfig */
    uint32_t probe_interval_ms;          /* 1000 */
    uint32_t probe_timeout_ms;           /* 500 */
    uint32_t suspicion_mult;             /* 4 */
    uint32_t suspicion_max_timeout_mult; /* 6 */
    uint32_t indirect_checks;            /* 3 */
    uint32_t gossip_interval_ms;         /* 200 */
    uint32_t gossip_nodes;               /* 3 */
    uint32_t push_pull_interval_ms;      /* 30000 */
    uint32_t awareness_max;              /* 8 */
    uint32_t retransmit_mult;            /* 4 */
    uint32_t gossip_to_the_dead_ms;      /* 30000 */
    /* Serf */
    uint64_t reap_failed_ms;        /* 72h (Consul's reconnect_timeout) */
    uint64_t reap_left_ms;          /* 24h (tombstone_timeout) */
    uint32_t reconnect_interval_ms; /* 30000 */
    size_t udp_max;                 /* GOSSIP_UDP_MAX */
    bool lifeguard;                 /* LHA + dynamic suspicion + buddy + nacks */
    /* The encryption keyring at start (copied; NULL or empty: none). The
     * core keeps it and changes it as keyring queries say; the shell seals
     * with its primary and opens with any key (gossip_get_keyring). */
    const struct gossip_keyring *keyring;
    /* Serf's network coordinates: every ACK carries this member's
     * coordinate, and the round-trip time of each direct probe moves ours
     * (coord/coord.h). Off: ACKs carry none, nothing is computed (Serf's
     * DisableCoordinates). */
    bool disable_coordinates;
    /* The identity table (gossip/ident.h) to share with other cores on the
     * same thread, or NULL for a private one. A member table stores each
     * member's name, address and tags once per table of identities, not
     * once per core that knows it: the simulator shares one table among
     * its N cores so that N x N member entries are 16 bytes each. */
    struct gossip_idents *idents;
};
/* The tag a member computing coordinates adds to its own (value "1", the
 * ACK trailer's version): ACKs carry a coordinate only to members that
 * have it, so a pool can mix members built before coordinates. */
#define GOSSIP_TAG_COORD "coord_v"

/* A table of member identities to share (gossip_config.idents); free it
 * after every core that uses it. */
struct gossip_idents;
struct gossip_idents *gossip_idents_new(void);
void gossip_idents_free(struct gossip_idents *t);
size_t gossip_idents_count(const struct gossip_idents *t); /* identities held */

/* The defaults above, strings NULL. */
void gossip_config_default(struct gossip_config *c);

/* A member as the core shows it (borrowed: valid until the next call into
 * the core, or, in an event, until gossip_done). */
struct gossip_member {
    const char *name;
    const char *host;
    uint16_t port;
    enum gossip_status status;
    uint32_t incarnation;
    const uint8_t *tags;
    size_t tags_len;
    bool leaving; /* this member (self) is leaving */
};

enum gossip_event_type {
    GOSSIP_EV_JOIN = 1, /* new member, or a failed/left one alive again */
    GOSSIP_EV_UPDATE,   /* tags or address changed */
    GOSSIP_EV_SUSPECT,  /* suspected (memberlist keeps it alive for Serf; the simulator counts) */
    GOSSIP_EV_FAILED,
    GOSSIP_EV_LEFT,
    GOSSIP_EV_REAP, /* forgotten (reaped, or force-leave ?prune) */
};

struct gossip_event {
    enum gossip_event_type type;
    struct gossip_member m;
};

struct gossip_out {
    char host[GOSSIP_HOST_MAX + 1];
    uint16_t port;
    bool stream;    /* a push/pull request: TCP, read the reply */
    uint64_t token; /* stream: gossip_join's token, 0 for periodic push/pull */
    uint8_t *data;
    size_t len;
};

/* ---- keyring queries (serf's internal queries, keymanager.go) ----
 * gossip_query gossips a QUERY (an operation: list, install, use or remove a
 * key); every member that hears it first gossips it on, applies it to its
 * own keyring and answers the origin directly (QRESP over UDP; with a relay
 * factor r also through r random members, QRELAY). The origin applies it to
 * itself at once and collects one answer per member until every member
 * alive at the start answered or the timeout passed: then a
 * gossip_query_done comes out in an update. */
struct gossip_qresp {
    char name[GOSSIP_NAME_MAX + 1];
    bool ok;
    char msg[256];              /* why not ok ("" when ok) */
    struct gossip_keyring keys; /* list: the member's keys, primary first */
};

struct gossip_query_done {
    uint64_t token;   /* gossip_query's */
    uint8_t op;       /* enum gossip_qop (codec.h) */
    size_t num_nodes; /* members alive (or suspect) when the query started */
    bool timed_out;
    struct gossip_qresp *resp; /* one per member that answered */
    size_t nresp;
};

struct gossip_update {
    struct gossip_out *outs;
    size_t nouts;
    struct gossip_event *events;
    size_t nevents;
    struct gossip_query_done *qdone; /* finished queries of ours */
    size_t nqdone;
    bool keyring_changed; /* our keyring changed (persist it) */
};

struct gossip_stats {
    uint64_t packets_sent, bytes_sent, packets_recv, bytes_recv;
    uint64_t streams_sent, stream_bytes_sent;
    uint64_t dropped_malformed, dropped_cluster; /* refused packets */
    uint64_t probes, probes_failed, refutes, suspects_started;
    uint64_t stalls;       /* ticks that came more than a probe interval late (Lifeguard) */
    uint64_t last_chances; /* expired suspicions whose suspect was asked directly first */
    uint64_t reannounces;  /* an ALIVE queued again for a stale suspicion (last chance) */
    uint64_t coord_updates, coord_rejected, coord_resets; /* network coordinates */
    unsigned awareness;                                   /* current score */
};

struct gossip;

/* NULL on out of memory or an invalid config (empty name or host, port 0,
 * tags too long or malformed, zero intervals). */
struct gossip *gossip_new(const struct gossip_config *cfg, uint64_t now_ms);
void gossip_free(struct gossip *g);

/* The shell's high-resolution clock (microseconds, any origin, monotonic)
 * at the event it hands in next (gossip_tick, gossip_recv): a probe's
 * round-trip time is measured with it. Without it (the simulator may skip
 * it), milliseconds * 1000 are used. Consumed by that one event. */
void gossip_clock_us(struct gossip *g, uint64_t now_us);

/* Advance time: probes, timeouts, suspicions, gossip, push/pull, reaping. */
void gossip_tick(struct gossip *g, uint64_t now_ms);
/* The earliest time gossip_tick has something to do (>= now_ms). */
uint64_t gossip_next_deadline(const struct gossip *g, uint64_t now_ms);

/* A UDP datagram. 0, or CN_ECORRUPT (malformed: dropped, counted) or
 * CN_EPROTO (another cluster: dropped, counted). Nothing of a refused packet
 * is acted on. */
int gossip_recv(struct gossip *g, const void *p, size_t len, uint64_t now_ms);
/* A push/pull message read from TCP. On the accepting side `reply` is given
 * and gets the answer to write back; on the requesting side reply is NULL.
 * Same return codes as gossip_recv. */
int gossip_recv_stream(struct gossip *g, const void *p, size_t len, struct cn_buf *reply,
                       uint64_t now_ms);

/* Join through host:port: a push/pull exchange (an out with stream set and
 * this token); the shell reports success when a valid reply arrives. */
int gossip_join(struct gossip *g, const char *host, uint16_t port, uint64_t token);
/* Graceful leave: self becomes LEFT (announced); probing stops. */
void gossip_leave(struct gossip *g);
/* True once the leave announcement went out to others (or nobody is left to
 * tell): the shell may stop. */
bool gossip_leave_sent(const struct gossip *g);
/* Consul's force-leave: a FAILED (or any other) member becomes LEFT,
 * announced; with prune it is forgotten at once (a REAP event).
 * CN_ENOTFOUND for an unknown name, CN_EINVAL for self. */
int gossip_force_leave(struct gossip *g, const char *name, bool prune);
/* Replace this member's tags (announced as a new incarnation). */
int gossip_set_tags(struct gossip *g, const uint8_t *tags, size_t len);

/* Start a keyring query (op: enum gossip_qop; key for install, use and
 * remove; relay 0..5; timeout_ms 0: serf's default, gossip interval x 16 x
 * ceil(log10(n + 1))). CN_EINVAL for bad arguments, CN_EAGAIN when 8 queries
 * are in flight already. */
int gossip_query(struct gossip *g, uint8_t op, const uint8_t *key, size_t key_len, unsigned relay,
                 uint64_t timeout_ms, uint64_t token);
/* The keyring in force (n == 0: no encryption). */
const struct gossip_keyring *gossip_get_keyring(const struct gossip *g);

/* Insert a member as ALIVE without announcing it (the simulator builds big
 * pools this way instead of n joins). */
int gossip_learn(struct gossip *g, const char *name, const char *host, uint16_t port,
                 const uint8_t *tags, size_t tags_len, uint32_t incarnation);

/* Make room for this many members (self included) at once: no regrowth
 * while a big pool is learned. CN_ENOMEM, CN_EINVAL (absurd count). */
int gossip_reserve(struct gossip *g, size_t members);

/* Draw the next push/pull anywhere in the interval for the pool's current
 * size (pushPullScale), as the phases of a pool that has been running are
 * spread: a pool built at once with gossip_learn would otherwise have every
 * member's first push/pull in the same (unscaled) 30 s. */
void gossip_stagger_push_pull(struct gossip *g);

bool gossip_ready(struct gossip *g, struct gossip_update *u);
void gossip_done(struct gossip *g, struct gossip_update *u);

/* Members, self included, in no particular order; stop when cb returns
 * non-zero (returned). */
typedef int (*gossip_member_cb)(void *arg, const struct gossip_member *m);
int gossip_foreach(const struct gossip *g, gossip_member_cb cb, void *arg);
/* 0 and *out, or CN_ENOTFOUND. */
int gossip_member_get(const struct gossip *g, const char *name, struct gossip_member *out);
size_t gossip_num_members(const struct gossip *g); /* all states */
size_t gossip_num_alive(const struct gossip *g);   /* alive + suspect, self included */
void gossip_get_stats(const struct gossip *g, struct gossip_stats *out);

/* ---- network coordinates (Serf's coordCache) -------------------------------
 * This member's coordinate: 0, or CN_ENOTFOUND with coordinates disabled. */
int gossip_coord_self(const struct gossip *g, struct coord *out);
/* The coordinate a member last sent us in an ACK (self: our own): 0, or
 * CN_ENOTFOUND (none yet, unknown member, disabled). Forgotten when the
 * member is reaped. */
int gossip_coord_get(const struct gossip *g, const char *name, struct coord *out);

/* ---- tags: a small key/value map, encoded (u8 key length, key, u8 value
 * length, value) repeated, keys non-empty and unique ---------------------- */
/* Append key=value to an encoding; CN_ETOOBIG past GOSSIP_TAGS_MAX, CN_EINVAL
 * for an empty or overlong (> 255) key or value > 255. */
int gossip_tags_put(struct cn_buf *tags, const char *key, const char *value);
/* Copy the value of key into out (NUL-terminated); CN_ENOTFOUND. */
int gossip_tags_get(const uint8_t *tags, size_t len, const char *key, char *out, size_t cap);
/* Visit every pair (borrowed, not NUL-terminated). */
typedef int (*gossip_tag_cb)(void *arg, const char *k, size_t klen, const char *v, size_t vlen);
int gossip_tags_foreach(const uint8_t *tags, size_t len, gossip_tag_cb cb, void *arg);
/* 0 when well formed (the rules above, len <= GOSSIP_TAGS_MAX). */
int gossip_tags_valid(const uint8_t *tags, size_t len);

#endif
