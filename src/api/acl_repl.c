/* api/acl_repl.c: ACL replication between datacenters (Consul's
 * agent/consul/acl_replication.go and leader's startACLReplication), the
 * I/O around the pure diff of acl/repl.c.
 *
 * - primary_datacenter names the datacenter whose ACL objects are
 *   authoritative. In every other (secondary) datacenter the leader copies
 *   the primary's policies and roles, and its global (non-Local) tokens
 *   with acl.enable_token_replication: a blocking query
 *   (GET /v1/internal/acl/replicate?index=N, with acl.tokens.replication)
 *   to a server of the primary over the WAN route, the answer diffed with
 *   the local objects (acl_repl_diff), the difference applied through this
 *   datacenter's own log in batches (STATE_CMD_ACL_REPLICATE, deletes
 *   included) so every server of the datacenter agrees, then the next
 *   blocking query from the primary's index. An error (no route, a refusal,
 *   a malformed answer) is kept for GET /v1/acl/replication and retried
 *   after a backoff (1 s doubling to 10 s). Replication starts from index
 *   0 whenever a server becomes leader.
 * - Writes of policies, roles and global tokens received by a secondary
 *   are forwarded whole to the primary (Consul's RPCs name the primary
 *   datacenter); local tokens are written here. Without token replication
 *   every token request goes to the primary (Consul's LocalTokensEnabled),
 *   and api/acl_authz.c resolves tokens by asking the primary
 *   (api__acl_primary_route), as it does until token replication ran.
 * - cairn's ACL table has one index for tokens, policies and roles: the
 *   three Replicated*Index fields are the primary's ACL index the copy
 *   matches. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/acl_repl.h"
#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/mem.h"

#define REPL_TICK_MS 1000
#define REPL_BACKOFF_MIN_MS 1000
#define REPL_BACKOFF_MAX_MS 10000
#define REPL_WAIT_S 60
#define REPL_BATCH_BYTES (256 * 1024)

/* policies, then roles, then tokens (a link's target first) */
static const uint8_t kind_rank[8] = {0, 3, 1, 2, 4, 5, 6, 7};

struct pend; /* a write on its way (holds the module, cleared at stop) */

struct api_acl_repl {
    struct api *api;
    char *primary;  /* primary_datacenter */
    bool tokens;    /* acl.enable_token_replication */
    bool secondary; /* primary set and not this datacenter */
    uv_timer_t timer;
    bool timer_init;
    /* the loop */
    bool running;          /* this server is the leader and replicates */
    struct srv *to;        /* the route a request is on (NULL: none in flight) */
    uint64_t handle;       /* of that request */
    uint64_t in_flight_ms; /* when it was sent */
    struct pend *pend;     /* a batch on its way through the log */
    uint64_t next_ms;      /* no request before (backoff) */
    uint64_t backoff_ms;
    /* the primary's last answer, kept until applied (doc NULL: none) */
    struct api_acl_repl_answer ans;
    /* status (GET /v1/acl/replication) */
    uint64_t replicated_index;
    int64_t last_success, last_error; /* unix ns, 0 = never */
    char last_error_msg[256];
};

static int64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *dupe(const char *s)
{
    return cn_strdup(s ? s : "");
}

bool api__acl_secondary(const struct api *a)
{
    return a->acl_repl && a->acl_repl->secondary;
}

bool api__acl_repl_tokens(const struct api *a)
{
    return a->acl_repl && a->acl_repl->tokens;
}

int api__acl_primary_route(struct api *a, struct srv **to)
{
    *to = NULL;
    if (!api__acl_secondary(a) || !a->wan.route)
        return CN_ENOTFOUND;
    int rc = a->wan.route(a->wan.arg, a->acl_repl->primary, to);
    return rc ? rc : *to ? 0 : CN_ENOTFOUND;
}

/* Whether a def holds "Local": true. */
static bool def_local(const uint8_t *def, size_t len)
{
    struct json_object *o = cn_json_parse((const char *)def, len, NULL, 0);
    int local = 0;
    if (o)
        cn_json_get_bool(o, "Local", &local);
    json_object_put(o);
    return local != 0;
}

/* ---- the primary: GET /v1/internal/acl/replicate[?tokens=1] -------------------
 * Every policy and role, and with tokens=1 every global token (acl:write
 * then: the answer holds SecretIDs), as stored, at the ACL table's index:
 * {"Index": n, "Objects": [{"Kind", "ID", "Name", "Expires", "Def"}]}. A
 * blocking query on the ACL table. */

struct repl_walk {
    struct cn_jsonw *w;
};

static int emit_cb(void *arg, const struct state_acl *v)
{
    struct repl_walk *rw = arg;
    if (v->kind == STATE_ACL_TOKEN && def_local(v->def, v->def_len))
        return 0;
    struct cn_jsonw *w = rw->w;
    cn_jsonw_obj_open(w);
    cn_jsonw_ku64(w, "Kind", v->kind);
    cn_jsonw_kstr(w, "ID", v->id);
    cn_jsonw_kstr(w, "Name", v->name);
    cn_jsonw_ki64(w, "Expires", v->expires_unix_ns);
    cn_jsonw_key(w, "Def");
    cn_jsonw_strn(w, (const char *)v->def, v->def_len);
    cn_jsonw_obj_close(w);
    return 0;
}

void api__acl_r_replicate(struct api_ctx *c, struct api_read *r)
{
    struct api *a = c->api;
    if (!a->acl)
        return api_read_error(r, 401, "ACL support disabled");
    int tokens = api_flag(c, "tokens");
    if (tokens < 0)
        return api_read_error(r, 400, "Invalid value for tokens");
    if (tokens > 0 && !api_acl_read_require(c, r, ACL_R_ACL, "", ACL_A_WRITE))
        return;
    if (api__acl_secondary(a))
        return api_read_error(r, 400, "Not the primary datacenter");
    struct state *st = srv_state(a->srv);
    struct cn_jsonw w;
    cn_jsonw_init(&w, &r->body, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_ku64(&w, "Index", state_table_index(st, STATE_T_ACL));
    cn_jsonw_key(&w, "Objects");
    cn_jsonw_arr_open(&w);
    struct repl_walk rw = {&w};
    state_acl_foreach(st, STATE_ACL_POLICY, emit_cb, &rw);
    state_acl_foreach(st, STATE_ACL_ROLE, emit_cb, &rw);
    if (tokens > 0)
        state_acl_foreach(st, STATE_ACL_TOKEN, emit_cb, &rw);
    cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    r->index = state_table_index(st, STATE_T_ACL);
    api_read_watch(r, STATE_T_ACL, NULL, false);
}

/* ---- GET /v1/acl/replication --------------------------------------------------- */

static void fmt_time(int64_t ns, char *buf, size_t cap)
{
    if (!ns) {
        snprintf(buf, cap, "0001-01-01T00:00:00Z"); /* Go's zero time */
        return;
    }
    time_t s = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%09ldZ", base, (long)(ns % 1000000000LL));
}

/* The status as JSON (pretty: Consul's ?pretty indentation) into *b: 0 or
 * CN_ENOMEM. */
static int status_json(struct api_acl_repl *m, bool pretty, struct cn_buf *b)
{
    bool enabled = m && m->secondary;
    char ls[48], le[48];
    fmt_time(m ? m->last_success : 0, ls, sizeof(ls));
    fmt_time(m ? m->last_error : 0, le, sizeof(le));
    struct cn_jsonw w;
    cn_jsonw_init(&w, b, pretty);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kbool(&w, "Enabled", enabled);
    cn_jsonw_kbool(&w, "Running", enabled && m->running);
    cn_jsonw_kstr(&w, "SourceDatacenter", enabled ? m->primary : "");
    cn_jsonw_kstr(&w, "ReplicationType", !enabled ? "" : m->tokens ? "tokens" : "policies");
    uint64_t idx = enabled ? m->replicated_index : 0;
    cn_jsonw_ku64(&w, "ReplicatedIndex", idx);
    cn_jsonw_ku64(&w, "ReplicatedRoleIndex", idx);
    cn_jsonw_ku64(&w, "ReplicatedTokenIndex", enabled && m->tokens ? idx : 0);
    cn_jsonw_kstr(&w, "LastSuccess", ls);
    cn_jsonw_kstr(&w, "LastError", le);
    cn_jsonw_kstr(&w, "LastErrorMessage", enabled ? m->last_error_msg : "");
    cn_jsonw_obj_close(&w);
    return w.err ? CN_ENOMEM : 0;
}

/* The questions a follower asks this server when it leads (srv_ask_leader). */
#define ASK_STATUS "acl-replication"
#define ASK_STATUS_PRETTY "acl-replication-pretty"

static int on_ask(void *arg, const char *what, struct cn_buf *out)
{
    struct api *a = arg;
    bool pretty = !strcmp(what, ASK_STATUS_PRETTY);
    if (!pretty && strcmp(what, ASK_STATUS))
        return CN_ENOTFOUND;
    return status_json(a->acl_repl, pretty, out);
}

static void on_leader_status(void *arg, int rc, const void *answer, size_t len)
{
    struct api_ctx *c = arg;
    if (rc == CN_EAGAIN)
        api_error(c, 500, "No cluster leader");
    else if (rc)
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
    else
        api_reply_raw(c, 200, "application/json", answer, len);
}

/* Consul answers from the leader (ACL.ReplicationStatus is forwarded there
 * unless ?stale): replication runs on the leader alone, so a follower's
 * own status would say it is not running. */
void api__acl_h_replication(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->acl) {
        api_error(c, 401, "ACL support disabled");
        return;
    }
    if (a->srv && !srv_is_client(a->srv) && !srv_is_leader(a->srv) && !api_flag(c, "stale")) {
        int rc =
            srv_ask_leader(a->srv, c->pretty ? ASK_STATUS_PRETTY : ASK_STATUS, on_leader_status, c);
        if (rc)
            api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
        return;
    }
    struct cn_buf b = CN_BUF_INIT;
    if (status_json(a->acl_repl, c->pretty, &b))
        api_error(c, 500, "out of memory");
    else
        api_reply_json(c, 200, &b);
    cn_buf_free(&b);
}

/* ---- the secondary's loop ---------------------------------------------------------- */

static void drop_answer(struct api_acl_repl *m)
{
    api_acl_repl_answer_free(&m->ans);
}

static void fail(struct api_acl_repl *m, const char *fmt, const char *arg)
{
    uint64_t now = uv_now(m->api->loop);
    m->last_error = now_unix_ns();
    snprintf(m->last_error_msg, sizeof(m->last_error_msg), fmt, arg ? arg : "");
    m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : REPL_BACKOFF_MIN_MS;
    if (m->backoff_ms > REPL_BACKOFF_MAX_MS)
        m->backoff_ms = REPL_BACKOFF_MAX_MS;
    m->next_ms = now + m->backoff_ms;
    cn_warn("acl", "replication from %s failed: %s (retry in %" PRIu64 " ms)", m->primary,
            m->last_error_msg, m->backoff_ms);
    drop_answer(m);
}

static void step(struct api_acl_repl *m);

static void on_tick(uv_timer_t *t)
{
    step(t->data);
}

static void kick(struct api_acl_repl *m)
{
    if (m->timer_init)
        uv_timer_start(&m->timer, on_tick, 0, REPL_TICK_MS);
}

struct pend {
    struct api_acl_repl *m; /* NULL once the module stopped */
};

static void batch_done(void *arg, int rc, const struct state_result *res)
{
    struct pend *p = arg;
    struct api_acl_repl *m = p->m;
    cn_free(p);
    if (!m)
        return;
    m->pend = NULL;
    if (rc || !res || res->rc || !res->ok) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s",
                 rc               ? cn_strerror(rc)
                 : res && res->rc ? cn_strerror(res->rc)
                                  : "rejected by the state");
        fail(m, "applying a batch: %s", msg);
        return;
    }
    kick(m); /* the next batch, or the next query */
}

struct local_walk {
    struct acl_repl_obj *v;
    size_t n, cap;
    bool tokens;
    bool oom;
};

static int local_cb(void *arg, const struct state_acl *v)
{
    struct local_walk *lw = arg;
    if (lw->n == lw->cap) {
        size_t nc = lw->cap ? lw->cap * 2 : 64;
        struct acl_repl_obj *nv = cn_realloc(lw->v, nc * sizeof(*nv));
        if (!nv) {
            lw->oom = true;
            return 1;
        }
        lw->v = nv;
        lw->cap = nc;
    }
    lw->v[lw->n++] =
        (struct acl_repl_obj){.kind = v->kind,
                              .id = v->id,
                              .name = v->name,
                              .expires_unix_ns = v->expires_unix_ns,
                              .def = v->def,
                              .def_len = v->def_len,
                              .local = v->kind == STATE_ACL_TOKEN && def_local(v->def, v->def_len)};
    return 0;
}

static struct state_acl to_state(const struct acl_repl_obj *o)
{
    return (struct state_acl){.kind = o->kind,
                              .id = (char *)o->id,
                              .name = (char *)o->name,
                              .expires_unix_ns = o->expires_unix_ns,
                              .def = (uint8_t *)o->def,
                              .def_len = o->def_len};
}

/* Apply the next batch of the difference between the kept answer and the
 * local objects; when there is none, the copy matches the answer's index. */
static void apply(struct api_acl_repl *m)
{
    struct api *a = m->api;
    struct state *st = srv_state(a->srv);
    struct local_walk lw = {.tokens = m->tokens};
    state_acl_foreach(st, STATE_ACL_POLICY, local_cb, &lw);
    state_acl_foreach(st, STATE_ACL_ROLE, local_cb, &lw);
    if (m->tokens)
        state_acl_foreach(st, STATE_ACL_TOKEN, local_cb, &lw);
    struct acl_repl_diff d;
    int rc = lw.oom ? CN_ENOMEM : acl_repl_diff(lw.v, lw.n, m->ans.objs, m->ans.n, kind_rank, &d);
    if (rc) {
        cn_free(lw.v);
        fail(m, "diffing: %s", cn_strerror(rc));
        return;
    }
    if (!d.ndel && !d.nset) {
        acl_repl_diff_free(&d);
        cn_free(lw.v);
        m->replicated_index = m->ans.index;
        m->last_success = now_unix_ns();
        m->backoff_ms = 0;
        drop_answer(m);
        kick(m);
        return;
    }
    size_t nd, ns;
    acl_repl_batch(&d, lw.v, m->ans.objs, 0, 0, REPL_BATCH_BYTES, &nd, &ns);
    struct state_acl *dels = cn_calloc(nd ? nd : 1, sizeof(*dels));
    struct state_acl *sets = cn_calloc(ns ? ns : 1, sizeof(*sets));
    struct cn_buf cmd = CN_BUF_INIT;
    rc = dels && sets ? 0 : CN_ENOMEM;
    for (size_t i = 0; !rc && i < nd; i++)
        dels[i] = to_state(&lw.v[d.del[i]]);
    for (size_t i = 0; !rc && i < ns; i++)
        sets[i] = to_state(&m->ans.objs[d.set[i]]);
    if (!rc)
        rc = state_cmd_acl_replicate(&cmd, dels, nd, sets, ns);
    cn_free(dels);
    cn_free(sets);
    acl_repl_diff_free(&d);
    cn_free(lw.v);
    struct pend *p = rc ? NULL : cn_calloc(1, sizeof(*p));
    if (!rc && !p)
        rc = CN_ENOMEM;
    if (!rc) {
        p->m = m;
        m->pend = p;
        cn_debug("acl", "replication: applying %zu deletes and %zu upserts from %s", nd, ns,
                 m->primary);
        rc = srv_propose(a->srv, cmd.p, cmd.len, batch_done, p);
        if (rc) {
            m->pend = NULL;
            cn_free(p);
        }
    }
    cn_buf_free(&cmd);
    if (rc)
        fail(m, "applying a batch: %s", cn_strerror(rc));
}

#define ID_MAX 128

static bool str_clean(struct json_object *o, const char *s)
{
    return strlen(s) == (size_t)json_object_get_string_len(o);
}

int api_acl_repl_parse(const void *body, size_t len, bool tokens, struct api_acl_repl_answer *out)
{
    memset(out, 0, sizeof(*out));
    struct json_object *o = cn_json_parse((const char *)body, len, NULL, 0);
    struct json_object *objs = o ? cn_json_get(o, "Objects") : NULL;
    uint64_t idx = 0;
    if (!o || !json_object_is_type(o, json_type_object) || cn_json_get_u64(o, "Index", &idx) != 1 ||
        !objs || !json_object_is_type(objs, json_type_array)) {
        json_object_put(o);
        return CN_EINVAL;
    }
    size_t n = json_object_array_length(objs);
    struct acl_repl_obj *v = cn_calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        json_object_put(o);
        return CN_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(objs, i);
        uint64_t kind = 0;
        int64_t exp = 0;
        const char *id = NULL, *name = NULL, *def = NULL;
        if (!json_object_is_type(e, json_type_object) || cn_json_get_u64(e, "Kind", &kind) != 1 ||
            kind < STATE_ACL_TOKEN || kind > STATE_ACL_ROLE || cn_json_get_str(e, "ID", &id) != 1 ||
            cn_json_get_str(e, "Name", &name) != 1 || cn_json_get_str(e, "Def", &def) != 1 ||
            (cn_json_get(e, "Expires") && cn_json_get_i64(e, "Expires", &exp) != 1) || !*id ||
            strlen(id) > ID_MAX || !str_clean(cn_json_get(e, "ID"), id) ||
            !str_clean(cn_json_get(e, "Name"), name) || (kind == STATE_ACL_TOKEN && !tokens)) {
            cn_free(v);
            json_object_put(o);
            return CN_EINVAL;
        }
        struct json_object *dj = cn_json_get(e, "Def");
        v[i] = (struct acl_repl_obj){.kind = (uint8_t)kind,
                                     .id = id,
                                     .name = name,
                                     .expires_unix_ns = exp,
                                     .def = (const uint8_t *)def,
                                     .def_len = (size_t)json_object_get_string_len(dj)};
    }
    out->doc = o;
    out->objs = v;
    out->n = n;
    out->index = idx;
    return 0;
}

void api_acl_repl_answer_free(struct api_acl_repl_answer *a)
{
    json_object_put(a->doc);
    cn_free(a->objs);
    memset(a, 0, sizeof(*a));
}

/* The primary's answer into m->ans. */
static int parse_answer(struct api_acl_repl *m, const struct srv_cl_resp *r)
{
    struct api_acl_repl_answer ans;
    int rc = api_acl_repl_parse(r->body, r->body_len, m->tokens, &ans);
    if (rc)
        return rc;
    drop_answer(m);
    m->ans = ans;
    return 0;
}

static void on_answer(void *arg, int rc, const struct srv_cl_resp *r)
{
    struct api_acl_repl *m = arg;
    m->to = NULL;
    struct api *a = m->api;
    if (a->wan.report)
        a->wan.report(a->wan.arg, m->primary, rc);
    if (rc) {
        fail(m, "%s", rc == CN_EAGAIN ? "No path to datacenter" : cn_strerror(rc));
        return;
    }
    if (r->status != 200) {
        char msg[200];
        int n = (int)(r->body_len < 150 ? r->body_len : 150);
        snprintf(msg, sizeof(msg), "%u %.*s", (unsigned)r->status, n, (const char *)r->body);
        fail(m, "the primary answered %s", msg);
        return;
    }
    if (!m->running) /* no longer the leader */
        return;
    int prc = parse_answer(m, r);
    if (prc) {
        fail(m, "malformed answer from the primary: %s", cn_strerror(prc));
        return;
    }
    apply(m);
}

static void query(struct api_acl_repl *m)
{
    struct api *a = m->api;
    struct srv *to = NULL;
    int rc = a->wan.route ? a->wan.route(a->wan.arg, m->primary, &to) : CN_ENOTFOUND;
    if (rc || !to) {
        fail(m, "%s", "No path to datacenter");
        return;
    }
    char target[160];
    snprintf(target, sizeof(target), "/v1/internal/acl/replicate?index=%" PRIu64 "&wait=%ds%s",
             m->replicated_index, REPL_WAIT_S, m->tokens ? "&tokens=1" : "");
    struct srv_cl_req q;
    memset(&q, 0, sizeof(q));
    q.method = "GET";
    q.method_len = 3;
    q.target = target;
    q.target_len = strlen(target);
    const char *tok = api__acl_replication_token(a);
    if (tok)
        q.hdrs[q.nhdrs++] = (struct srv_cl_hdr){"X-Consul-Token", tok, 14, strlen(tok)};
    m->to = to;
    m->in_flight_ms = uv_now(a->loop);
    rc = srv_client_http(to, &q, true, on_answer, m, &m->handle);
    if (rc) {
        m->to = NULL;
        fail(m, "%s", cn_strerror(rc));
    }
}

static void cancel_query(struct api_acl_repl *m)
{
    if (m->to) {
        srv_client_cancel(m->to, m->handle); /* its callback never runs */
        m->to = NULL;
    }
}

static void step(struct api_acl_repl *m)
{
    struct api *a = m->api;
    if (!m->secondary || !a->acl || !a->srv || srv_is_client(a->srv))
        return;
    bool leader = srv_is_leader(a->srv);
    if (!leader) {
        if (m->running)
            cn_info("acl", "stopped ACL replication from %s (not the leader)", m->primary);
        m->running = false;
        cancel_query(m);
        drop_answer(m);
        m->replicated_index = 0;
        return;
    }
    if (!m->running) {
        cn_info("acl", "started ACL replication from %s (%s)", m->primary,
                m->tokens ? "policies, roles and tokens" : "policies and roles");
        m->running = true;
        m->replicated_index = 0;
        m->backoff_ms = 0;
        m->next_ms = 0;
    }
    uint64_t now = uv_now(a->loop);
    if (m->to) {
        /* the answer comes within the wait (and jitter); else it was lost */
        if (now - m->in_flight_ms > (REPL_WAIT_S + 30) * 1000ull) {
            cancel_query(m);
            fail(m, "%s", "no answer from the primary");
        }
        return;
    }
    if (m->pend || now < m->next_ms)
        return;
    if (m->ans.doc)
        apply(m);
    else
        query(m);
}

/* ---- writes made in a secondary go to the primary ---------------------------------- */

static bool prefix(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

/* Whether the token a write names (by AccessorID in the path) is a local
 * one of this datacenter. */
static bool token_is_local(struct api *a, const char *path_rest)
{
    char id[64];
    size_t n = strcspn(path_rest, "/");
    if (n >= sizeof(id))
        return false;
    memcpy(id, path_rest, n);
    id[n] = '\0';
    const struct state_acl *t = state_acl_get(srv_state(a->srv), STATE_ACL_TOKEN, id);
    return t && def_local(t->def, t->def_len);
}

bool api__acl_repl_forward(struct api_ctx *c)
{
    struct api *a = c->api;
    struct http_req *req = c->req;
    if (!a->acl || !api__acl_secondary(a))
        return false;
    const char *p = req->path;
    bool fwd = false;
    if (!strcmp(p, "/v1/internal/acl/resolve")) {
        /* a client agent's token: the primary knows it when this copy does
         * not, and answers its rules */
        fwd = api__acl_remote_mode(a);
    } else if (!a->acl_repl->tokens &&
               (!strcmp(p, "/v1/acl/token") || !strcmp(p, "/v1/acl/tokens") ||
                prefix(p, "/v1/acl/token/"))) {
        /* without token replication this datacenter holds no tokens and
         * makes none: every token request is the primary's (Consul's
         * LocalTokensEnabled) */
        fwd = true;
    } else if (req->method == HTTP_M_GET || req->method == HTTP_M_HEAD) {
        fwd = false;
    } else if (!strcmp(p, "/v1/acl/policy") || prefix(p, "/v1/acl/policy/") ||
               !strcmp(p, "/v1/acl/role") || prefix(p, "/v1/acl/role/") ||
               !strcmp(p, "/v1/acl/bootstrap")) {
        fwd = true;
    } else if (!strcmp(p, "/v1/acl/token")) {
        /* a new token: local when its body says so */
        struct json_object *o = cn_json_parse(req->body ? req->body : "", req->body_len, NULL, 0);
        int local = 0;
        if (o)
            cn_json_get_bool(o, "Local", &local);
        json_object_put(o);
        fwd = !local; /* a malformed body: the primary says why */
    } else if (prefix(p, "/v1/acl/token/") && strcmp(p, "/v1/acl/token/self") != 0) {
        fwd = !token_is_local(a, p + strlen("/v1/acl/token/"));
    }
    if (!fwd)
        return false;
    char dc[API_DC_MAX];
    snprintf(dc, sizeof(dc), "%s", a->acl_repl->primary);
    api__ctx_free(c);
    req->user = NULL;
    api__forward_dc(a, req, dc);
    return true;
}

/* ---- lifecycle --------------------------------------------------------------------- */

int api__acl_repl_new(struct api *a, const struct api_acl_config *cfg)
{
    struct api_acl_repl *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return CN_ENOMEM;
    m->api = a;
    m->primary = dupe(cfg->primary_datacenter);
    m->tokens = cfg->token_replication;
    if (!m->primary) {
        cn_free(m);
        return CN_ENOMEM;
    }
    m->secondary = *m->primary && strcmp(m->primary, a->cfg.datacenter) != 0 &&
                   !(a->srv && srv_is_client(a->srv));
    a->acl_repl = m;
    if (a->srv && !srv_is_client(a->srv))
        srv_set_ask_handler(a->srv, on_ask, a);
    if (a->loop && m->secondary) {
        uv_timer_init(a->loop, &m->timer);
        m->timer.data = m;
        m->timer_init = true;
        uv_timer_start(&m->timer, on_tick, 100, REPL_TICK_MS);
        uv_unref((uv_handle_t *)&m->timer);
    }
    return 0;
}

static void free_repl(struct api_acl_repl *m)
{
    drop_answer(m);
    cn_free(m->primary);
    cn_free(m);
}

static void on_closed(uv_handle_t *h)
{
    free_repl(h->data);
}

void api__acl_repl_stop(struct api *a)
{
    struct api_acl_repl *m = a->acl_repl;
    if (!m)
        return;
    a->acl_repl = NULL;
    if (a->srv && !srv_is_client(a->srv))
        srv_set_ask_handler(a->srv, NULL, NULL);
    cancel_query(m);
    if (m->pend)
        m->pend->m = NULL;
    if (m->timer_init)
        uv_close((uv_handle_t *)&m->timer, on_closed);
    else
        free_repl(m);
}
