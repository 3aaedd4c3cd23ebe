/* tests/sim/sim.c: the simulated cluster — shell, fake disk, fake network,
 * state machine and the invariant checks (docs/raft-pitfalls.md §3).
 *
 * The shell follows raft.h step by step for every raft_ready, with the
 * server's own sequencing rules (src/server/seq.c, the code cairn runs):
 *   a. what the update must write becomes one disk "batch" (snapshot,
 *      entries, and the hard state only when term or vote changed, its
 *      commit clamped to the applied index), applied at once to the node's
 *      volatile view V and, when it syncs, to its durable image D (FIFO per
 *      node; a crash keeps D, loses the rest). As cairn's writer does, the
 *      hard state is written first: in async mode it may become durable
 *      before the batch's snapshot and entries, with a crash in between;
 *   b. committed entries and snapshots go to the state machine;
 *   c. messages: a leader's (msgs_before_persist) leave at once unless a
 *      term/vote write is outstanding; any other's wait until their batch
 *      (or the newest one outstanding) is durable;
 *   d. raft_done; raft_persisted(last index, term) when the batch syncs.
 * Everything the cores emit is checked against history-wide records: leader
 * per term, (index, term) -> entry registry, committed journal, votes sent. */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "server/fwd_codec.h"
#include "server/reqs.h"
#include "server/seq.h"

#define SIM_SNAP_LEN 24 /* snapshot bytes: applied index, its term, running hash */

/* ---- PRNG ------------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
    return n ? sim_rng_next(r) % n : 0;
}

bool sim_rng_chance(struct sim_rng *r, double p)
{
    if (p <= 0)
        return false;
    return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53 < p;
}

/* ---- data --------------------------------------------------------------------- */
struct sim_ent {
    uint64_t term, index;
    enum raft_entry_type type;
    uint8_t *data;
    size_t len;
};

struct sim_log {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap; /* snap.index == 0: none */
    uint8_t snap_data[SIM_SNAP_LEN];
    struct sim_ent *e; /* e[k].index == snap.index + 1 + k */
    size_t n, cap;
};

struct sim_msg {
    struct srv_seq_msg link; /* held on a batch (server/seq.h) */
    struct raft_msg m;       /* deep copy: entries, their data, snap_data */
    uint64_t deliver_at, seq;
    uint64_t ack_term; /* APPEND_RESP ack: term of the acked entry when emitted */
};

struct sim_batch {
    bool has_snap;
    struct raft_snapshot_meta snap;
    uint8_t snap_data[SIM_SNAP_LEN];
    struct sim_ent *e;
    size_t n;
    struct srv_seq_job sq; /* hard state, ack, messages sent when durable */
    bool hs_done;          /* the hard state is durable already */
    uint64_t sync_at;
    struct sim_batch *next;
};

struct sim_read {
    int node;
    uint64_t required; /* highest index committed anywhere when the read was asked */
    uint64_t index;    /* answer from the core */
    uint8_t state;     /* 0 asked, 1 index known, 2 answered (applied >= index) */
    int remote_from;   /* a follower's READ: answer it (0: a local read) */
    uint64_t remote_req;
};

struct sim_node {
    int id;
    bool started, up, removed, retired;
    struct raft *r;
    struct sim_log disk, view;
    /* A snapshot received from a leader, on disk as a temp file, before
     * the core asked to install it (server/snapstream.c: the shell receives
     * the bytes, then delivers the SNAPSHOT message; the core refers to the
     * snapshot by index and term only). Lost in a crash. */
    bool has_recv;
    struct raft_snapshot_meta recv;
    uint8_t recv_data[SIM_SNAP_LEN];
    struct sim_batch *ph, *pt;
    size_t npend;
    struct srv_seq seq; /* the server's sequencing rules (src/server/seq.c) */
    enum sim_disk_mode dmode;
    uint64_t last_sync_at;
    struct raft_conf boot_conf;
    /* state machine */
    uint64_t sm_index, sm_term, sm_hash;
    struct raft_conf sm_conf;
    /* what the checks last saw in this incarnation */
    enum raft_state st;
    uint64_t term, commit, lead_term;
    uint64_t prog_match[SIM_MAX_NODES + 1];
    unsigned phase;
    uint64_t restart_at, retire_at;
    /* votes granted by messages actually sent: term -> candidate */
    uint8_t *granted;
    size_t granted_cap;
    uint64_t *pend_reads; /* ctx list waiting for apply */
    size_t n_pend_reads, cap_pend_reads;
    /* client writes waiting on this node, by server/reqs.c's rules */
    struct sim_cw *cws;
    size_t n_cws;
    uint64_t epoch, next_req;  /* this incarnation's ids (the server's srv__next_id) */
    struct srv_req_table *tab; /* the leader's table of forwarded proposals */
    struct sim_cr *crs;        /* client reads waiting on this node */
    /* A read-back asked by the core (raft_update.fetch_lo/hi), served from
     * the durable image at fetch_at; lost in a crash. */
    bool fetch;
    uint64_t fetch_lo, fetch_hi, fetch_at;
    uint64_t rb_entries, rb_compacted;
};

/* A client write on the node it was submitted to, until answered. Its
 * command is the envelope (node, env_id), then SIM_CW_MAGIC and the write's
 * unique id. */
#define SIM_CW_MAGIC 0x53494d5f435752ULL /* "SIM_CWR" */
#define SIM_CW_LEN (SRV_ENV_LEN + 16)
struct sim_cw {
    struct sim_cw *next;
    struct srv_req rq;
    uint64_t wid;
    uint8_t data[SIM_CW_LEN];
};

struct sim_wrec {         /* per write id, over the whole run */
    uint8_t state;        /* enum sim_cw_state */
    int node;             /* submitted to */
    uint64_t applied;     /* the index it was committed at (0: not yet) */
    uint64_t acked_index; /* SIM_CW_ACKED: where the client was told it applied */
};

struct sim_jrec {
    uint64_t term, ehash, cum;
    bool set;
};

struct sim_reg {
    uint64_t term, hash, prev;
};
struct sim_regv {
    struct sim_reg *v;
    uint32_t n, cap;
};

struct sim {
    struct sim_opts o;
    struct sim_rng rng;
    uint64_t now;
    struct sim_node nodes[SIM_MAX_NODES + 1];
    /* network */
    struct sim_msg **net;
    size_t n_net, cap_net;
    uint64_t seq;
    bool blocked[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
    /* history */
    uint8_t *leader_of; /* term -> leader id */
    size_t leader_cap;
    struct sim_jrec *j; /* index -> committed entry */
    size_t j_cap;
    uint64_t max_committed;
    struct sim_regv *reg; /* index -> (term, hash, prev term) seen in any log */
    size_t reg_cap;
    struct raft_conf conf_ref; /* latest committed configuration */
    uint64_t conf_ref_index;
    struct sim_read *reads;
    size_t reads_cap;
    struct sim_wrec *w; /* write id -> record */
    size_t w_cap;
    uint64_t next_wid, cw_outstanding, max_acked, next_rid, cr_outstanding;
    struct sim_cw_stats cw_stats;
    size_t table_cap;
    uint64_t next_ctx, next_value;
    /* failure */
    enum sim_fail_kind fail_kind;
    char fail[600];
    uint64_t events;
    int in_check;
};

/* ---- small helpers ------------------------------------------------------------ */
static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "cairn-sim: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "cairn-sim: out of memory\n");
        abort();
    }
    return q;
}

/* Grow a zero-filled array so that index `need` is valid. */
static void grow_zero(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need < *cap)
        return;
    size_t nc = *cap ? *cap : 64;
    while (nc <= need)
        nc *= 2;
    *arr = xrealloc(*arr, nc * elem);
    memset((char *)*arr + *cap * elem, 0, (nc - *cap) * elem);
    *cap = nc;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static uint64_t ent_hash(enum raft_entry_type type, const void *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)type;
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return mix64(h, len);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static const char *msg_name(enum raft_msg_type t)
{
    static const char *names[] = {
        "?",         "APPEND",  "APPEND_RESP",  "HEARTBEAT", "HB_RESP",    "VOTE",
        "VOTE_RESP", "PREVOTE", "PREVOTE_RESP", "SNAPSHOT",  "TIMEOUT_NOW"};
    if ((int)t == SIM_MSG_FWD_REQ)
        return "FWD_REQ";
    if ((int)t == SIM_MSG_FWD_RESP)
        return "FWD_RESP";
    return t > 0 && t < RAFT_MSG__COUNT ? names[t] : "?";
}

static const char *state_name(enum raft_state st)
{
    switch (st) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "?";
}

/* ---- failure and trace -------------------------------------------------------- */
void sim_fail(struct sim *s, enum sim_fail_kind kind, const char *fmt, ...)
{
    if (s->fail_kind != SIM_OK)
        return;
    s->fail_kind = kind;
    int n = snprintf(s->fail, sizeof s->fail, "t=%" PRIu64 ": ", s->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail + n, sizeof s->fail - (size_t)n, fmt, ap);
    va_end(ap);
    if (s->o.trace)
        fprintf(s->o.trace, "t=%" PRIu64 " FAIL %s\n", s->now, s->fail);
}

void sim_tracef(struct sim *s, const char *fmt, ...)
{
    if (!s->o.trace)
        return;
    fprintf(s->o.trace, "t=%" PRIu64 " ", s->now);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(s->o.trace, fmt, ap);
    va_end(ap);
    fputc('\n', s->o.trace);
}

enum sim_fail_kind sim_failed(const struct sim *s)
{
    return s->fail_kind;
}

const char *sim_fail_msg(const struct sim *s)
{
    return s->fail;
}

uint64_t sim_now(const struct sim *s)
{
    return s->now;
}

struct sim_rng *sim_rng(struct sim *s)
{
    return &s->rng;
}

const struct sim_opts *sim_opts(const struct sim *s)
{
    return &s->o;
}

static void trace_msg(struct sim *s, const char *verb, const struct raft_msg *m)
{
    if (!s->o.trace)
        return;
    char extra[160] = "";
    switch (m->type) {
    case RAFT_MSG_APPEND:
        snprintf(extra, sizeof extra, " prev=%" PRIu64 "/%" PRIu64 " n=%zu commit=%" PRIu64,
                 m->index, m->log_term, m->n_entries, m->commit);
        break;
    case RAFT_MSG_APPEND_RESP:
        snprintf(extra, sizeof extra, " index=%" PRIu64 "%s hint=%" PRIu64 "/%" PRIu64, m->index,
                 m->reject ? " REJECT" : "", m->reject_hint, m->hint_term);
        break;
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_HEARTBEAT_RESP:
        snprintf(extra, sizeof extra, " commit=%" PRIu64 " ctx=%" PRIu64, m->commit, m->context);
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        snprintf(extra, sizeof extra, " last=%" PRIu64 "/%" PRIu64, m->index, m->log_term);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        snprintf(extra, sizeof extra, "%s", m->reject ? " REJECT" : " GRANT");
        break;
    case RAFT_MSG_SNAPSHOT:
        snprintf(extra, sizeof extra, " snap=%" PRIu64 "/%" PRIu64, m->snap.index, m->snap.term);
        break;
    default:
        break;
    }
    fprintf(s->o.trace, "t=%" PRIu64 " %sn%" PRIu64 " -> n%" PRIu64 " %s term=%" PRIu64 "%s\n",
            s->now, verb, m->from, m->to, msg_name(m->type), m->term, extra);
}

/* The cores' own log lines (--trace-core); one stream for the whole process. */
static FILE *sim_core_trace;

static void core_log(void *arg, int level, const char *msg)
{
    const int *id = arg; /* &node->id */
    (void)level;
    if (sim_core_trace)
        fprintf(sim_core_trace, "      n%d core: %s\n", *id, msg);
}

/* ---- logs --------------------------------------------------------------------- */
static void ent_copy(struct sim_ent *d, const struct raft_entry *e)
{
    d->term = e->term;
    d->index = e->index;
    d->type = e->type;
    d->len = e->data.len;
    d->data = NULL;
    if (d->len) {
        d->data = xcalloc(1, d->len);
        memcpy(d->data, e->data.base, d->len);
    }
}

static void ent_dup(struct sim_ent *d, const struct sim_ent *e)
{
    *d = *e;
    if (e->len) {
        d->data = xcalloc(1, e->len);
        memcpy(d->data, e->data, e->len);
    }
}

static uint64_t log_last(const struct sim_log *l)
{
    return l->n ? l->e[l->n - 1].index : l->snap.index;
}

static uint64_t log_last_term(const struct sim_log *l)
{
    return l->n ? l->e[l->n - 1].term : l->snap.term;
}

static bool log_term_at(const struct sim_log *l, uint64_t i, uint64_t *t)
{
    if (i == l->snap.index) {
        *t = l->snap.term;
        return true;
    }
    if (i < l->snap.index || i > log_last(l))
        return false;
    *t = l->e[i - l->snap.index - 1].term;
    return true;
}

static void log_drop_from(struct sim_log *l, size_t k)
{
    for (size_t i = k; i < l->n; i++)
        free(l->e[i].data);
    if (k < l->n)
        l->n = k;
}

/* Remove the first k entries. */
static void log_drop_head(struct sim_log *l, size_t k)
{
    if (k > l->n)
        k = l->n;
    if (k == 0)
        return;
    for (size_t i = 0; i < k; i++)
        free(l->e[i].data);
    memmove(l->e, l->e + k, (l->n - k) * sizeof *l->e);
    l->n -= k;
}

static void log_push(struct sim_log *l, const struct sim_ent *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = xrealloc(l->e, l->cap * sizeof *l->e);
    }
    ent_dup(&l->e[l->n++], e);
}

static void log_free(struct sim_log *l)
{
    log_drop_from(l, 0);
    free(l->e);
    memset(l, 0, sizeof *l);
}

static void log_copy(struct sim_log *d, const struct sim_log *src)
{
    log_free(d);
    d->hs = src->hs;
    d->snap = src->snap;
    memcpy(d->snap_data, src->snap_data, SIM_SNAP_LEN);
    for (size_t i = 0; i < src->n; i++)
        log_push(d, &src->e[i]);
}

/* ---- history records -------------------------------------------------------- */
static struct sim_jrec *jrec(struct sim *s, uint64_t index)
{
    grow_zero((void **)&s->j, &s->j_cap, index, sizeof *s->j);
    return &s->j[index];
}

static const struct sim_jrec *jrec_c(const struct sim *s, uint64_t index)
{
    return index < s->j_cap && s->j[index].set ? &s->j[index] : NULL;
}

/* Log matching, incrementally: an (index, term) names one entry (same data) and
 * one predecessor term, wherever and whenever it appears. By induction that is
 * "same index and term => same prefix" (P Figure 3). */
static void registry_check(struct sim *s, int node, const struct sim_ent *e, uint64_t prev_term)
{
    grow_zero((void **)&s->reg, &s->reg_cap, e->index, sizeof *s->reg);
    struct sim_regv *rv = &s->reg[e->index];
    uint64_t h = ent_hash(e->type, e->data, e->len);
    for (uint32_t i = 0; i < rv->n; i++) {
        if (rv->v[i].term != e->term)
            continue;
        if (rv->v[i].hash != h)
            sim_fail(s, SIM_SAFETY,
                     "log matching: n%d holds a different entry at %" PRIu64 "/%" PRIu64, node,
                     e->index, e->term);
        else if (rv->v[i].prev != prev_term)
            sim_fail(s, SIM_SAFETY,
                     "log matching: n%d entry %" PRIu64 "/%" PRIu64 " follows term %" PRIu64
                     ", elsewhere term %" PRIu64,
                     node, e->index, e->term, prev_term, rv->v[i].prev);
        return;
    }
    if (rv->n == rv->cap) {
        rv->cap = rv->cap ? rv->cap * 2 : 2;
        rv->v = xrealloc(rv->v, rv->cap * sizeof *rv->v);
    }
    rv->v[rv->n++] = (struct sim_reg){e->term, h, prev_term};
}

/* ---- nodes ------------------------------------------------------------------ */
static struct sim_node *node(struct sim *s, int id)
{
    return id >= 1 && id <= s->o.slots ? &s->nodes[id] : NULL;
}

static const struct sim_node *node_c(const struct sim *s, int id)
{
    return id >= 1 && id <= s->o.slots ? &s->nodes[id] : NULL;
}

bool sim_up(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd && nd->up;
}

struct raft *sim_core(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    return nd && nd->up ? nd->r : NULL;
}

void sim_status(const struct sim *s, int id, struct raft_status *st)
{
    const struct sim_node *nd = node_c(s, id);
    memset(st, 0, sizeof *st);
    if (nd && nd->up)
        raft_get_status(nd->r, st);
}

enum raft_state sim_state(const struct sim *s, int id)
{
    struct raft_status st;
    sim_status(s, id, &st);
    return st.state;
}

uint64_t sim_term(const struct sim *s, int id)
{
    struct raft_status st;
    sim_status(s, id, &st);
    return st.term;
}

uint64_t sim_commit(const struct sim *s, int id)
{
    struct raft_status st;
    sim_status(s, id, &st);
    return st.commit;
}

uint64_t sim_last_index(const struct sim *s, int id)
{
    struct raft_status st;
    sim_status(s, id, &st);
    return st.last_index;
}

uint64_t sim_applied(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd ? nd->sm_index : 0;
}

int sim_leader(const struct sim *s)
{
    int best = 0;
    uint64_t best_term = 0;
    for (int id = 1; id <= s->o.slots; id++) {
        const struct sim_node *nd = &s->nodes[id];
        if (!nd->up)
            continue;
        struct raft_status st;
        raft_get_status(nd->r, &st);
        if (st.state == RAFT_LEADER && st.term >= best_term) {
            best = id;
            best_term = st.term;
        }
    }
    return best;
}

uint64_t sim_committed_term(const struct sim *s, uint64_t index)
{
    const struct sim_jrec *j = jrec_c(s, index);
    return j ? j->term : 0;
}

uint64_t sim_max_committed(const struct sim *s)
{
    return s->max_committed;
}

/* Does node's durable image hold committed entry (index, term)? */
static bool durable_has(const struct sim_node *nd, uint64_t index, uint64_t term)
{
    if (index <= nd->disk.snap.index)
        return true; /* in the snapshot, checked against the journal when installed */
    uint64_t t;
    return log_term_at(&nd->disk, index, &t) && t == term;
}

static bool quorum_durable(const struct sim *s, const struct raft_conf *c, uint64_t index,
                           uint64_t term, size_t *have, size_t *voters)
{
    *have = *voters = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct raft_server *sv = &c->servers[i];
        if (sv->role != RAFT_VOTER)
            continue;
        (*voters)++;
        const struct sim_node *nd = node_c(s, (int)sv->id);
        if (nd && nd->started && durable_has(nd, index, term))
            (*have)++;
    }
    return *voters == 0 || *have * 2 > *voters;
}

/* Committed never lost: (index, term) is durable on a majority of the latest
 * committed configuration's voters, or of `alt` or `alt2` — the
 * configuration the committing leader counts with (single-server changes
 * take effect when appended, T§4.1, so a just-appended removal or promotion
 * can commit entries on a majority of the other configuration). The first
 * node to apply an entry is not always its leader (a leader applies only
 * what it holds durably itself), so callers pass the applying node's
 * configuration and, when it is still leading, that of the term's leader. */
static void check_quorum_durable(struct sim *s, uint64_t index, uint64_t term,
                                 const struct raft_conf *alt, const struct raft_conf *alt2,
                                 const char *when)
{
    size_t have, voters, have2 = 0, voters2 = 0, have3 = 0, voters3 = 0;
    if (quorum_durable(s, &s->conf_ref, index, term, &have, &voters))
        return;
    if (alt && quorum_durable(s, alt, index, term, &have2, &voters2))
        return;
    if (alt2 && quorum_durable(s, alt2, index, term, &have3, &voters3))
        return;
    if (alt2 && voters3) {
        have2 = have3;
        voters2 = voters3;
    }
    sim_fail(s, SIM_SAFETY,
             "committed entry %" PRIu64 "/%" PRIu64 " is durable on only %zu of %zu voters of "
             "the committed configuration (and %zu of %zu of the leader's) (%s)",
             index, term, have, voters, have2, voters2, when);
}

/* ---- network ---------------------------------------------------------------- */
static void msg_free(struct sim_msg *sm)
{
    if (!sm)
        return;
    for (size_t i = 0; i < sm->m.n_entries; i++)
        free(sm->m.entries[i].data.base);
    free(sm->m.entries);
    free(sm->m.snap_data.base);
    free(sm);
}

static struct sim_msg *msg_copy(const struct raft_msg *m)
{
    struct sim_msg *sm = xcalloc(1, sizeof *sm);
    sm->m = *m;
    sm->m.entries = NULL;
    sm->m.snap_data = (struct raft_buf){NULL, 0};
    if (m->n_entries) {
        sm->m.entries = xcalloc(m->n_entries, sizeof *sm->m.entries);
        for (size_t i = 0; i < m->n_entries; i++) {
            sm->m.entries[i] = m->entries[i];
            sm->m.entries[i].data.base = NULL;
            if (m->entries[i].data.len) {
                sm->m.entries[i].data.base = xcalloc(1, m->entries[i].data.len);
                memcpy(sm->m.entries[i].data.base, m->entries[i].data.base, m->entries[i].data.len);
            }
        }
    }
    if (m->snap_data.len) {
        sm->m.snap_data.base = xcalloc(1, m->snap_data.len);
        memcpy(sm->m.snap_data.base, m->snap_data.base, m->snap_data.len);
        sm->m.snap_data.len = m->snap_data.len;
    }
    return sm;
}

/* The leader's shell streams snapshot (index, term) from its file: the
 * newest of its disk, its pending view, or a snapshot it received itself.
 * The core never set bytes (raft.h); anything it did is a bug. False: no
 * file has it any more (replaced by a newer one), reported as failed. */
static bool snap_attach(struct sim *s, struct sim_node *nd, struct sim_msg *sm)
{
    struct raft_msg *m = &sm->m;
    if (m->snap_data.len) {
        sim_fail(s, SIM_SAFETY, "n%d: the core put bytes in a SNAPSHOT message", nd->id);
        return false;
    }
    const uint8_t *src = NULL;
    if (nd->disk.snap.index == m->snap.index && nd->disk.snap.term == m->snap.term)
        src = nd->disk.snap_data;
    else if (nd->view.snap.index == m->snap.index && nd->view.snap.term == m->snap.term)
        src = nd->view.snap_data;
    else if (nd->has_recv && nd->recv.index == m->snap.index && nd->recv.term == m->snap.term)
        src = nd->recv_data;
    if (!src)
        return false;
    m->snap_data.base = xcalloc(1, SIM_SNAP_LEN);
    memcpy(m->snap_data.base, src, SIM_SNAP_LEN);
    m->snap_data.len = SIM_SNAP_LEN;
    return true;
}

static void net_push(struct sim *s, struct sim_msg *sm)
{
    if (s->n_net == s->cap_net) {
        s->cap_net = s->cap_net ? s->cap_net * 2 : 64;
        s->net = xrealloc(s->net, s->cap_net * sizeof *s->net);
    }
    sm->seq = ++s->seq;
    s->net[s->n_net++] = sm;
}

static uint64_t net_delay(struct sim *s)
{
    unsigned lo = s->o.delay_min, hi = s->o.delay_max < lo ? lo : s->o.delay_max;
    return lo + sim_rng_below(&s->rng, hi - lo + 1);
}

/* A message actually leaves node `nd`. Checks what the message claims
 * against what is durable: the server's rules hold every message (a
 * leader's included) until the term and vote it was sent under are durable,
 * and a follower's until the entries it acknowledges are. */
static void send_msg(struct sim *s, struct sim_node *nd, struct sim_msg *sm)
{
    const struct raft_msg *m = &sm->m;
    if (m->from != (uint64_t)nd->id || m->to == m->from || !node(s, (int)m->to)) {
        sim_fail(s, SIM_SAFETY, "n%d emitted a message from n%" PRIu64 " to n%" PRIu64, nd->id,
                 m->from, m->to);
        msg_free(sm);
        return;
    }
    {
        /* pitfall #1/#12: nothing leaves before the state it depends on is durable */
        bool pre = m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_PREVOTE_RESP;
        if (!pre && m->term > nd->disk.hs.term)
            sim_fail(s, SIM_SAFETY,
                     "n%d sent %s term=%" PRIu64 " while its durable term is %" PRIu64, nd->id,
                     msg_name(m->type), m->term, nd->disk.hs.term);
        /* (a newer durable term is fine: cairn's writer may write a later
         * job's hard state first, and no vote is ever cast again in an older
         * term) */
        if (m->type == RAFT_MSG_VOTE_RESP && !m->reject &&
            (nd->disk.hs.term < m->term ||
             (nd->disk.hs.term == m->term && nd->disk.hs.vote != m->to)))
            sim_fail(s, SIM_SAFETY,
                     "n%d granted its term-%" PRIu64 " vote to n%" PRIu64
                     " but the durable hard state is term=%" PRIu64 " vote=%" PRIu64,
                     nd->id, m->term, m->to, nd->disk.hs.term, nd->disk.hs.vote);
        uint64_t td = 0;
        if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index > nd->disk.snap.index &&
            (!log_term_at(&nd->disk, m->index, &td) || td != sm->ack_term))
            sim_fail(s, SIM_SAFETY,
                     "n%d acknowledged %" PRIu64 "/%" PRIu64 " but its disk holds %" PRIu64
                     "/%" PRIu64 " (last durable %" PRIu64 ")",
                     nd->id, m->index, sm->ack_term, m->index, td, log_last(&nd->disk));
    }
    if (m->type == RAFT_MSG_VOTE_RESP && !m->reject) {
        grow_zero((void **)&nd->granted, &nd->granted_cap, m->term, 1);
        if (nd->granted[m->term] && nd->granted[m->term] != m->to)
            sim_fail(s, SIM_SAFETY,
                     "n%d voted twice in term %" PRIu64 ": for n%d and n%" PRIu64 " (pitfall #1)",
                     nd->id, m->term, nd->granted[m->term], m->to);
        nd->granted[m->term] = (uint8_t)m->to;
    }
    trace_msg(s, "send ", m);
    if (s->o.net == SIM_NET_MANUAL) {
        sm->deliver_at = UINT64_MAX;
        net_push(s, sm);
        return;
    }
    if (sim_rng_chance(&s->rng, s->o.p_drop)) {
        trace_msg(s, "lost ", m);
        msg_free(sm);
        return;
    }
    if (sim_rng_chance(&s->rng, s->o.p_dup)) {
        struct sim_msg *d = msg_copy(m);
        d->deliver_at = s->now + net_delay(s);
        net_push(s, d);
    }
    sm->deliver_at = s->now + net_delay(s);
    net_push(s, sm);
}

/* ---- state machine -------------------------------------------------------------- */
static void sm_reset(struct sim_node *nd)
{
    nd->sm_index = nd->sm_term = nd->sm_hash = 0;
    nd->sm_conf = nd->boot_conf;
    if (nd->disk.snap.index) {
        nd->sm_index = get64(nd->disk.snap_data);
        nd->sm_term = get64(nd->disk.snap_data + 8);
        nd->sm_hash = get64(nd->disk.snap_data + 16);
        nd->sm_conf = nd->disk.snap.conf;
    }
}

static struct sim_wrec *wrec(struct sim *s, uint64_t wid)
{
    grow_zero((void **)&s->w, &s->w_cap, wid, sizeof *s->w);
    return &s->w[wid];
}

/* The write id in a client write's command, or 0. */
static uint64_t cw_wid(const struct raft_entry *e)
{
    struct srv_env env;
    const void *cmd;
    size_t len;
    if (e->type != RAFT_ENTRY_NORMAL ||
        srv_env_decode(e->data.base, e->data.len, &env, &cmd, &len) != 1 || len != 16 ||
        get64(cmd) != SIM_CW_MAGIC)
        return 0;
    return get64((const uint8_t *)cmd + 8);
}

/* An entry is committed for the first time: a client write is applied at
 * most once, and never after its client was told it failed cleanly. */
static void cw_committed(struct sim *s, const struct raft_entry *e)
{
    uint64_t wid = cw_wid(e);
    if (!wid)
        return;
    struct sim_wrec *w = wrec(s, wid);
    if (w->applied && w->applied != e->index)
        sim_fail(s, SIM_SAFETY,
                 "write w%" PRIu64 " (through n%d) applied twice: at %" PRIu64 " and %" PRIu64, wid,
                 w->node, w->applied, e->index);
    else if (w->state == SIM_CW_FAILED)
        sim_fail(s, SIM_SAFETY,
                 "write w%" PRIu64 " (through n%d) applied at %" PRIu64
                 " after its client was told it failed (nothing could commit)",
                 wid, w->node, e->index);
    w->applied = e->index;
}

static void conf_committed(struct sim *s, uint64_t index, const struct raft_conf *c)
{
    if (index <= s->conf_ref_index)
        return;
    struct raft_conf old = s->conf_ref;
    s->conf_ref = *c;
    s->conf_ref_index = index;
    for (int id = 1; id <= s->o.slots; id++) {
        struct sim_node *nd = &s->nodes[id];
        if (nd->started && !nd->removed && raft_conf_find(&old, (uint64_t)id) &&
            !raft_conf_find(c, (uint64_t)id)) {
            nd->removed = true;
            sim_tracef(s, "n%d removed from the configuration at %" PRIu64, id, index);
        }
    }
}

static void sm_apply(struct sim *s, struct sim_node *nd, const struct raft_entry *e)
{
    if (e->index != nd->sm_index + 1) {
        sim_fail(s, SIM_SAFETY,
                 "n%d handed committed entry %" PRIu64 " to a state machine at %" PRIu64, nd->id,
                 e->index, nd->sm_index);
        return;
    }
    uint64_t eh = ent_hash(e->type, e->data.base, e->data.len);
    uint64_t cum = mix64(mix64(mix64(nd->sm_hash, e->index), e->term), eh);
    struct raft_conf c;
    bool is_conf = e->type == RAFT_ENTRY_CONF;
    if (is_conf && raft_conf_decode(e->data.base, e->data.len, &c) != 0) {
        sim_fail(s, SIM_SAFETY, "n%d committed an undecodable CONF entry at %" PRIu64, nd->id,
                 e->index);
        return;
    }
    struct sim_jrec *j = jrec(s, e->index);
    if (!j->set) {
        *j = (struct sim_jrec){e->term, eh, cum, true};
        if (e->index > s->max_committed)
            s->max_committed = e->index;
        struct raft_status st, ls;
        raft_get_status(nd->r, &st);
        const struct raft_conf *lconf = NULL;
        int lid = 0;
        for (uint64_t t = st.term; t >= e->term && t < s->leader_cap && !lid; t--)
            lid = s->leader_of[t];
        if (lid && lid != nd->id && sim_up(s, lid)) {
            raft_get_status(s->nodes[lid].r, &ls);
            if (ls.state == RAFT_LEADER)
                lconf = &ls.conf;
        }
        check_quorum_durable(s, e->index, e->term, &st.conf, lconf, "when first committed");
        cw_committed(s, e);
        if (is_conf)
            conf_committed(s, e->index, &c);
    } else if (j->term != e->term || j->ehash != eh) {
        sim_fail(s, SIM_SAFETY,
                 "state machine safety: n%d applied %" PRIu64 "/%" PRIu64 " but %" PRIu64
                 "/%" PRIu64 " was applied elsewhere",
                 nd->id, e->index, e->term, e->index, j->term);
    } else if (j->cum != cum) {
        sim_fail(s, SIM_SAFETY, "state machine safety: n%d's applied history differs at %" PRIu64,
                 nd->id, e->index);
    }
    nd->sm_index = e->index;
    nd->sm_term = e->term;
    nd->sm_hash = cum;
    if (is_conf)
        nd->sm_conf = c;
    sim_tracef(s, "n%d apply %" PRIu64 "/%" PRIu64 " %s", nd->id, e->index, e->term,
               is_conf       ? "CONF"
               : e->data.len ? "cmd"
                             : "no-op");
}

static void sm_install(struct sim *s, struct sim_node *nd, const struct raft_snapshot_meta *meta,
                       const struct raft_buf *data)
{
    if (data->len != SIM_SNAP_LEN) {
        sim_fail(s, SIM_SAFETY, "n%d: snapshot %" PRIu64 " has %zu bytes, not %d", nd->id,
                 meta->index, data->len, SIM_SNAP_LEN);
        return;
    }
    const uint8_t *p = data->base;
    uint64_t idx = get64(p), term = get64(p + 8), h = get64(p + 16);
    const struct sim_jrec *j = jrec_c(s, idx);
    if (idx != meta->index || term != meta->term)
        sim_fail(s, SIM_SAFETY,
                 "n%d: snapshot meta %" PRIu64 "/%" PRIu64 " does not describe its data %" PRIu64
                 "/%" PRIu64,
                 nd->id, meta->index, meta->term, idx, term);
    else if (!j || j->term != term || j->cum != h)
        sim_fail(s, SIM_SAFETY, "n%d: snapshot at %" PRIu64 " is not the committed history", nd->id,
                 idx);
    else if (idx <= nd->sm_index)
        sim_fail(s, SIM_SAFETY,
                 "n%d: core handed a snapshot at %" PRIu64 " to a state machine at %" PRIu64
                 " (pitfall #18: stale snapshot)",
                 nd->id, idx, nd->sm_index);
    nd->sm_index = idx;
    nd->sm_term = term;
    nd->sm_hash = h;
    nd->sm_conf = meta->conf;
    sim_tracef(s, "n%d install snapshot %" PRIu64 "/%" PRIu64, nd->id, idx, term);
}

/* ---- reads ------------------------------------------------------------------- */
static struct sim_read *read_rec(struct sim *s, uint64_t ctx)
{
    grow_zero((void **)&s->reads, &s->reads_cap, ctx, sizeof *s->reads);
    return &s->reads[ctx];
}

static void reads_serve(struct sim *s, struct sim_node *nd)
{
    size_t k = 0;
    for (size_t i = 0; i < nd->n_pend_reads; i++) {
        struct sim_read *rd = read_rec(s, nd->pend_reads[i]);
        if (nd->sm_index >= rd->index) {
            rd->state = 2;
            sim_tracef(s, "n%d read ctx=%" PRIu64 " served at applied=%" PRIu64, nd->id,
                       nd->pend_reads[i], nd->sm_index);
        } else {
            nd->pend_reads[k++] = nd->pend_reads[i];
        }
    }
    nd->n_pend_reads = k;
}

/* ---- client writes through any node (server/reqs.c) ------------------------------
 * What src/server/requests.c, forward.c and ready.c do around the same pure
 * rules: a write submitted to a node gets an envelope (node, env_id) and is
 * proposed there if it leads, else forwarded (SIM_MSG_FWD_REQ, encoded by
 * server/fwd_codec.c) to the leader it knows, in that term; the leader
 * decides by its table (srv_req_table_check) and answers (SIM_MSG_FWD_RESP).
 * The write completes when its node applies the entry with its envelope;
 * attempts die only when an entry of a later term is applied there. */
static void node_process(struct sim *s, struct sim_node *nd);
static void check_all(struct sim *s);
static bool cr_dispatch(struct sim *s, struct sim_node *nd);
static void cr_tick(struct sim *s, struct sim_node *nd);
static void cr_crash(struct sim *s, struct sim_node *nd);
static void fwd_on_read(struct sim *s, struct sim_node *nd, uint64_t from,
                        const struct srv_fwd_req *m);
static void fwd_on_read_resp(struct sim *s, struct sim_node *nd, const struct srv_fwd_resp *m);

static uint64_t cw_resend_units(const struct sim *s)
{
    return (uint64_t)s->o.election_ticks * SIM_TICK; /* requests.c: one election timeout */
}

static uint64_t cw_retry_units(void)
{
    return 10 * SIM_TICK; /* requests.c: ten ticks */
}

static uint64_t cw_hold_units(const struct sim *s)
{
    return 30 * (uint64_t)s->o.election_ticks * SIM_TICK; /* 7 s against ~230 ms */
}

static uint64_t node_next_id(struct sim *s, struct sim_node *nd)
{
    if (!nd->epoch) {
        nd->epoch = (sim_rng_next(&s->rng) >> 2) | 1;
        nd->next_req = nd->epoch;
    }
    return ++nd->next_req;
}

/* A forwarding frame from nd to `to`: lost, duplicated and delayed like
 * any message. */
static void fwd_send(struct sim *s, struct sim_node *nd, uint64_t to, int type,
                     const struct cn_buf *b)
{
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = (enum raft_msg_type)type;
    m.from = (uint64_t)nd->id;
    m.to = to;
    m.snap_data = (struct raft_buf){b->p, b->len}; /* the payload rides here */
    struct sim_msg *sm = msg_copy(&m);
    trace_msg(s, "send ", &sm->m);
    if (s->o.net == SIM_NET_MANUAL) {
        sm->deliver_at = UINT64_MAX;
        net_push(s, sm);
        return;
    }
    if (sim_rng_chance(&s->rng, s->o.p_drop)) {
        trace_msg(s, "lost ", &sm->m);
        msg_free(sm);
        return;
    }
    if (sim_rng_chance(&s->rng, s->o.p_dup)) {
        struct sim_msg *d = msg_copy(&sm->m);
        d->deliver_at = s->now + net_delay(s);
        net_push(s, d);
    }
    sm->deliver_at = s->now + net_delay(s);
    net_push(s, sm);
}

static void cw_send_attempt(struct sim *s, struct sim_node *nd, struct sim_cw *c, uint64_t to,
                            uint64_t term, uint64_t seq)
{
    uint64_t floor = seq;
    for (struct sim_cw *o = nd->cws; o; o = o->next) {
        const struct srv_req *r = &o->rq;
        floor = srv_req_floor(&r, 1, floor);
    }
    struct srv_fwd_req m;
    memset(&m, 0, sizeof m);
    m.kind = SRV_FWD_PROPOSE;
    m.req_id = seq;
    m.u.propose.term = term;
    m.u.propose.epoch = nd->epoch;
    m.u.propose.floor = floor;
    m.u.propose.cmd = c->data;
    m.u.propose.cmd_len = sizeof c->data;
    struct cn_buf b = CN_BUF_INIT;
    if (srv_fwd_req_encode(&m, &b) == 0)
        fwd_send(s, nd, to, SIM_MSG_FWD_REQ, &b);
    cn_buf_free(&b);
    sim_tracef(s, "n%d forward w%" PRIu64 " attempt=%" PRIu64 " term=%" PRIu64 " -> n%" PRIu64,
               nd->id, c->wid, seq, term, to);
}

/* The client of c learns its outcome; c leaves its node. */
static void cw_finish(struct sim *s, struct sim_node *nd, struct sim_cw *c, enum sim_cw_state st,
                      uint64_t index)
{
    struct sim_cw **pp = &nd->cws;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    nd->n_cws--;
    s->cw_outstanding--;
    struct sim_wrec *w = wrec(s, c->wid);
    w->state = (uint8_t)st;
    static const char *const names[] = {"?", "?", "acknowledged", "outcome unknown", "failed"};
    sim_tracef(s, "n%d w%" PRIu64 " %s (index %" PRIu64 ")", nd->id, c->wid, names[st], index);
    if (st == SIM_CW_ACKED) {
        s->cw_stats.acked++;
        w->acked_index = index;
        if (w->applied != index)
            sim_fail(s, SIM_SAFETY,
                     "write w%" PRIu64 " acknowledged by n%d at %" PRIu64
                     " but committed at %" PRIu64,
                     c->wid, nd->id, index, w->applied);
        if (index > s->max_acked)
            s->max_acked = index;
    } else if (st == SIM_CW_UNKNOWN) {
        s->cw_stats.unknown++;
    } else if (st == SIM_CW_FAILED) {
        s->cw_stats.failed++;
        if (w->applied)
            sim_fail(s, SIM_SAFETY,
                     "write w%" PRIu64 " failed cleanly on n%d but was applied at %" PRIu64, c->wid,
                     nd->id, w->applied);
    }
    free(c);
}

/* Move what may move (requests.c: prop_dispatch). Returns whether
 * something was proposed here (the core then has an update). */
static bool cw_dispatch(struct sim *s, struct sim_node *nd)
{
    if (!nd->up || !nd->cws)
        return false;
    struct raft_status st;
    raft_get_status(nd->r, &st);
    if (st.leader == RAFT_NONE)
        return false;
    bool proposed = false;
    for (struct sim_cw *c = nd->cws; c; c = c->next) {
        if (st.state == RAFT_LEADER) {
            if (!srv_req_may_attempt(&c->rq, nd->sm_term))
                continue;
            uint64_t idx, term;
            int rc = raft_propose(nd->r, c->data, sizeof c->data, &idx, &term);
            sim_tracef(s, "n%d propose w%" PRIu64 " -> rc=%d index=%" PRIu64 " term=%" PRIu64,
                       nd->id, c->wid, rc, idx, term);
            if (rc == 0) {
                srv_req_proposed(&c->rq, idx, term);
                proposed = true;
            }
        } else if (srv_req_may_forward(&c->rq, nd->sm_term, st.term)) {
            uint64_t seq = node_next_id(s, nd);
            cw_send_attempt(s, nd, c, st.leader, st.term, seq);
            srv_req_forwarded(&c->rq, st.term, seq, s->now + cw_resend_units(s));
            s->cw_stats.forwards++;
        }
    }
    return proposed;
}

/* Apply path (ready.c: apply_entry): e was applied on nd, whose last
 * applied term was prev_term. */
static void cw_applied(struct sim *s, struct sim_node *nd, const struct raft_entry *e,
                       uint64_t prev_term)
{
    if (!nd->cws)
        return;
    uint64_t env_id = 0;
    const void *cmd;
    size_t len;
    if (e->type == RAFT_ENTRY_NORMAL && e->data.len &&
        srv_req_entry(e->data.base, e->data.len, (uint64_t)nd->id, &env_id, &cmd, &len) == 1) {
        for (struct sim_cw *c = nd->cws; c; c = c->next)
            if (c->rq.env_id == env_id) {
                cw_finish(s, nd, c, SIM_CW_ACKED, e->index);
                break;
            }
    }
    if (e->term > prev_term)
        for (struct sim_cw *c = nd->cws; c; c = c->next)
            if (srv_req_term_passed(&c->rq, e->term))
                sim_tracef(s,
                           "n%d w%" PRIu64 ": an entry of term %" PRIu64
                           " applied, its attempt is dead",
                           nd->id, c->wid, e->term);
}

/* A leader's snapshot replaced nd's state (requests.c: srv__props_snapshot). */
static void cw_snapshot(struct sim *s, struct sim_node *nd, const struct raft_snapshot_meta *m)
{
    for (struct sim_cw *c = nd->cws, *nx; c; c = nx) {
        nx = c->next;
        if (srv_req_snapshot(&c->rq, m->index, m->term) == SRV_REQ_SNAP_UNKNOWN)
            cw_finish(s, nd, c, SIM_CW_UNKNOWN, 0);
    }
}

/* Every tick (requests.c: srv__expire, then dispatch). */
static void cw_tick(struct sim *s, struct sim_node *nd)
{
    if (!nd->up || !nd->cws)
        return;
    struct raft_status st;
    raft_get_status(nd->r, &st);
    for (struct sim_cw *c = nd->cws, *nx; c; c = nx) {
        nx = c->next;
        enum srv_req_expiry x = srv_req_expiry(&c->rq, s->now, nd->sm_term);
        if (x != SRV_REQ_LIVE) {
            cw_finish(s, nd, c, x == SRV_REQ_NO_LEADER ? SIM_CW_FAILED : SIM_CW_UNKNOWN, 0);
            continue;
        }
        if (st.state != RAFT_LEADER && st.leader != RAFT_NONE &&
            srv_req_resend_due(&c->rq, s->now, st.term)) {
            cw_send_attempt(s, nd, c, st.leader, c->rq.term, c->rq.seq);
            c->rq.resend_at = s->now + cw_resend_units(s);
            s->cw_stats.resends++;
        }
    }
    if (cw_dispatch(s, nd))
        node_process(s, nd);
    cr_tick(s, nd);
    if (cr_dispatch(s, nd))
        node_process(s, nd);
}

/* A crash: the clients of nd's writes lose their connection. */
static void cw_crash(struct sim *s, struct sim_node *nd)
{
    while (nd->cws)
        cw_finish(s, nd, nd->cws, SIM_CW_UNKNOWN, 0);
    cr_crash(s, nd);
    free(nd->tab);
    nd->tab = NULL;
    nd->epoch = nd->next_req = 0;
}

/* The leader side of a forwarded write (forward.c: on_propose). */
static void fwd_on_req(struct sim *s, struct sim_node *nd, uint64_t from, const struct raft_buf *p)
{
    struct srv_fwd_req m;
    char err[160];
    if (srv_fwd_req_decode(p->base, p->len, &m, err, sizeof err) == 0 && m.kind == SRV_FWD_READ) {
        fwd_on_read(s, nd, from, &m);
        return;
    }
    if (srv_fwd_req_decode(p->base, p->len, &m, err, sizeof err) != 0 ||
        m.kind != SRV_FWD_PROPOSE) {
        sim_fail(s, SIM_SAFETY, "n%d: undecodable forward from n%" PRIu64 ": %s", nd->id, from,
                 err);
        return;
    }
    if (!nd->tab) {
        nd->tab = xcalloc(1, sizeof *nd->tab);
        nd->tab->cap = s->table_cap;
    }
    struct raft_status st;
    raft_get_status(nd->r, &st);
    struct srv_fwd_resp a;
    memset(&a, 0, sizeof a);
    a.kind = SRV_FWD_PROPOSE;
    a.req_id = m.req_id;
    a.term = st.term;
    uint64_t idx = 0, term = 0;
    enum srv_req_verdict v =
        srv_req_table_check(nd->tab, st.state == RAFT_LEADER, st.term, from, &m, &idx);
    const char *what = "?";
    switch (v) {
    case SRV_REQ_STALE:
        sim_tracef(
            s, "n%d forward attempt=%" PRIu64 " term=%" PRIu64 " from n%" PRIu64 ": STALE, dropped",
            nd->id, m.req_id, m.u.propose.term, from);
        s->cw_stats.stale++;
        node_process(s, nd);
        return;
    case SRV_REQ_BAD:
        a.code = SRV_FWD_PROTO;
        what = "BAD";
        break;
    case SRV_REQ_NOT_LEADER:
        a.code = SRV_FWD_NOT_LEADER;
        what = "NOT_LEADER";
        s->cw_stats.not_leader++;
        break;
    case SRV_REQ_DUP:
        a.index = idx;
        what = "DUP";
        s->cw_stats.dups++;
        break;
    case SRV_REQ_BUSY:
        a.code = SRV_FWD_BUSY;
        what = "BUSY";
        s->cw_stats.busy++;
        break;
    case SRV_REQ_PROPOSE: {
        int rc = raft_propose(nd->r, m.u.propose.cmd, m.u.propose.cmd_len, &idx, &term);
        if (rc) {
            a.code = srv_fwd_code_from_err(rc);
            what = "refused";
            break;
        }
        srv_req_table_add(nd->tab, from, &m, idx);
        a.index = idx;
        a.term = term;
        what = "PROPOSED";
        break;
    }
    }
    sim_tracef(
        s, "n%d forward attempt=%" PRIu64 " term=%" PRIu64 " from n%" PRIu64 ": %s index=%" PRIu64,
        nd->id, m.req_id, m.u.propose.term, from, what, a.index);
    struct cn_buf b = CN_BUF_INIT;
    if (srv_fwd_resp_encode(&a, &b) == 0)
        fwd_send(s, nd, from, SIM_MSG_FWD_RESP, &b);
    cn_buf_free(&b);
    node_process(s, nd);
}

/* The follower side (requests.c: srv__prop_answer). */
static void fwd_on_resp(struct sim *s, struct sim_node *nd, uint64_t from, const struct raft_buf *p)
{
    struct srv_fwd_resp m;
    char err[160];
    if (srv_fwd_resp_decode(p->base, p->len, &m, err, sizeof err) != 0) {
        sim_fail(s, SIM_SAFETY, "n%d: undecodable answer from n%" PRIu64 ": %s", nd->id, from, err);
        return;
    }
    if (m.kind == SRV_FWD_READ) {
        fwd_on_read_resp(s, nd, &m);
        return;
    }
    for (struct sim_cw *c = nd->cws; c; c = c->next) {
        if (c->rq.phase != SRV_REQ_FWD || c->rq.seq != m.req_id)
            continue;
        int rc = srv_req_answer(&c->rq, &m, s->now, cw_retry_units());
        sim_tracef(s, "n%d w%" PRIu64 " answer code=%d index=%" PRIu64 " term=%" PRIu64, nd->id,
                   c->wid, (int)m.code, m.index, m.term);
        if (rc)
            cw_finish(s, nd, c, SIM_CW_FAILED, 0);
        break;
    }
}

uint64_t sim_client_write(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return 0;
    struct sim_cw *c = xcalloc(1, sizeof *c);
    c->wid = ++s->next_wid;
    srv_req_init(&c->rq, node_next_id(s, nd), s->now + cw_hold_units(s));
    struct srv_env env = {.origin = (uint64_t)id, .req_id = c->rq.env_id};
    srv_env_put(c->data, &env);
    put64(c->data + SRV_ENV_LEN, SIM_CW_MAGIC);
    put64(c->data + SRV_ENV_LEN + 8, c->wid);
    struct sim_cw **pp = &nd->cws; /* in submission order */
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    nd->n_cws++;
    s->cw_outstanding++;
    struct sim_wrec *w = wrec(s, c->wid);
    w->state = SIM_CW_WAITING;
    w->node = id;
    s->cw_stats.submitted++;
    sim_tracef(s, "n%d client write w%" PRIu64, id, c->wid);
    if (cw_dispatch(s, nd))
        node_process(s, nd);
    check_all(s);
    return c->wid;
}

enum sim_cw_state sim_cw_state(const struct sim *s, uint64_t wid)
{
    return wid < s->w_cap ? (enum sim_cw_state)s->w[wid].state : SIM_CW_NONE;
}

uint64_t sim_cw_applied_at(const struct sim *s, uint64_t wid)
{
    return wid < s->w_cap ? s->w[wid].applied : 0;
}

uint64_t sim_cw_outstanding(const struct sim *s)
{
    return s->cw_outstanding;
}

const struct sim_cw_stats *sim_cw_stats(const struct sim *s)
{
    return &s->cw_stats;
}

void sim_set_table_cap(struct sim *s, size_t cap)
{
    s->table_cap = cap;
}

bool sim_node_member(const struct sim *s, int id)
{
    return raft_conf_find(&s->conf_ref, (uint64_t)id) != NULL;
}

bool sim_cw_converged(const struct sim *s, int *lagging)
{
    for (int id = 1; id <= s->o.slots; id++) {
        const struct sim_node *nd = &s->nodes[id];
        if (nd->up && !nd->removed && sim_node_member(s, id) && nd->sm_index < s->max_acked) {
            if (lagging)
                *lagging = id;
            return false;
        }
    }
    return true;
}

/* ---- client reads through any node (server/reqs.c: srv_req_read_now) --------------
 * What requests.c and forward.c do: ?stale never comes here; a default read
 * is answered at once when srv_req_read_now says so, else (and ?consistent
 * always) a leader asks its core for a read index and a follower asks the
 * leader it knows (a READ forward); the read is answered once the node
 * applied that far. Check: what it reads (the node's applied index) is at
 * least every index committed anywhere before the read was asked. */
enum { CR_HELD, CR_FWD, CR_RAFT, CR_APPLY };

struct sim_cr {
    struct sim_cr *next;
    uint64_t rid, ctx, index, required, deadline;
    enum srv_req_read_mode mode;
    int phase;
    uint64_t to; /* CR_FWD: the leader asked */
};

static void cr_finish(struct sim *s, struct sim_node *nd, struct sim_cr *c, bool ok)
{
    struct sim_cr **pp = &nd->crs;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    s->cr_outstanding--;
    if (ok) {
        s->cw_stats.reads_ok++;
        if (nd->sm_index < c->required)
            sim_fail(s, SIM_SAFETY,
                     "stale read: n%d answered r%" PRIu64 " (%s) at applied %" PRIu64
                     " but %" PRIu64 " was committed before it was asked",
                     nd->id, c->rid, c->mode == SRV_REQ_READ_CONSISTENT ? "consistent" : "default",
                     nd->sm_index, c->required);
        sim_tracef(s, "n%d read r%" PRIu64 " answered at applied %" PRIu64, nd->id, c->rid,
                   nd->sm_index);
    } else {
        s->cw_stats.reads_failed++;
    }
    free(c);
}

static bool cr_read_now(struct sim_node *nd, enum srv_req_read_mode mode)
{
    struct raft_status st;
    raft_get_status(nd->r, &st);
    struct srv_req_read_view v = {.leader = st.state == RAFT_LEADER,
                                  .lease_valid = st.lease_valid,
                                  .term = st.term,
                                  .commit = st.commit,
                                  .last_index = st.last_index,
                                  .last_term = st.last_term,
                                  .applied = nd->sm_index,
                                  .applied_term = nd->sm_term};
    for (size_t i = 0; i < st.conf.n; i++)
        v.voters += st.conf.servers[i].role == RAFT_VOTER;
    return srv_req_read_now(mode, &v);
}

/* A read index of the core of nd (a leader) for ctx; 0 or the core's error. */
static int cr_core_read(struct sim *s, struct sim_node *nd, enum srv_req_read_mode mode,
                        uint64_t ctx, int remote_from, uint64_t remote_req)
{
    struct sim_read *rd = read_rec(s, ctx);
    rd->node = nd->id;
    rd->required = s->max_committed;
    rd->remote_from = remote_from;
    rd->remote_req = remote_req;
    int rc = mode == SRV_REQ_READ_CONSISTENT ? raft_read_index_quorum(nd->r, ctx)
                                             : raft_read_index(nd->r, ctx);
    if (rc)
        rd->state = 3;
    return rc;
}

/* Move what may move; returns whether the core got a read. */
static bool cr_dispatch(struct sim *s, struct sim_node *nd)
{
    if (!nd->up || !nd->crs)
        return false;
    bool fed = false;
    struct raft_status st;
    raft_get_status(nd->r, &st);
    for (struct sim_cr *c = nd->crs, *nx; c; c = nx) {
        nx = c->next;
        if (c->phase == CR_RAFT) {
            const struct sim_read *rd = read_rec(s, c->ctx);
            if (rd->state == 1 || rd->state == 2) {
                c->phase = CR_APPLY;
                c->index = rd->index;
            } else if (st.state != RAFT_LEADER) {
                c->phase = CR_HELD; /* a quorum round of a term we lost: ask again */
            }
        }
        if (c->phase == CR_FWD && st.leader != c->to)
            c->phase = CR_HELD; /* asked the old leader: ask the new one */
        if (c->phase == CR_APPLY && nd->sm_index >= c->index) {
            cr_finish(s, nd, c, true);
            continue;
        }
        if (c->phase != CR_HELD || st.leader == RAFT_NONE)
            continue;
        if (st.state == RAFT_LEADER) {
            c->ctx = s->next_ctx++;
            if (cr_core_read(s, nd, c->mode, c->ctx, 0, 0) == 0) {
                c->phase = CR_RAFT;
                fed = true;
            }
            continue;
        }
        struct srv_fwd_req m;
        memset(&m, 0, sizeof m);
        m.kind = SRV_FWD_READ;
        m.req_id = c->ctx = node_next_id(s, nd);
        m.u.read.mode =
            c->mode == SRV_REQ_READ_CONSISTENT ? SRV_FWD_READ_CONSISTENT : SRV_FWD_READ_DEFAULT;
        struct cn_buf b = CN_BUF_INIT;
        if (srv_fwd_req_encode(&m, &b) == 0)
            fwd_send(s, nd, st.leader, SIM_MSG_FWD_REQ, &b);
        cn_buf_free(&b);
        c->phase = CR_FWD;
        c->to = st.leader;
    }
    return fed;
}

/* The leader: a follower's READ (forward.c: on_read). */
static void fwd_on_read(struct sim *s, struct sim_node *nd, uint64_t from,
                        const struct srv_fwd_req *m)
{
    struct raft_status st;
    raft_get_status(nd->r, &st);
    enum srv_req_read_mode mode =
        m->u.read.mode == SRV_FWD_READ_CONSISTENT ? SRV_REQ_READ_CONSISTENT : SRV_REQ_READ_DEFAULT;
    int rc = st.state == RAFT_LEADER
                 ? cr_core_read(s, nd, mode, s->next_ctx++, (int)from, m->req_id)
                 : CN_EAGAIN;
    if (rc) {
        struct srv_fwd_resp a;
        memset(&a, 0, sizeof a);
        a.kind = SRV_FWD_READ;
        a.req_id = m->req_id;
        a.code = srv_fwd_code_from_err(rc);
        struct cn_buf b = CN_BUF_INIT;
        if (srv_fwd_resp_encode(&a, &b) == 0)
            fwd_send(s, nd, from, SIM_MSG_FWD_RESP, &b);
        cn_buf_free(&b);
    }
    node_process(s, nd);
}

/* The leader's core answered a follower's read index. */
static void fwd_read_answered(struct sim *s, struct sim_node *nd, const struct sim_read *rd)
{
    struct srv_fwd_resp a;
    memset(&a, 0, sizeof a);
    a.kind = SRV_FWD_READ;
    a.req_id = rd->remote_req;
    a.code = SRV_FWD_OK;
    a.index = rd->index;
    struct cn_buf b = CN_BUF_INIT;
    if (srv_fwd_resp_encode(&a, &b) == 0)
        fwd_send(s, nd, (uint64_t)rd->remote_from, SIM_MSG_FWD_RESP, &b);
    cn_buf_free(&b);
}

/* The follower: the leader's answer to a READ. */
static void fwd_on_read_resp(struct sim *s, struct sim_node *nd, const struct srv_fwd_resp *m)
{
    for (struct sim_cr *c = nd->crs; c; c = c->next) {
        if (c->phase != CR_FWD || c->ctx != m->req_id)
            continue;
        if (m->code != SRV_FWD_OK) {
            c->phase = CR_HELD;
        } else {
            c->phase = CR_APPLY;
            c->index = m->index;
        }
        break;
    }
    (void)s;
}

static void cr_tick(struct sim *s, struct sim_node *nd)
{
    for (struct sim_cr *c = nd->crs, *nx; c; c = nx) {
        nx = c->next;
        if (c->deadline <= s->now)
            cr_finish(s, nd, c, false);
    }
}

static void cr_crash(struct sim *s, struct sim_node *nd)
{
    while (nd->crs)
        cr_finish(s, nd, nd->crs, false);
}

uint64_t sim_client_read(struct sim *s, int id, bool consistent)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return 0;
    enum srv_req_read_mode mode = consistent ? SRV_REQ_READ_CONSISTENT : SRV_REQ_READ_DEFAULT;
    uint64_t rid = ++s->next_rid;
    s->cw_stats.reads++;
    if (cr_read_now(nd, mode)) {
        s->cw_stats.reads_ok++;
        s->cw_stats.reads_local++;
        if (nd->sm_index < s->max_committed)
            sim_fail(s, SIM_SAFETY,
                     "stale read: n%d answered r%" PRIu64 " at once at applied %" PRIu64
                     " but %" PRIu64 " was committed before it was asked",
                     id, rid, nd->sm_index, s->max_committed);
        return rid;
    }
    struct sim_cr *c = xcalloc(1, sizeof *c);
    c->rid = rid;
    c->mode = mode;
    c->required = s->max_committed;
    c->deadline = s->now + cw_hold_units(s);
    c->next = nd->crs;
    nd->crs = c;
    s->cr_outstanding++;
    sim_tracef(s, "n%d client read r%" PRIu64 " (%s), committed so far %" PRIu64, id, rid,
               consistent ? "consistent" : "default", c->required);
    if (cr_dispatch(s, nd))
        node_process(s, nd);
    check_all(s);
    return rid;
}

uint64_t sim_cr_outstanding(const struct sim *s)
{
    return s->cr_outstanding;
}

/* ---- disk ---------------------------------------------------------------------- */
static struct sim_msg *msg_of(struct srv_seq_msg *l)
{
    return (struct sim_msg *)(void *)((char *)l - offsetof(struct sim_msg, link));
}

static void batch_free(struct sim_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->e[i].data);
    free(b->e);
    while (b->sq.msgs) {
        struct srv_seq_msg *m = b->sq.msgs;
        b->sq.msgs = m->next;
        msg_free(msg_of(m));
    }
    free(b);
}

/* Install a snapshot in an image: keep the suffix after it when the entry at
 * its index matches (pitfall #18), else drop the whole log. Returns the first
 * log position removed (entries removed are [0, n_old)). */
static void image_snapshot(struct sim *s, struct sim_node *nd, struct sim_log *l,
                           const struct raft_snapshot_meta *meta, const uint8_t *data, bool durable)
{
    uint64_t t;
    size_t keep_from;
    if (log_term_at(l, meta->index, &t) && t == meta->term && meta->index >= l->snap.index)
        keep_from = (size_t)(meta->index - l->snap.index);
    else
        keep_from = l->n;
    if (durable) {
        /* entries folded into the snapshot are fine; anything after it that is
         * dropped must not be committed */
        for (size_t i = 0; i < keep_from; i++) {
            const struct sim_ent *e = &l->e[i];
            const struct sim_jrec *j = jrec_c(s, e->index);
            if (e->index > meta->index && j && j->term == e->term)
                sim_fail(s, SIM_SAFETY,
                         "n%d: installing snapshot %" PRIu64 "/%" PRIu64
                         " dropped committed entry %" PRIu64 "/%" PRIu64,
                         nd->id, meta->index, meta->term, e->index, e->term);
        }
    }
    log_drop_head(l, keep_from);
    l->snap = *meta;
    memcpy(l->snap_data, data, SIM_SNAP_LEN);
}

/* Write entries into an image: they replace everything from their first index
 * (raft.h step a). Entries at or below the image's snapshot are skipped. */
static bool image_entries(struct sim *s, struct sim_node *nd, struct sim_log *l,
                          const struct sim_ent *e, size_t n, bool durable)
{
    size_t k = 0;
    while (k < n && e[k].index <= l->snap.index)
        k++;
    if (k == n)
        return true;
    uint64_t first = e[k].index;
    if (first > log_last(l) + 1) {
        sim_fail(s, SIM_SAFETY,
                 "n%d: entries start at %" PRIu64 " but the %s log ends at %" PRIu64 " (gap)",
                 nd->id, first, durable ? "durable" : "volatile", log_last(l));
        return false;
    }
    size_t pos = (size_t)(first - l->snap.index - 1);
    if (durable) {
        for (size_t i = pos; i < l->n; i++) {
            const struct sim_ent *old = &l->e[i];
            const struct sim_jrec *j = jrec_c(s, old->index);
            if (!j || j->term != old->term)
                continue;
            size_t r = (size_t)(old->index - first) + k;
            if (r >= n || e[r].term != old->term)
                sim_fail(s, SIM_SAFETY,
                         "n%d overwrote committed entry %" PRIu64 "/%" PRIu64 " on disk", nd->id,
                         old->index, old->term);
        }
    }
    log_drop_from(l, pos);
    for (size_t i = k; i < n; i++)
        log_push(l, &e[i]);
    return true;
}

static void node_process(struct sim *s, struct sim_node *nd);
static void check_all(struct sim *s);

/* The hard state of batch b becomes durable (cairn's writer writes it
 * before the batch's snapshot and entries). */
static void disk_hs(struct sim *s, struct sim_node *nd, struct sim_batch *b)
{
    struct sim_log *d = &nd->disk;
    if (!b->sq.has_hs || b->hs_done)
        return;
    b->hs_done = true;
    const struct raft_hard_state *h = &b->sq.hs;
    if (h->term < d->hs.term)
        sim_fail(s, SIM_SAFETY, "n%d: durable term went back from %" PRIu64 " to %" PRIu64, nd->id,
                 d->hs.term, h->term);
    else if (h->term == d->hs.term && d->hs.vote && h->vote != d->hs.vote)
        sim_fail(s, SIM_SAFETY,
                 "n%d: durable vote in term %" PRIu64 " changed from n%" PRIu64 " to n%" PRIu64,
                 nd->id, d->hs.term, d->hs.vote, h->vote);
    d->hs = *h;
    sim_tracef(s, "n%d hard state durable term=%" PRIu64 " vote=%" PRIu64 " commit=%" PRIu64,
               nd->id, h->term, h->vote, h->commit);
}

/* cairn's writer takes every queued job in one round and writes the newest
 * hard state among them before any of their snapshots and entries: that
 * hard state becomes durable; older ones of the round are superseded.
 * False if no pending write carries an unwritten hard state. */
static bool disk_hs_round(struct sim *s, struct sim_node *nd)
{
    struct sim_batch *newest = NULL;
    for (struct sim_batch *b = nd->ph; b; b = b->next)
        if (b->sq.has_hs && !b->hs_done)
            newest = b;
    if (!newest)
        return false;
    for (struct sim_batch *b = nd->ph; b != newest; b = b->next)
        b->hs_done = true;
    disk_hs(s, nd, newest);
    return true;
}

/* The oldest pending write of nd becomes durable. Async disks may first
 * write only the newest pending hard state (the rest later: a crash in
 * between keeps that hard state without the entries queued before it). */
static void disk_sync_one(struct sim *s, struct sim_node *nd)
{
    struct sim_batch *b = nd->ph;
    if (!b)
        return;
    bool hs_pending = false;
    for (struct sim_batch *x = b; x && !hs_pending; x = x->next)
        hs_pending = x->sq.has_hs && !x->hs_done;
    if (nd->dmode == SIM_DISK_ASYNC && hs_pending && sim_rng_chance(&s->rng, 0.3)) {
        disk_hs_round(s, nd);
        b->sync_at = s->now + 1 + sim_rng_below(&s->rng, (uint64_t)s->o.disk_delay_max + 1);
        if (b->sync_at > nd->last_sync_at)
            nd->last_sync_at = b->sync_at;
        return;
    }
    disk_hs(s, nd, b);
    nd->ph = b->next;
    if (!nd->ph)
        nd->pt = NULL;
    nd->npend--;
    struct sim_log *d = &nd->disk;
    if (b->has_snap && b->snap.index > d->snap.index)
        image_snapshot(s, nd, d, &b->snap, b->snap_data, true);
    if (b->n)
        image_entries(s, nd, d, b->e, b->n, true);
    /* d. the writer's acknowledgement (pitfall #13: it names the term), then
     * c. the messages that waited for this write (server/seq.c) */
    if (b->n || b->has_snap)
        sim_tracef(s, "n%d durable: snapshot %" PRIu64 ", entries %" PRIu64 "..%" PRIu64, nd->id,
                   b->has_snap ? b->snap.index : 0, b->n ? b->e[0].index : 0,
                   b->n ? b->e[b->n - 1].index : 0);
    struct srv_seq_done dn;
    if (!srv_seq_complete(&nd->seq, &b->sq, true, &dn))
        sim_fail(s, SIM_SCRIPT, "n%d: a batch synced out of order", nd->id);
    if (nd->up && dn.persisted)
        raft_persisted(nd->r, dn.index, dn.term);
    while (dn.msgs) {
        struct sim_msg *sm = msg_of(dn.msgs);
        dn.msgs = dn.msgs->next;
        send_msg(s, nd, sm);
    }
    batch_free(b);
}

static void disk_enqueue(struct sim *s, struct sim_node *nd, struct sim_batch *b)
{
    if (nd->dmode == SIM_DISK_ASYNC) {
        uint64_t at = s->now + sim_rng_below(&s->rng, (uint64_t)s->o.disk_delay_max + 1);
        if (at < nd->last_sync_at)
            at = nd->last_sync_at;
        nd->last_sync_at = at;
        b->sync_at = at;
    } else {
        b->sync_at = nd->dmode == SIM_DISK_IMMEDIATE ? s->now : UINT64_MAX;
    }
    if (nd->pt)
        nd->pt->next = b;
    else
        nd->ph = b;
    nd->pt = b;
    nd->npend++;
    if (nd->dmode == SIM_DISK_IMMEDIATE)
        while (nd->ph && nd->ph->sync_at <= s->now)
            disk_sync_one(s, nd);
}

/* ---- the ready loop (raft.h steps a-d) ----------------------------------------- */
static void node_ready(struct sim *s, struct sim_node *nd)
{
    struct raft_update u;
    int rounds = 0;
    while (nd->up && s->fail_kind == SIM_OK && raft_ready(nd->r, &u)) {
        if (++rounds > 10000) {
            sim_fail(s, SIM_LIVENESS, "n%d: raft_ready never runs dry", nd->id);
            return;
        }
        struct raft_status st;
        raft_get_status(nd->r, &st);
        struct sim_batch *b = xcalloc(1, sizeof *b);
        struct sim_log *v = &nd->view;
        /* a. persist: hard state (seq.c decides, below), snapshot, entries */
        if (u.snapshot) {
            /* The core names the snapshot; the bytes are the shell's file. */
            if (!nd->has_recv || nd->recv.index != u.snapshot->index ||
                nd->recv.term != u.snapshot->term) {
                sim_fail(s, SIM_SAFETY,
                         "n%d: update snapshot %" PRIu64 "/%" PRIu64
                         " was never received by the shell",
                         nd->id, u.snapshot->index, u.snapshot->term);
                batch_free(b);
                return;
            }
            b->has_snap = true;
            b->snap = *u.snapshot;
            memcpy(b->snap_data, nd->recv_data, SIM_SNAP_LEN);
            if (b->snap.index > v->snap.index)
                image_snapshot(s, nd, v, &b->snap, b->snap_data, false);
        }
        if (u.n_entries) {
            if (st.state == RAFT_LEADER && u.entries[0].index <= log_last(v) &&
                u.entries[0].index > v->snap.index)
                sim_fail(s, SIM_SAFETY,
                         "leader append-only: leader n%d rewrote its log from %" PRIu64
                         " (last %" PRIu64 ")",
                         nd->id, u.entries[0].index, log_last(v));
            b->e = xcalloc(u.n_entries, sizeof *b->e);
            b->n = u.n_entries;
            uint64_t prev_term = 0;
            bool have_prev = log_term_at(v, u.entries[0].index - 1, &prev_term);
            for (size_t i = 0; i < u.n_entries; i++) {
                const struct raft_entry *e = &u.entries[i];
                ent_copy(&b->e[i], e);
                if (i && e->index != u.entries[i - 1].index + 1)
                    sim_fail(s, SIM_SAFETY, "n%d: update entries not contiguous at %" PRIu64,
                             nd->id, e->index);
                if (e->term > st.term)
                    sim_fail(s, SIM_SAFETY,
                             "n%d: entry %" PRIu64 "/%" PRIu64 " is newer than its term %" PRIu64,
                             nd->id, e->index, e->term, st.term);
                if (have_prev && e->term < prev_term)
                    sim_fail(s, SIM_SAFETY,
                             "n%d: log terms decrease at %" PRIu64 " (%" PRIu64 " after %" PRIu64
                             ")",
                             nd->id, e->index, e->term, prev_term);
                if (have_prev)
                    registry_check(s, nd->id, &b->e[i], prev_term);
                have_prev = true;
                prev_term = e->term;
            }
            image_entries(s, nd, v, b->e, b->n, false);
        }
        if (u.hs_changed) {
            if (u.hs.term < v->hs.term)
                sim_fail(s, SIM_SAFETY, "n%d: hard state term went back %" PRIu64 " -> %" PRIu64,
                         nd->id, v->hs.term, u.hs.term);
            v->hs = u.hs;
        }
        /* b. apply; client writes complete, or their attempts die (reqs.c) */
        if (u.snapshot) {
            struct raft_buf sd = {b ? b->snap_data : nd->recv_data, SIM_SNAP_LEN};
            sm_install(s, nd, u.snapshot, &sd);
            cw_snapshot(s, nd, u.snapshot);
        }
        for (size_t i = 0; i < u.n_committed; i++) {
            uint64_t prev_term = nd->sm_term;
            sm_apply(s, nd, &u.committed[i]);
            cw_applied(s, nd, &u.committed[i], prev_term);
        }
        for (size_t i = 0; i < u.n_reads; i++) {
            uint64_t ctx = u.reads[i].ctx;
            struct sim_read *rd = ctx && ctx < s->next_ctx ? read_rec(s, ctx) : NULL;
            if (!rd || rd->node != nd->id || rd->state != 0) {
                sim_fail(s, SIM_SAFETY, "n%d answered unknown or repeated read ctx=%" PRIu64,
                         nd->id, ctx);
                continue;
            }
            if (u.reads[i].index < rd->required)
                sim_fail(s, SIM_SAFETY,
                         "stale read: n%d answered ctx=%" PRIu64 " at index %" PRIu64
                         " but %" PRIu64 " was committed before it was asked (pitfall #26)",
                         nd->id, ctx, u.reads[i].index, rd->required);
            rd->index = u.reads[i].index;
            rd->state = 1;
            if (rd->remote_from)
                fwd_read_answered(s, nd, rd);
            sim_tracef(s, "n%d read ctx=%" PRIu64 " index=%" PRIu64, nd->id, ctx, rd->index);
            grow_zero((void **)&nd->pend_reads, &nd->cap_pend_reads, nd->n_pend_reads,
                      sizeof *nd->pend_reads);
            nd->pend_reads[nd->n_pend_reads++] = ctx;
        }
        /* a. (cont.) the server's rules: is there a write, with which hard
         * state (commit clamped to what is applied now), and may this
         * update's messages leave now? */
        struct srv_seq_plan plan;
        srv_seq_update(&nd->seq, &u, nd->sm_index, &plan);
        if (plan.write) {
            b->sq = plan.job;
            srv_seq_push(&nd->seq, &b->sq);
        } else {
            batch_free(b);
            b = NULL;
        }
        /* c. messages */
        if (u.n_msgs && u.msgs_before_persist && st.state != RAFT_LEADER)
            sim_fail(s, SIM_SAFETY, "n%d (%s) flagged its messages msgs_before_persist", nd->id,
                     state_name(st.state));
        for (size_t i = 0; i < u.n_msgs; i++) {
            struct sim_msg *sm = msg_copy(&u.msgs[i]);
            const struct raft_msg *m = &sm->m;
            if (m->type == RAFT_MSG_SNAPSHOT && !snap_attach(s, nd, sm)) {
                msg_free(sm);
                raft_report_snapshot(nd->r, u.msgs[i].to, false);
                continue;
            }
            if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index > nd->disk.snap.index) {
                /* raft.h: acks are held until raft_persisted covers them, or ride
                 * with the write of their own update (pitfalls #12, #13) */
                uint64_t tv = 0, td = 0;
                log_term_at(v, m->index, &tv);
                sm->ack_term = tv;
                bool in_batch = b && ((b->n && m->index >= b->e[0].index) ||
                                      (b->has_snap && m->index <= b->snap.index));
                bool durable = log_term_at(&nd->disk, m->index, &td) && td == tv;
                if (!in_batch && !durable)
                    sim_fail(s, SIM_SAFETY,
                             "n%d released an ack of %" PRIu64 "/%" PRIu64
                             " that is neither durable nor in this update (disk: %" PRIu64
                             "/%" PRIu64 "; pitfall #13)",
                             nd->id, m->index, tv, m->index, td);
            }
            if (plan.now)
                send_msg(s, nd, sm);
            else
                srv_seq_hold(&nd->seq, &sm->link);
        }
        /* read-back: served later from the durable image (fetch_serve) */
        if (u.fetch_hi > u.fetch_lo) {
            if (nd->fetch)
                sim_fail(s, SIM_SAFETY, "n%d asked a second read-back while one is out", nd->id);
            nd->fetch = true;
            nd->fetch_lo = u.fetch_lo;
            nd->fetch_hi = u.fetch_hi;
            nd->fetch_at = s->o.net == SIM_NET_AUTO
                               ? s->now + 1 + sim_rng_below(&s->rng, (uint64_t)s->o.disk_delay_max)
                               : 0;
            sim_tracef(s, "n%d read-back asked %" PRIu64 "..%" PRIu64, nd->id, u.fetch_lo,
                       u.fetch_hi - 1);
        }
        /* d. */
        raft_done(nd->r, &u);
        if (b)
            disk_enqueue(s, nd, b);
    }
    if (nd->up)
        reads_serve(s, nd);
}

/* Serve nd's read-back from its durable image, as the server's writer
 * thread reads the WAL: a prefix of the range (at most 64 entries, fewer at
 * random), or "compacted" when the image's log starts after fetch_lo. */
static void fetch_serve(struct sim *s, struct sim_node *nd)
{
    if (!nd->up || !nd->fetch)
        return;
    nd->fetch = false;
    const struct sim_log *d = &nd->disk;
    uint64_t lo = nd->fetch_lo;
    if (lo <= d->snap.index) {
        nd->rb_compacted++;
        sim_tracef(s, "n%d read-back from %" PRIu64 ": compacted (disk starts at %" PRIu64 ")",
                   nd->id, lo, d->snap.index + 1);
        raft_fetch_failed(nd->r, lo, d->snap.index + 1);
        node_process(s, nd);
        check_all(s);
        return;
    }
    if (lo > log_last(d)) {
        sim_fail(s, SIM_SAFETY,
                 "n%d asked to read back %" PRIu64 " which is not durable (disk ends at %" PRIu64
                 ")",
                 nd->id, lo, log_last(d));
        return;
    }
    uint64_t hi = nd->fetch_hi;
    if (hi > log_last(d) + 1)
        hi = log_last(d) + 1;
    size_t n = (size_t)(hi - lo);
    size_t cap = 1 + (size_t)sim_rng_below(&s->rng, 64);
    if (n > cap)
        n = cap;
    struct raft_entry *es = xcalloc(n, sizeof *es);
    for (size_t i = 0; i < n; i++) {
        const struct sim_ent *e = &d->e[lo - d->snap.index - 1 + i];
        es[i] = (struct raft_entry){e->term, e->index, e->type, {e->data, e->len}};
    }
    nd->rb_entries += n;
    sim_tracef(s, "n%d read-back %" PRIu64 "..%" PRIu64, nd->id, lo, lo + n - 1);
    raft_fetched(nd->r, es, n);
    free(es);
    node_process(s, nd);
    check_all(s);
}

uint64_t sim_readback_entries(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd ? nd->rb_entries : 0;
}

uint64_t sim_readback_compacted(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd ? nd->rb_compacted : 0;
}

/* The ready loop, then what client writes may do now (a leader known, an
 * attempt dead): ready.c runs srv__dispatch_held after process_ready. */
static void node_process(struct sim *s, struct sim_node *nd)
{
    node_ready(s, nd);
    if (s->fail_kind == SIM_OK && cw_dispatch(s, nd))
        node_ready(s, nd);
    if (s->fail_kind == SIM_OK && cr_dispatch(s, nd))
        node_ready(s, nd);
}

/* ---- per-event checks ------------------------------------------------------------ */
static void leader_completeness(struct sim *s, struct sim_node *nd, uint64_t term)
{
    for (uint64_t i = nd->view.snap.index + 1; i <= s->max_committed; i++) {
        const struct sim_jrec *j = jrec_c(s, i);
        if (!j)
            continue;
        uint64_t t;
        if (!log_term_at(&nd->view, i, &t) || t != j->term) {
            sim_fail(s, SIM_SAFETY,
                     "leader completeness: n%d leads term %" PRIu64
                     " without committed entry %" PRIu64 "/%" PRIu64,
                     nd->id, term, i, j->term);
            return;
        }
    }
}

static void check_node(struct sim *s, struct sim_node *nd)
{
    struct raft_status st;
    raft_get_status(nd->r, &st);
    if (st.term < nd->term)
        sim_fail(s, SIM_SAFETY, "n%d: term went back %" PRIu64 " -> %" PRIu64, nd->id, nd->term,
                 st.term);
    if (st.term < nd->disk.hs.term)
        sim_fail(s, SIM_SAFETY, "n%d: term %" PRIu64 " is below its durable term %" PRIu64, nd->id,
                 st.term, nd->disk.hs.term);
    if (st.commit < nd->commit)
        sim_fail(s, SIM_SAFETY, "n%d: commit went back %" PRIu64 " -> %" PRIu64, nd->id, nd->commit,
                 st.commit);
    if (st.commit > st.last_index)
        sim_fail(s, SIM_SAFETY, "n%d: commit %" PRIu64 " beyond last index %" PRIu64, nd->id,
                 st.commit, st.last_index);
    if (nd->sm_index > st.commit && nd->sm_index > st.snap_index)
        sim_fail(s, SIM_SAFETY, "n%d: applied %" PRIu64 " beyond commit %" PRIu64, nd->id,
                 nd->sm_index, st.commit);
    if (st.last_index != log_last(&nd->view) || st.last_term != log_last_term(&nd->view))
        sim_fail(s, SIM_SAFETY,
                 "n%d: core log ends at %" PRIu64 "/%" PRIu64 " but it handed the shell %" PRIu64
                 "/%" PRIu64,
                 nd->id, st.last_index, st.last_term, log_last(&nd->view),
                 log_last_term(&nd->view));
    const struct raft_server *self = raft_conf_find(&st.conf, (uint64_t)nd->id);
    if (self && self->role == RAFT_LEARNER && st.state != RAFT_FOLLOWER)
        sim_fail(s, SIM_SAFETY, "n%d believes it is a learner but is %s (pitfall #25)", nd->id,
                 state_name(st.state));
    if (st.state != nd->st)
        sim_tracef(s, "n%d %s -> %s term=%" PRIu64, nd->id, state_name(nd->st),
                   state_name(st.state), st.term);
    if (st.state == RAFT_LEADER) {
        grow_zero((void **)&s->leader_of, &s->leader_cap, st.term, 1);
        if (!s->leader_of[st.term]) {
            s->leader_of[st.term] = (uint8_t)nd->id;
            leader_completeness(s, nd, st.term);
        } else if (s->leader_of[st.term] != nd->id) {
            sim_fail(s, SIM_SAFETY, "election safety: n%d and n%d both led term %" PRIu64,
                     s->leader_of[st.term], nd->id, st.term);
        }
        if (nd->lead_term != st.term) {
            nd->lead_term = st.term;
            memset(nd->prog_match, 0, sizeof nd->prog_match);
        }
        struct raft_progress pr[RAFT_MAX_SERVERS + 1];
        size_t np = raft_get_progress(nd->r, pr, RAFT_MAX_SERVERS + 1);
        for (size_t i = 0; i < np && i <= RAFT_MAX_SERVERS; i++) {
            if (pr[i].match > st.last_index || pr[i].next > st.last_index + 1 ||
                pr[i].match >= pr[i].next)
                sim_fail(s, SIM_SAFETY,
                         "leader n%d: progress of n%" PRIu64 " match=%" PRIu64 " next=%" PRIu64
                         " with last=%" PRIu64,
                         nd->id, pr[i].id, pr[i].match, pr[i].next, st.last_index);
            if (pr[i].id >= 1 && pr[i].id <= SIM_MAX_NODES) {
                if (pr[i].match < nd->prog_match[pr[i].id])
                    sim_fail(s, SIM_SAFETY,
                             "leader n%d: match of n%" PRIu64 " went back %" PRIu64 " -> %" PRIu64
                             " (pitfall #10)",
                             nd->id, pr[i].id, nd->prog_match[pr[i].id], pr[i].match);
                nd->prog_match[pr[i].id] = pr[i].match;
            }
        }
    }
    nd->st = st.state;
    nd->term = st.term;
    nd->commit = st.commit;
}

static void check_all(struct sim *s)
{
    s->events++;
    for (int id = 1; id <= s->o.slots && s->fail_kind == SIM_OK; id++)
        if (s->nodes[id].up)
            check_node(s, &s->nodes[id]);
}

void sim_check_full(struct sim *s)
{
    struct raft_status st;
    sim_status(s, sim_leader(s), &st);
    for (uint64_t i = 1; i <= s->max_committed && s->fail_kind == SIM_OK; i++) {
        const struct sim_jrec *j = jrec_c(s, i);
        if (j)
            check_quorum_durable(s, i, j->term, st.conf.n ? &st.conf : NULL, NULL, "full sweep");
    }
    check_all(s);
}

/* ---- lifecycle ---------------------------------------------------------------- */
void sim_opts_default(struct sim_opts *o, uint64_t seed, int nodes)
{
    memset(o, 0, sizeof *o);
    o->seed = seed;
    o->nodes = nodes;
    o->slots = nodes;
    o->election_ticks = 10;
    o->heartbeat_ticks = 2;
    o->pre_vote = true;
    o->check_quorum = true;
    o->lease_reads = false;
    o->max_msg_bytes = 1 << 20;
    o->max_inflight_msgs = 64;
    o->net = SIM_NET_MANUAL;
    o->disk = SIM_DISK_IMMEDIATE;
    o->delay_min = 1;
    o->delay_max = 20;
    o->disk_delay_max = 20;
}

static struct raft *node_core(struct sim *s, struct sim_node *nd, const struct raft_restore *rs)
{
    struct raft_config c;
    memset(&c, 0, sizeof c);
    c.id = (uint64_t)nd->id;
    c.election_ticks = s->o.election_ticks;
    c.heartbeat_ticks = s->o.heartbeat_ticks;
    c.rng_seed = mix64(s->o.seed, (uint64_t)nd->id * 7919 + (uint64_t)s->events);
    c.pre_vote = s->o.pre_vote;
    c.check_quorum = s->o.check_quorum;
    c.lease_reads = s->o.lease_reads;
    c.max_msg_bytes = s->o.max_msg_bytes;
    c.max_inflight_msgs = s->o.max_inflight_msgs;
    c.max_inflight_bytes = s->o.max_inflight_bytes;
    /* Half the seeds compact down to a few entries' worth of payload:
     * followers behind it need snapshots far more often. */
    c.compact_keep_bytes = (s->o.seed & 1) ? 64 : 0;
    c.log_window_entries = s->o.log_window_entries;
    c.log_window_bytes = s->o.log_window_bytes;
    c.log = core_log;
    c.log_arg = &nd->id;
    return raft_new(&c, rs);
}

static int node_boot(struct sim *s, struct sim_node *nd)
{
    struct raft_restore rs;
    memset(&rs, 0, sizeof rs);
    struct sim_log *d = &nd->disk;
    rs.term = d->hs.term;
    rs.vote = d->hs.vote;
    rs.commit = d->hs.commit;
    rs.snap = d->snap;
    rs.conf = d->snap.index ? d->snap.conf : nd->boot_conf;
    struct raft_entry *es = NULL;
    if (d->n) {
        es = xcalloc(d->n, sizeof *es);
        for (size_t i = 0; i < d->n; i++)
            es[i] = (struct raft_entry){
                d->e[i].term, d->e[i].index, d->e[i].type, {d->e[i].data, d->e[i].len}};
    }
    rs.entries = es;
    rs.n_entries = d->n;
    /* Half the seeds apply what the disk holds as committed while reading
     * it, as server/recover.c does, and give the core only its terms. */
    size_t na = 0;
    struct raft_run *runs = NULL;
    size_t nruns = 0;
    uint64_t upto = d->hs.commit < log_last(d) ? d->hs.commit : log_last(d);
    if ((s->o.seed >> 1) & 1 && upto > d->snap.index) {
        na = (size_t)(upto - d->snap.index);
        runs = xcalloc(na, sizeof *runs);
        rs.applied_conf = rs.conf;
        for (size_t i = 0; i < na; i++) {
            if (!nruns || runs[nruns - 1].term != es[i].term)
                runs[nruns++] = (struct raft_run){es[i].index, es[i].term};
            struct raft_conf c;
            if (es[i].type == RAFT_ENTRY_CONF &&
                raft_conf_decode(es[i].data.base, es[i].data.len, &c) == 0)
                rs.applied_conf = c;
        }
        rs.applied = upto;
        rs.applied_terms = runs;
        rs.n_applied_terms = nruns;
        rs.entries = es + na;
        rs.n_entries = d->n - na;
    }
    nd->r = node_core(s, nd, &rs);
    free(runs);
    srv_seq_init(&nd->seq, &d->hs);
    if (!nd->r) {
        sim_fail(s, SIM_SAFETY,
                 "raft_new refused n%d's restore (term=%" PRIu64 " snap=%" PRIu64 " entries=%zu)",
                 nd->id, rs.term, rs.snap.index, rs.n_entries);
        free(es);
        return -1;
    }
    nd->up = true;
    log_copy(&nd->view, d);
    sm_reset(nd);
    for (size_t i = 0; i < na; i++)
        sm_apply(s, nd, &es[i]);
    free(es);
    nd->st = RAFT_FOLLOWER;
    nd->term = 0;
    nd->commit = 0;
    nd->lead_term = 0;
    if (d->snap.index && raft_set_snapshot(nd->r, &d->snap) != 0)
        sim_fail(s, SIM_SAFETY, "n%d: raft_set_snapshot refused its own snapshot", nd->id);
    node_process(s, nd);
    check_all(s);
    return 0;
}

struct sim *sim_new(const struct sim_opts *o)
{
    struct sim *s = xcalloc(1, sizeof *s);
    s->o = *o;
    if (s->o.slots < s->o.nodes)
        s->o.slots = s->o.nodes;
    if (s->o.slots > SIM_MAX_NODES)
        s->o.slots = SIM_MAX_NODES;
    int boot = s->o.voters_in_boot ? s->o.voters_in_boot : s->o.nodes;
    sim_rng_seed(&s->rng, o->seed);
    s->next_ctx = 1;
    s->next_value = 1;
    sim_core_trace = o->trace_core ? o->trace : NULL;
    struct raft_conf bc;
    memset(&bc, 0, sizeof bc);
    for (int i = 1; i <= boot; i++) {
        bc.servers[bc.n].id = (uint64_t)i;
        bc.servers[bc.n].role = RAFT_VOTER;
        snprintf(bc.servers[bc.n].addr, sizeof bc.servers[bc.n].addr, "n%d", i);
        bc.n++;
    }
    s->conf_ref = bc;
    for (int id = 1; id <= s->o.slots; id++) {
        struct sim_node *nd = &s->nodes[id];
        nd->id = id;
        nd->dmode = s->o.disk;
        nd->phase = (unsigned)sim_rng_below(&s->rng, SIM_TICK);
        if (id <= s->o.nodes) {
            nd->boot_conf = bc;
            nd->started = true;
            node_boot(s, nd);
        }
    }
    return s;
}

static void node_down(struct sim *s, struct sim_node *nd)
{
    if (!nd->up)
        return;
    raft_free(nd->r);
    nd->r = NULL;
    nd->up = false;
    nd->has_recv = false; /* temp files are removed at open */
    nd->fetch = false;
    cw_crash(s, nd);
    while (nd->ph) {
        struct sim_batch *b = nd->ph;
        nd->ph = b->next;
        batch_free(b);
    }
    nd->pt = NULL;
    nd->npend = 0;
    nd->last_sync_at = 0;
    srv_seq_init(&nd->seq, &nd->disk.hs);
    log_copy(&nd->view, &nd->disk);
    nd->n_pend_reads = 0;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    for (int id = 1; id <= SIM_MAX_NODES; id++) {
        struct sim_node *nd = &s->nodes[id];
        node_down(s, nd);
        log_free(&nd->disk);
        log_free(&nd->view);
        free(nd->granted);
        free(nd->pend_reads);
    }
    for (size_t i = 0; i < s->n_net; i++)
        msg_free(s->net[i]);
    free(s->net);
    free(s->leader_of);
    free(s->j);
    for (size_t i = 0; i < s->reg_cap; i++)
        free(s->reg[i].v);
    free(s->reg);
    free(s->reads);
    free(s->w);
    free(s);
    sim_core_trace = NULL;
}

int sim_start_new(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || nd->started)
        return CN_EINVAL;
    nd->started = true;
    memset(&nd->boot_conf, 0, sizeof nd->boot_conf);
    sim_tracef(s, "n%d starts (new server, empty disk)", id);
    return node_boot(s, nd);
}

void sim_crash(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return;
    sim_tracef(s, "n%d CRASH (%zu unsynced writes lost)", id, nd->npend);
    node_down(s, nd);
    check_all(s);
}

int sim_restart(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || nd->up || !nd->started)
        return CN_EINVAL;
    sim_tracef(s,
               "n%d RESTART term=%" PRIu64 " vote=%" PRIu64 " commit=%" PRIu64 " snap=%" PRIu64
               " last=%" PRIu64,
               id, nd->disk.hs.term, nd->disk.hs.vote, nd->disk.hs.commit, nd->disk.snap.index,
               log_last(&nd->disk));
    return node_boot(s, nd);
}

void sim_set_disk_mode(struct sim *s, int id, enum sim_disk_mode m)
{
    struct sim_node *nd = node(s, id);
    if (nd)
        nd->dmode = m;
}

int sim_sync_one(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->ph)
        return 0;
    disk_sync_one(s, nd);
    node_process(s, nd);
    check_all(s);
    return 1;
}

int sim_sync_hs(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !disk_hs_round(s, nd))
        return 0;
    check_all(s);
    return 1;
}

int sim_sync_all(struct sim *s, int id)
{
    int n = 0;
    while (sim_sync_one(s, id))
        n++;
    return n;
}

size_t sim_pending_writes(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd ? nd->npend : 0;
}

/* ---- inputs ------------------------------------------------------------------- */
void sim_tick(struct sim *s, int id)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return;
    if (nd->fetch && nd->fetch_at <= s->now)
        fetch_serve(s, nd);
    if (!nd->up || s->fail_kind != SIM_OK)
        return;
    raft_tick(nd->r);
    node_process(s, nd);
    cw_tick(s, nd);
    check_all(s);
}

void sim_tick_all(struct sim *s)
{
    for (int id = 1; id <= s->o.slots; id++)
        sim_tick(s, id);
}

int sim_propose(struct sim *s, int id, uint64_t *index)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return CN_EAGAIN;
    uint8_t v[16];
    put64(v, 0x53494d5f56414cULL); /* "SIM_VAL": a command, never empty */
    put64(v + 8, s->next_value++);
    uint64_t idx = 0, term = 0;
    int rc = raft_propose(nd->r, v, sizeof v, &idx, &term);
    sim_tracef(s, "n%d propose value=%" PRIu64 " -> rc=%d index=%" PRIu64 " term=%" PRIu64, id,
               s->next_value - 1, rc, idx, term);
    if (index)
        *index = rc == 0 ? idx : 0;
    node_process(s, nd);
    check_all(s);
    return rc;
}

int sim_propose_conf(struct sim *s, int id, enum raft_conf_change cc, int target, uint64_t *index)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return CN_EAGAIN;
    char addr[16];
    snprintf(addr, sizeof addr, "n%d", target);
    uint64_t idx = 0;
    int rc = raft_propose_conf(nd->r, cc, (uint64_t)target, addr, &idx);
    static const char *ccn[] = {"ADD_LEARNER", "PROMOTE", "REMOVE"};
    sim_tracef(s, "n%d propose_conf %s n%d -> rc=%d index=%" PRIu64, id, ccn[cc], target, rc, idx);
    if (index)
        *index = rc == 0 ? idx : 0;
    node_process(s, nd);
    check_all(s);
    if (rc == 0 && cc == RAFT_CC_ADD_LEARNER) {
        struct sim_node *t = node(s, target);
        if (t && !t->started)
            sim_start_new(s, target);
    }
    return rc;
}

int sim_read_index(struct sim *s, int id, uint64_t *ctxp)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return CN_EAGAIN;
    uint64_t ctx = s->next_ctx++;
    struct sim_read *rd = read_rec(s, ctx);
    rd->node = id;
    rd->required = s->max_committed;
    int rc = raft_read_index(nd->r, ctx);
    sim_tracef(s, "n%d read_index ctx=%" PRIu64 " -> rc=%d (committed so far %" PRIu64 ")", id, ctx,
               rc, rd->required);
    if (rc != 0)
        rd->state = 3; /* refused: never answered */
    if (ctxp)
        *ctxp = ctx;
    node_process(s, nd);
    check_all(s);
    return rc;
}

bool sim_read_answered(const struct sim *s, uint64_t ctx, uint64_t *index)
{
    if (ctx >= s->reads_cap || s->reads[ctx].state != 2)
        return false;
    if (index)
        *index = s->reads[ctx].index;
    return true;
}

int sim_transfer(struct sim *s, int id, int to)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up)
        return CN_EAGAIN;
    int rc = raft_transfer_leader(nd->r, (uint64_t)to);
    sim_tracef(s, "n%d transfer leadership to n%d -> rc=%d", id, to, rc);
    node_process(s, nd);
    check_all(s);
    return rc;
}

int sim_take_snapshot(struct sim *s, int id, uint64_t keep)
{
    struct sim_node *nd = node(s, id);
    if (!nd || !nd->up || nd->sm_index == 0 || nd->sm_index <= nd->disk.snap.index ||
        nd->sm_index <= nd->view.snap.index)
        return CN_EINVAL;
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = nd->sm_index;
    meta.term = nd->sm_term;
    meta.conf = nd->sm_conf;
    uint8_t data[SIM_SNAP_LEN];
    put64(data, nd->sm_index);
    put64(data + 8, nd->sm_term);
    put64(data + 16, nd->sm_hash);
    int rc = raft_compact(nd->r, meta.index, keep);
    sim_tracef(s, "n%d snapshot at %" PRIu64 "/%" PRIu64 " keep=%" PRIu64 " -> rc=%d", id,
               meta.index, meta.term, keep, rc);
    if (rc != 0)
        return rc;
    /* the snapshot file is written and synced before the log is compacted */
    struct sim_log *ls[2] = {&nd->disk, &nd->view};
    for (int k = 0; k < 2; k++) {
        struct sim_log *l = ls[k];
        size_t drop = 0;
        while (drop < l->n && l->e[drop].index <= meta.index)
            drop++;
        if (drop == l->n && log_last(l) < meta.index)
            drop = l->n;
        log_drop_head(l, drop);
        l->snap = meta;
        memcpy(l->snap_data, data, SIM_SNAP_LEN);
    }
    rc = raft_set_snapshot(nd->r, &meta);
    if (rc != 0)
        sim_fail(s, SIM_SAFETY, "n%d: raft_set_snapshot(%" PRIu64 ") -> %d", id, meta.index, rc);
    node_process(s, nd);
    check_all(s);
    return 0;
}

/* ---- network API ------------------------------------------------------------------ */
static bool match_msg(const struct sim_msg *sm, struct sim_match m)
{
    return (!m.from || sm->m.from == (uint64_t)m.from) && (!m.to || sm->m.to == (uint64_t)m.to) &&
           (!m.type || (int)sm->m.type == m.type);
}

static long net_find(const struct sim *s, struct sim_match m)
{
    for (size_t i = 0; i < s->n_net; i++)
        if (match_msg(s->net[i], m))
            return (long)i;
    return -1;
}

static struct sim_msg *net_take(struct sim *s, size_t i)
{
    struct sim_msg *sm = s->net[i];
    memmove(s->net + i, s->net + i + 1, (s->n_net - i - 1) * sizeof *s->net);
    s->n_net--;
    return sm;
}

size_t sim_net_count(const struct sim *s, struct sim_match m)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_net; i++)
        n += match_msg(s->net[i], m);
    return n;
}

bool sim_peek(const struct sim *s, struct sim_match m, struct raft_msg *out)
{
    long i = net_find(s, m);
    if (i < 0)
        return false;
    *out = s->net[i]->m;
    out->entries = NULL;
    out->snap_data = (struct raft_buf){NULL, 0};
    return true;
}

/* Hand one message to its destination (or lose it to a crash or partition). */
static void deliver(struct sim *s, struct sim_msg *sm)
{
    const struct raft_msg *m = &sm->m;
    struct sim_node *to = node(s, (int)m->to), *from = node(s, (int)m->from);
    if (!to || !to->up || s->blocked[m->from][m->to]) {
        trace_msg(s, "drop ", m);
        if (s->o.net == SIM_NET_AUTO && from && from->up) {
            /* the transport notices a refused connection now and then */
            if (to && !to->up && sim_rng_chance(&s->rng, 0.3)) {
                raft_report_unreachable(from->r, m->to);
                node_process(s, from);
            }
            if (m->type == RAFT_MSG_SNAPSHOT && sim_rng_chance(&s->rng, 0.5)) {
                raft_report_snapshot(from->r, m->to, false);
                node_process(s, from);
            }
            check_all(s);
        }
        msg_free(sm);
        return;
    }
    trace_msg(s, "recv ", m);
    if ((int)m->type == SIM_MSG_FWD_REQ || (int)m->type == SIM_MSG_FWD_RESP) {
        if ((int)m->type == SIM_MSG_FWD_REQ)
            fwd_on_req(s, to, m->from, &m->snap_data);
        else
            fwd_on_resp(s, to, m->from, &m->snap_data);
        msg_free(sm);
        check_all(s);
        return;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        /* the bytes arrive first, to a durable temp file; then the message */
        if (m->snap_data.len != SIM_SNAP_LEN) {
            sim_fail(s, SIM_SAFETY, "n%d: SNAPSHOT without its bytes", to->id);
            msg_free(sm);
            return;
        }
        to->has_recv = true;
        to->recv = m->snap;
        memcpy(to->recv_data, m->snap_data.base, SIM_SNAP_LEN);
    }
    int rc = raft_step(to->r, m);
    if (rc != 0)
        sim_fail(s, SIM_SAFETY, "n%d: raft_step(%s) -> %d", to->id, msg_name(m->type), rc);
    node_process(s, to);
    if (m->type == RAFT_MSG_SNAPSHOT && from && from->up && s->o.net == SIM_NET_AUTO) {
        raft_report_snapshot(from->r, m->to, true);
        node_process(s, from);
    }
    msg_free(sm);
    check_all(s);
}

int sim_deliver(struct sim *s, struct sim_match m)
{
    long i = net_find(s, m);
    if (i < 0)
        return 0;
    deliver(s, net_take(s, (size_t)i));
    return 1;
}

int sim_deliver_newest(struct sim *s, struct sim_match m)
{
    for (size_t i = s->n_net; i-- > 0;)
        if (match_msg(s->net[i], m)) {
            deliver(s, net_take(s, i));
            return 1;
        }
    return 0;
}

void sim_skip_time(struct sim *s, uint64_t units)
{
    s->now += units;
}

int sim_drop(struct sim *s, struct sim_match m)
{
    int n = 0;
    for (size_t i = 0; i < s->n_net;) {
        if (match_msg(s->net[i], m)) {
            struct sim_msg *sm = net_take(s, i);
            trace_msg(s, "DROP ", &sm->m);
            msg_free(sm);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

int sim_drop_first(struct sim *s, struct sim_match m)
{
    long i = net_find(s, m);
    if (i < 0)
        return 0;
    struct sim_msg *sm = net_take(s, (size_t)i);
    trace_msg(s, "DROP ", &sm->m);
    msg_free(sm);
    return 1;
}

void sim_disk_lose_tail(struct sim *s, int id, uint64_t keep_last)
{
    struct sim_node *nd = node(s, id);
    if (!nd || nd->up || keep_last < nd->disk.snap.index)
        return;
    sim_tracef(s,
               "n%d loses its durable log after %" PRIu64 " (hard state kept: commit=%" PRIu64 ")",
               id, keep_last, nd->disk.hs.commit);
    if (keep_last < log_last(&nd->disk))
        log_drop_from(&nd->disk, (size_t)(keep_last - nd->disk.snap.index));
    log_copy(&nd->view, &nd->disk);
}

int sim_dup(struct sim *s, struct sim_match m)
{
    long i = net_find(s, m);
    if (i < 0)
        return 0;
    struct sim_msg *d = msg_copy(&s->net[i]->m);
    d->deliver_at = s->net[i]->deliver_at;
    trace_msg(s, "DUP  ", &d->m);
    net_push(s, d);
    return 1;
}

int sim_deliver_all(struct sim *s, int max)
{
    int n = 0;
    while (s->n_net && n < max && s->fail_kind == SIM_OK) {
        deliver(s, net_take(s, 0));
        n++;
    }
    return n;
}

void sim_run_manual(struct sim *s, int ticks)
{
    for (int t = 0; t < ticks && s->fail_kind == SIM_OK; t++) {
        s->now += SIM_TICK;
        sim_tick_all(s);
        for (int round = 0; round < 50 && s->fail_kind == SIM_OK; round++) {
            int moved = sim_deliver_all(s, 10000);
            for (int id = 1; id <= s->o.slots; id++)
                moved += sim_sync_all(s, id);
            if (!moved)
                break;
        }
    }
}

void sim_block(struct sim *s, int from, int to, bool blocked)
{
    if (from >= 1 && from <= SIM_MAX_NODES && to >= 1 && to <= SIM_MAX_NODES)
        s->blocked[from][to] = blocked;
}

void sim_isolate(struct sim *s, int id, bool isolated)
{
    for (int o = 1; o <= SIM_MAX_NODES; o++) {
        sim_block(s, id, o, isolated);
        sim_block(s, o, id, isolated);
    }
    sim_tracef(s, "n%d %s", id, isolated ? "ISOLATED" : "rejoins the network");
}

void sim_heal(struct sim *s)
{
    memset(s->blocked, 0, sizeof s->blocked);
    sim_tracef(s, "network HEALED");
}

void sim_partition(struct sim *s, uint32_t mask_a)
{
    for (int a = 1; a <= SIM_MAX_NODES; a++)
        for (int b = 1; b <= SIM_MAX_NODES; b++)
            s->blocked[a][b] = ((mask_a >> a) & 1) != ((mask_a >> b) & 1);
}

/* ---- AUTO time ------------------------------------------------------------------ */
void sim_advance(struct sim *s, uint64_t units, sim_tick_hook hook, void *arg)
{
    uint64_t end = s->now + units;
    while (s->now < end && s->fail_kind == SIM_OK) {
        if (s->now % SIM_TICK == 0 && hook)
            hook(s, arg);
        for (int id = 1; id <= s->o.slots; id++) {
            struct sim_node *nd = &s->nodes[id];
            if (nd->up && s->now % SIM_TICK == nd->phase)
                sim_tick(s, id);
        }
        /* messages due now, oldest deadline first */
        for (;;) {
            long best = -1;
            for (size_t i = 0; i < s->n_net; i++)
                if (s->net[i]->deliver_at <= s->now &&
                    (best < 0 || s->net[i]->deliver_at < s->net[best]->deliver_at))
                    best = (long)i;
            if (best < 0 || s->fail_kind != SIM_OK)
                break;
            deliver(s, net_take(s, (size_t)best));
        }
        for (int id = 1; id <= s->o.slots; id++) {
            struct sim_node *nd = &s->nodes[id];
            if (nd->up && nd->fetch && nd->fetch_at <= s->now && s->fail_kind == SIM_OK)
                fetch_serve(s, nd);
            while (nd->up && nd->ph && nd->ph->sync_at <= s->now && s->fail_kind == SIM_OK) {
                disk_sync_one(s, nd);
                node_process(s, nd);
                check_all(s);
            }
        }
        s->now++;
    }
}

uint64_t sim_log_term(const struct sim *s, int id, uint64_t index)
{
    const struct sim_node *nd = node_c(s, id);
    uint64_t t = 0;
    if (nd && log_term_at(&nd->view, index, &t))
        return t;
    return 0;
}

void sim_inject(struct sim *s, const struct raft_msg *m)
{
    struct sim_msg *sm = msg_copy(m);
    sm->deliver_at = s->now;
    deliver(s, sm);
}

int sim_deliver_all_except(struct sim *s, int max, int drop_type)
{
    int n = 0;
    while (s->n_net && n < max && s->fail_kind == SIM_OK) {
        struct sim_msg *sm = net_take(s, 0);
        if ((int)sm->m.type == drop_type) {
            trace_msg(s, "DROP ", &sm->m);
            msg_free(sm);
            continue;
        }
        deliver(s, sm);
        n++;
    }
    return n;
}

/* ---- accessors for the random driver --------------------------------------------- */
void sim_set_net_faults(struct sim *s, double p_drop, double p_dup, unsigned delay_max)
{
    s->o.p_drop = p_drop;
    s->o.p_dup = p_dup;
    s->o.delay_max = delay_max;
}

uint64_t sim_leaders_elected(const struct sim *s)
{
    uint64_t n = 0;
    for (size_t t = 0; t < s->leader_cap; t++)
        n += s->leader_of[t] != 0;
    return n;
}

bool sim_node_removed(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd && nd->removed;
}

bool sim_node_started(const struct sim *s, int id)
{
    const struct sim_node *nd = node_c(s, id);
    return nd && nd->started;
}

uint64_t sim_events(const struct sim *s)
{
    return s->events;
}
