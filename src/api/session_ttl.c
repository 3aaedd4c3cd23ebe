/* api/session_ttl.c: the leader's session TTL clocks, and when this server
 * saw each session invalidation applied (for lock-delay).
 *
 * TTL. Only the leader keeps clocks: one entry per TTL session in a hash by
 * ID and in one min-heap of deadlines, driven by one uv timer that sleeps
 * until the earliest deadline (or at most POLL_MS, to notice leadership
 * changes and new sessions). A renewal on the leader moves the session's
 * deadline in memory; nothing is written. A renewal through a follower is
 * forwarded to the leader as a request (server/renew.c, SRV_FWD_RENEW),
 * which calls this file's handler: no log entry either. (Older versions
 * wrote a SESSION_RENEW entry, state_session.renew_index; such entries in a
 * log still restart the clock.) When the
 * sessions table (or the renew index) moved, the next wake-up rescans the
 * table: O(sessions), at most once per POLL_MS, and never while idle. A
 * server that becomes leader starts every clock from then (Consul's
 * initializeSessionTimers), so a leader change never expires everything at
 * once. An expired session is destroyed through the log (SESSION_DESTROY),
 * so every server releases the same keys at the same index.
 *
 * A session expires between TTL and TTL + POLL_MS after the last renewal the
 * leader saw (Consul allows itself up to 2 x TTL).
 *
 * Lock-delay. The state records, per key, the log index of the invalidation
 * and the delay; the wall-clock start is when this server saw that index
 * applied: a permanent watch on the sessions table notes (last applied
 * index, now) after every batch that changed it, in a ring. Like Consul's
 * in-memory lock-delay, a restarted server forgets delays it did not see. */
#include <string.h>

#include "api/api_int.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define POLL_MS 1000
#define RING 4096

struct ttl_ent {
    char *id;
    uint64_t deadline; /* monotonic ms */
    uint64_t create_index;
    uint64_t ttl_ms;
    uint64_t gen;
    size_t hpos;
    struct ttl_ent *next; /* hash chain */
};

struct applied {
    uint64_t index, ms;
};

struct api_sess {
    struct api *api;
    uv_timer_t timer;
    bool leader;
    uint64_t seen_tidx, seen_renew, gen;
    struct ttl_ent **heap;
    size_t n, cap;
    struct ttl_ent **buckets;
    size_t nb;
    struct srv_watch watch;
    struct applied ring[RING];
    size_t rhead, rcount;
    uint64_t start_index;
    uint64_t expired; /* proposals made, for logs */
};

/* ---- hash ------------------------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct ttl_ent **slot(struct api_sess *m, const char *id)
{
    struct ttl_ent **p = &m->buckets[hash(id) & (m->nb - 1)];
    while (*p && strcmp((*p)->id, id) != 0)
        p = &(*p)->next;
    return p;
}

static int grow(struct api_sess *m)
{
    if (m->n + 1 <= m->cap && m->n + 1 <= m->nb)
        return 0;
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct ttl_ent **h = cn_realloc(m->heap, cap * sizeof(*h));
    if (!h)
        return CN_ENOMEM;
    m->heap = h;
    m->cap = cap;
    struct ttl_ent **b = cn_calloc(cap, sizeof(*b));
    if (!b)
        return CN_ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        for (struct ttl_ent *e = m->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            struct ttl_ent **p = &b[hash(e->id) & (cap - 1)];
            e->next = *p;
            *p = e;
        }
    }
    cn_free(m->buckets);
    m->buckets = b;
    m->nb = cap;
    return 0;
}

/* ---- heap ------------------------------------------------------------------- */

static void hset(struct api_sess *m, size_t i, struct ttl_ent *e)
{
    m->heap[i] = e;
    e->hpos = i;
}

static void sift_up(struct api_sess *m, size_t i)
{
    struct ttl_ent *e = m->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (m->heap[p]->deadline <= e->deadline)
            break;
        hset(m, i, m->heap[p]);
        i = p;
    }
    hset(m, i, e);
}

static void sift_down(struct api_sess *m, size_t i)
{
    struct ttl_ent *e = m->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m->n)
            break;
        if (c + 1 < m->n && m->heap[c + 1]->deadline < m->heap[c]->deadline)
            c++;
        if (m->heap[c]->deadline >= e->deadline)
            break;
        hset(m, i, m->heap[c]);
        i = c;
    }
    hset(m, i, e);
}

static void heap_fix(struct api_sess *m, size_t i)
{
    struct ttl_ent *e = m->heap[i];
    sift_up(m, i);
    sift_down(m, e->hpos);
}

static void ent_remove(struct api_sess *m, struct ttl_ent *e)
{
    struct ttl_ent **p = slot(m, e->id);
    *p = e->next;
    size_t i = e->hpos;
    m->n--;
    if (i != m->n) {
        hset(m, i, m->heap[m->n]);
        heap_fix(m, i);
    }
    cn_free(e->id);
    cn_free(e);
}

static void clear_all(struct api_sess *m)
{
    while (m->n)
        ent_remove(m, m->heap[m->n - 1]);
}

/* Start (or restart) v's clock at now. */
static void arm(struct api_sess *m, const struct state_session *v, uint64_t now)
{
    struct ttl_ent **p = slot(m, v->id), *e = *p;
    uint64_t ttl_ms = (uint64_t)v->ttl_ns / 1000000u;
    if (e && e->create_index != v->create_index) {
        ent_remove(m, e); /* a new session under a reused ID */
        e = NULL;
    }
    if (!e) {
        if (grow(m) || !(e = cn_calloc(1, sizeof(*e))) || !(e->id = cn_strdup(v->id))) {
            if (e)
                cn_free(e);
            cn_warn("session", "out of memory arming session %s: it will not expire", v->id);
            return;
        }
        e->create_index = v->create_index;
        p = slot(m, v->id);
        e->next = *p;
        *p = e;
        e->deadline = now + ttl_ms;
        hset(m, m->n++, e);
    }
    e->ttl_ms = ttl_ms;
    e->deadline = now + ttl_ms;
    e->gen = m->gen;
    heap_fix(m, e->hpos);
}

/* ---- scan and expiry -------------------------------------------------------- */

struct scan {
    struct api_sess *m;
    uint64_t now;
    bool reset;
};

static int scan_one(void *arg, const struct state_session *v)
{
    struct scan *sc = arg;
    struct api_sess *m = sc->m;
    if (v->ttl_ns <= 0)
        return 0;
    struct ttl_ent *e = *slot(m, v->id);
    if (sc->reset || !e || e->create_index != v->create_index || v->renew_index > m->seen_renew)
        arm(m, v, sc->now);
    else
        e->gen = m->gen;
    return 0;
}

static void rescan(struct api_sess *m, uint64_t now, bool reset)
{
    const struct state *st = srv_state(m->api->srv);
    m->gen++;
    struct scan sc = {m, now, reset};
    state_sessions_foreach(st, scan_one, &sc);
    for (size_t i = m->n; i-- > 0;)
        if (i < m->n && m->heap[i]->gen != m->gen)
            ent_remove(m, m->heap[i]); /* the session is gone */
    m->seen_tidx = state_table_index(st, STATE_T_SESSIONS);
    m->seen_renew = state_session_renew_index(st);
}

static void destroyed(void *arg, int rc, const struct state_result *res)
{
    (void)arg;
    (void)res;
    if (rc)
        cn_debug("session", "TTL destroy not applied: %s", cn_strerror(rc));
}

static void expire(struct api_sess *m, uint64_t now)
{
    const struct state *st = srv_state(m->api->srv);
    while (m->n && m->heap[0]->deadline <= now) {
        struct ttl_ent *e = m->heap[0];
        const struct state_session *v = state_session_get(st, e->id);
        if (v && v->create_index == e->create_index) {
            struct cn_buf cmd = CN_BUF_INIT;
            if (state_cmd_session_destroy(&cmd, e->id) == 0 &&
                srv_propose(m->api->srv, cmd.p, cmd.len, destroyed, NULL) == 0)
                m->expired++;
            cn_buf_free(&cmd);
        }
        ent_remove(m, e);
    }
}

static void tick(struct api_sess *m)
{
    uint64_t now = cn_now_ms();
    if (!srv_is_leader(m->api->srv)) {
        if (m->leader)
            clear_all(m);
        m->leader = false;
        return;
    }
    const struct state *st = srv_state(m->api->srv);
    if (!m->leader) {
        m->leader = true;
        rescan(m, now, true);
    } else if (state_table_index(st, STATE_T_SESSIONS) != m->seen_tidx ||
               state_session_renew_index(st) != m->seen_renew) {
        rescan(m, now, false);
    }
    expire(m, now);
}

static void on_timer(uv_timer_t *t)
{
    struct api_sess *m = t->data;
    tick(m);
    uint64_t wait = POLL_MS;
    if (m->leader && m->n) {
        uint64_t now = cn_now_ms(), d = m->heap[0]->deadline;
        wait = d <= now ? 1 : d - now < wait ? d - now : wait;
    }
    uv_timer_start(&m->timer, on_timer, wait, 0);
}

/* ---- applied-time ring ------------------------------------------------------ */

static void on_sessions_changed(struct srv_watch *w, uint64_t index)
{
    struct api_sess *m = w->data;
    (void)index; /* the first change of the batch; the batch applied up to: */
    uint64_t last = state_last_index(srv_state(m->api->srv));
    size_t i = (m->rhead + m->rcount) % RING;
    if (m->rcount == RING)
        m->rhead = (m->rhead + 1) % RING;
    else
        m->rcount++;
    m->ring[i].index = last;
    m->ring[i].ms = cn_now_ms();
    if (srv_watch_arm(m->api->srv, &m->watch, STATE_T_SESSIONS, NULL, false, on_sessions_changed,
                      m))
        cn_warn("session", "out of memory: lock-delays may start late");
}

uint64_t api__sess_lock_delay_ms(struct api *a, const char *key)
{
    struct api_sess *m = a->sess;
    uint64_t idx;
    int64_t delay_ns;
    if (!m || !state_kv_lock_delay(srv_state(a->srv), key, &idx, &delay_ns) ||
        idx <= m->start_index)
        return 0;
    uint64_t now = cn_now_ms(), at = now;
    for (size_t k = 0; k < m->rcount; k++) { /* oldest first; indexes increase */
        const struct applied *e = &m->ring[(m->rhead + k) % RING];
        if (e->index >= idx) {
            at = e->ms;
            break;
        }
    }
    uint64_t until = at + (uint64_t)delay_ns / 1000000u;
    return until > now ? until - now : 0;
}

/* ---- public to api/ --------------------------------------------------------- */

void api__sess_renewed(struct api *a, const struct state_session *v)
{
    struct api_sess *m = a->sess;
    if (!m || v->ttl_ns <= 0)
        return;
    if (!m->leader)
        tick(m); /* just elected: start every clock first */
    if (m->leader)
        arm(m, v, cn_now_ms());
}

/* srv_renew_fn: the leader's side of a renewal, made here or forwarded. */
static int on_renew(void *arg, const char *id)
{
    struct api *a = arg;
    const struct state_session *v = state_session_get(srv_state(a->srv), id);
    if (!v)
        return CN_ENOTFOUND;
    api__sess_renewed(a, v);
    return 0;
}

int api__sess_new(struct api *a)
{
    struct api_sess *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return CN_ENOMEM;
    m->api = a;
    m->nb = m->cap = 64;
    m->buckets = cn_calloc(m->nb, sizeof(*m->buckets));
    m->heap = cn_calloc(m->cap, sizeof(*m->heap));
    if (!m->buckets || !m->heap) {
        cn_free(m->buckets);
        cn_free(m->heap);
        cn_free(m);
        return CN_ENOMEM;
    }
    if (a->srv) {
        m->start_index = state_last_index(srv_state(a->srv));
        if (srv_watch_arm(a->srv, &m->watch, STATE_T_SESSIONS, NULL, false, on_sessions_changed,
                          m)) {
            cn_free(m->buckets);
            cn_free(m->heap);
            cn_free(m);
            return CN_ENOMEM;
        }
        srv_set_renew_handler(a->srv, on_renew, a);
    }
    uv_timer_init(a->loop, &m->timer);
    m->timer.data = m;
    uv_timer_start(&m->timer, on_timer, POLL_MS, 0);
    uv_unref((uv_handle_t *)&m->timer);
    a->sess = m;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct api_sess *m = h->data;
    clear_all(m);
    cn_free(m->heap);
    cn_free(m->buckets);
    cn_free(m);
}

void api__sess_free(struct api *a)
{
    struct api_sess *m = a->sess;
    if (!m)
        return;
    if (a->srv && m->watch.bucket) /* srv_close unlinks every watch */
        srv_watch_disarm(a->srv, &m->watch);
    if (a->srv) /* m is freed before the server closes (api_stop) */
        srv_set_renew_handler(a->srv, NULL, NULL);
    a->sess = NULL;
    uv_close((uv_handle_t *)&m->timer, on_closed);
}
