/* server/reqs.c: the rules of a write's life between followers and the
 * leader (reqs.h), pure: server/requests.c, forward.c and ready.c run them
 * with libuv around them, tests/sim with its fake network. */
#include <string.h>

#include "base/err.h"
#include "server/reqs.h"

void srv_req_init(struct srv_req *r, uint64_t env_id, uint64_t deadline)
{
    memset(r, 0, sizeof(*r));
    r->phase = SRV_REQ_HELD;
    r->env_id = env_id;
    r->deadline = deadline;
}

bool srv_req_may_attempt(const struct srv_req *r, uint64_t applied_term)
{
    return r->phase == SRV_REQ_HELD && (!r->term || applied_term > r->term);
}

bool srv_req_may_forward(const struct srv_req *r, uint64_t applied_term, uint64_t term)
{
    return srv_req_may_attempt(r, applied_term) && term > r->term;
}

void srv_req_proposed(struct srv_req *r, uint64_t index, uint64_t term)
{
    r->phase = SRV_REQ_PENDING;
    r->index = index;
    r->term = term;
}

void srv_req_forwarded(struct srv_req *r, uint64_t term, uint64_t seq, uint64_t resend_at)
{
    r->phase = SRV_REQ_FWD;
    r->term = term;
    r->seq = seq;
    r->refused = false;
    r->resend_at = resend_at;
}

uint64_t srv_req_floor(const struct srv_req *const *reqs, size_t n, uint64_t id)
{
    uint64_t f = id;
    for (size_t i = 0; i < n; i++)
        if (reqs[i]->phase == SRV_REQ_FWD && reqs[i]->seq < f)
            f = reqs[i]->seq;
    return f;
}

int srv_req_answer(struct srv_req *r, const struct srv_fwd_resp *m, uint64_t now, uint64_t retry)
{
    if (m->code == SRV_FWD_OK) {
        if (m->term != r->term)
            return 0; /* not what we asked: ignore */
        r->phase = SRV_REQ_PENDING;
        r->index = m->index;
        return 0;
    }
    if (m->code == SRV_FWD_NOT_LEADER) {
        /* Not proposed now; an earlier copy of this attempt may have been,
         * so wait until the attempt is dead (an entry of a later term
         * applied here). */
        r->refused = true;
        return 0;
    }
    int rc = srv_fwd_err_from_code(m->code);
    if (rc == CN_EAGAIN || rc == CN_ENOMEM) {
        r->resend_at = now + retry; /* busy: nothing done, ask again */
        return 0;
    }
    return rc; /* refused for good (too large, invalid): nothing was proposed */
}

int srv_req_entry(const void *data, size_t len, uint64_t self, uint64_t *env_id, const void **cmd,
                  size_t *cmd_len)
{
    struct srv_env env = {0};
    /* Entries from before envelopes apply as they are; so does a malformed
     * envelope (the state machine refuses it everywhere). */
    int er = srv_env_decode(data, len, &env, cmd, cmd_len);
    if (er < 0) {
        *cmd = data;
        *cmd_len = len;
    }
    if (er == 1 && env.origin == self) {
        *env_id = env.req_id;
        return 1;
    }
    return 0;
}

bool srv_req_term_passed(struct srv_req *r, uint64_t term)
{
    if (r->phase == SRV_REQ_HELD || r->term >= term)
        return false;
    r->phase = SRV_REQ_HELD;
    return true;
}

enum srv_req_snap srv_req_snapshot(struct srv_req *r, uint64_t index, uint64_t term)
{
    /* A held request has no live attempt; one of a later term than the
     * snapshot's cannot be inside it. */
    if (r->phase == SRV_REQ_HELD || r->term > term)
        return SRV_REQ_SNAP_KEEP;
    if (r->phase == SRV_REQ_FWD || r->index <= index)
        return SRV_REQ_SNAP_UNKNOWN; /* where it landed, if anywhere, is not known here */
    /* Proposed at an index after the snapshot's: in the snapshot's own term
     * it is still to come; in an earlier term it never will (the committed
     * entries after the snapshot are of its term or later), found by the
     * simulator: this used to fail writes that applied a moment later. */
    if (r->term == term)
        return SRV_REQ_SNAP_KEEP;
    r->phase = SRV_REQ_HELD;
    return SRV_REQ_SNAP_DEAD;
}

enum srv_req_expiry srv_req_expiry(const struct srv_req *r, uint64_t now, uint64_t applied_term)
{
    if (r->deadline > now)
        return SRV_REQ_LIVE;
    if (srv_req_may_attempt(r, applied_term))
        return SRV_REQ_NO_LEADER;
    return SRV_REQ_UNKNOWN;
}

bool srv_req_resend_due(const struct srv_req *r, uint64_t now, uint64_t cur_term)
{
    return r->phase == SRV_REQ_FWD && !r->refused && r->resend_at <= now && cur_term == r->term;
}

bool srv_req_read_now(enum srv_req_read_mode mode, const struct srv_req_read_view *v)
{
    if (mode == SRV_REQ_READ_STALE)
        return true;
    if (!v->leader || mode == SRV_REQ_READ_CONSISTENT)
        return false;
    /* The lease says nobody else leads; the commit index is only complete
     * once an entry of this term (the no-op) committed: it is applied when
     * the last applied entry has the current term. */
    if (v->lease_valid)
        return v->applied_term == v->term && v->applied >= v->commit;
    /* A sole voter whose term's no-op is applied knows it is the leader. */
    return v->voters == 1 && v->last_term == v->term && v->applied >= v->last_index;
}

/* ---- the leader's table ---------------------------------------------------- */

static void table_reset(struct srv_req_table *t, uint64_t term)
{
    size_t cap = t->cap && t->cap < SRV_REQ_TABLE_MAX ? t->cap : SRV_REQ_TABLE_MAX;
    memset(t->hash, 0, sizeof(t->hash));
    memset(t->origin, 0, sizeof(t->origin));
    t->free = NULL;
    for (size_t i = cap; i-- > 0;) {
        t->pool[i].hnext = t->free;
        t->free = &t->pool[i];
    }
    t->n = t->n_origins = 0;
    t->term = term;
    t->init = true;
}

static size_t bucket(uint64_t origin, uint64_t id)
{
    uint64_t h = (origin ^ (id * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    return (size_t)(h >> 54) % SRV_REQ_TABLE_BUCKETS;
}

static struct srv_req_seen *find(struct srv_req_table *t, uint64_t origin, uint64_t id)
{
    for (struct srv_req_seen *e = t->hash[bucket(origin, id)]; e; e = e->hnext)
        if (e->origin == origin && e->env_id == id)
            return e;
    return NULL;
}

static void unlink_seen(struct srv_req_table *t, struct srv_req_seen *e)
{
    struct srv_req_seen **pp = &t->hash[bucket(e->origin, e->env_id)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = t->free;
    t->free = e;
    t->n--;
}

static struct srv_req_origin *origin_find(struct srv_req_table *t, uint64_t id, uint64_t epoch)
{
    for (size_t i = 0; i < t->n_origins; i++)
        if (t->origin[i].id == id && t->origin[i].epoch == epoch)
            return &t->origin[i];
    return NULL;
}

/* The record of process (id, epoch) with `floor`: entries it closed go.
 * NULL: no room for another process this term. Another process of a server
 * does not replace the one we knew: random epochs do not say which is the
 * newer, and a late frame of the old one must still find its record. */
static struct srv_req_origin *origin_get(struct srv_req_table *t, uint64_t id, uint64_t epoch,
                                         uint64_t floor)
{
    struct srv_req_origin *o = origin_find(t, id, epoch);
    if (!o) {
        if (t->n_origins == SRV_REQ_TABLE_ORIGINS)
            return NULL;
        o = &t->origin[t->n_origins++];
        *o = (struct srv_req_origin){.id = id, .epoch = epoch};
    }
    if (floor > o->floor)
        o->floor = floor;
    while (o->head && o->head->seq < o->floor) {
        struct srv_req_seen *e = o->head;
        o->head = e->onext;
        if (!o->head)
            o->tail = NULL;
        unlink_seen(t, e);
    }
    return o;
}

enum srv_req_verdict srv_req_table_check(struct srv_req_table *t, bool leading, uint64_t term,
                                         uint64_t from, const struct srv_fwd_req *m,
                                         uint64_t *index)
{
    struct srv_env env;
    const void *cmd;
    size_t clen;
    if (srv_env_decode(m->u.propose.cmd, m->u.propose.cmd_len, &env, &cmd, &clen) != 1 ||
        env.origin != from)
        return SRV_REQ_BAD;
    /* Only in the term the follower knows us to lead: an entry for this
     * attempt can then only exist at that term. */
    if (!leading || term != m->u.propose.term)
        return SRV_REQ_NOT_LEADER;
    if (!t->init || t->term != term)
        table_reset(t, term);
    struct srv_req_origin *o = origin_get(t, from, m->u.propose.epoch, m->u.propose.floor);
    if (o && m->req_id < o->floor)
        return SRV_REQ_STALE; /* closed by its sender: maybe proposed and forgotten */
    struct srv_req_seen *e = o ? find(t, from, env.req_id) : NULL;
    if (e) {
        *index = e->index;
        return SRV_REQ_DUP;
    }
    if (!o || !t->free)
        return SRV_REQ_BUSY;
    return SRV_REQ_PROPOSE;
}

void srv_req_table_add(struct srv_req_table *t, uint64_t from, const struct srv_fwd_req *m,
                       uint64_t index)
{
    struct srv_env env;
    const void *cmd;
    size_t clen;
    struct srv_req_origin *o = origin_find(t, from, m->u.propose.epoch);
    if (!o || !t->free ||
        srv_env_decode(m->u.propose.cmd, m->u.propose.cmd_len, &env, &cmd, &clen) != 1)
        return; /* srv_req_table_check said PROPOSE: cannot happen */
    struct srv_req_seen *e = t->free;
    t->free = e->hnext;
    *e = (struct srv_req_seen){
        .origin = from, .env_id = env.req_id, .seq = m->req_id, .index = index};
    size_t b = bucket(from, env.req_id);
    e->hnext = t->hash[b];
    t->hash[b] = e;
    if (o->tail)
        o->tail->onext = e;
    else
        o->head = e;
    o->tail = e;
    t->n++;
}
