/* agent/local.c: the agent's local services and checks, written through to
 * the catalog (see local.h), and the TTL check timers.
 *
 * Two sorted arrays of pointers (services, checks) keyed by ID give O(log n)
 * lookups and the sorted iteration /v1/agent/services and /v1/agent/checks
 * need. A check owns its uv_timer (TTL checks only); a removed check is freed
 * in the timer's close callback. The struct itself goes once nothing is in
 * flight and every handle has closed. */
#include "agent/local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

/* agent/agent.go defaultServiceMaintReason / defaultNodeMaintReason */
#define DEFAULT_SERVICE_MAINT_REASON                                                               \
    "Maintenance mode is enabled for this service, but no reason was provided. This is a "         \
    "default message."
#define DEFAULT_NODE_MAINT_REASON                                                                  \
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default "    \
    "message."
/* agent/checks/check.go CheckTTL getExpiredOutput */
#define TTL_EXPIRED "TTL expired"
#define TTL_EXPIRED_LAST TTL_EXPIRED " (last output before timeout follows): "

struct lchk {
    struct state_check c; /* owned strings */
    struct agent_local *l;
    uv_timer_t timer; /* TTL checks; initialised lazily */
    bool timer_init;
};

struct agent_local {
    uv_loop_t *loop;
    struct srv *srv;
    char *node, *node_id, *address, *dc;
    int server_port;
    struct state_pair tagged[4]; /* lan, lan_ipv4, wan, wan_ipv4 -> address */
    struct state_pair meta[1];   /* consul-network-segment -> "" */
    struct state_service **svcs; /* sorted by id, owned */
    size_t nsvcs, capsvcs;
    struct lchk **chks; /* sorted by check_id, owned */
    size_t nchks, capchks;
    size_t pending; /* proposals in flight */
    size_t handles; /* timer handles not yet closed */
    bool closing;
};

/* ---- sorted arrays --------------------------------------------------------------- */

/* Index of id, or -(insertion point)-1. */
static long svc_find(const struct agent_local *l, const char *id)
{
    size_t lo = 0, hi = l->nsvcs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(l->svcs[mid]->id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

static long chk_find(const struct agent_local *l, const char *id)
{
    size_t lo = 0, hi = l->nchks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(l->chks[mid]->c.check_id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

static int arr_insert(void ***arr, size_t *n, size_t *cap, size_t at, void *item)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void **na = cn_realloc(*arr, ncap * sizeof(*na));
        if (!na)
            return CN_ENOMEM;
        *arr = na;
        *cap = ncap;
    }
    memmove(*arr + at + 1, *arr + at, (*n - at) * sizeof(**arr));
    (*arr)[at] = item;
    (*n)++;
    return 0;
}

static void arr_remove(void **arr, size_t *n, size_t at)
{
    memmove(arr + at, arr + at + 1, (*n - at - 1) * sizeof(*arr));
    (*n)--;
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void maybe_release(struct agent_local *l)
{
    if (!l->closing || l->pending || l->handles)
        return;
    cn_free(l->node);
    cn_free(l->node_id);
    cn_free(l->address);
    cn_free(l->dc);
    cn_free(l->svcs);
    cn_free(l->chks);
    cn_free(l);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct lchk *ch = h->data;
    struct agent_local *l = ch->l;
    state_check_clear(&ch->c);
    cn_free(ch);
    l->handles--;
    maybe_release(l);
}

/* Free a check that is no longer in the array. */
static void chk_destroy(struct lchk *ch)
{
    if (ch->timer_init) {
        uv_timer_stop(&ch->timer);
        uv_close((uv_handle_t *)&ch->timer, on_timer_closed);
        return; /* freed in the close callback */
    }
    state_check_clear(&ch->c);
    cn_free(ch);
}

struct agent_local *agent_local_new(uv_loop_t *loop, struct srv *srv, const char *node,
                                    const char *node_id, const char *address, const char *dc)
{
    struct agent_local *l = cn_calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->loop = loop;
    l->srv = srv;
    l->node = cn_strdup(node ? node : "");
    l->node_id = cn_strdup(node_id ? node_id : "");
    l->address = cn_strdup(address ? address : "127.0.0.1");
    l->dc = cn_strdup(dc ? dc : "dc1");
    if (!l->node || !l->node_id || !l->address || !l->dc) {
        l->closing = true;
        maybe_release(l);
        return NULL;
    }
    /* What a Consul agent registers for its node (agent/local/state.go
     * syncNodeInfo): tagged lan/wan addresses and the segment meta key. */
    static const char *const tnames[4] = {"lan", "lan_ipv4", "wan", "wan_ipv4"};
    for (int i = 0; i < 4; i++) {
        l->tagged[i].k = (char *)tnames[i];
        l->tagged[i].v = l->address;
    }
    l->meta[0].k = (char *)"consul-network-segment";
    l->meta[0].v = (char *)"";
    return l;
}

void agent_local_set_server_port(struct agent_local *l, int port)
{
    l->server_port = port;
}

void agent_local_free(struct agent_local *l)
{
    if (!l)
        return;
    l->closing = true;
    for (size_t i = 0; i < l->nsvcs; i++) {
        state_service_clear(l->svcs[i]);
        cn_free(l->svcs[i]);
    }
    l->nsvcs = 0;
    size_t n = l->nchks;
    l->nchks = 0;
    for (size_t i = 0; i < n; i++) {
        if (l->chks[i]->timer_init)
            l->handles++;
        chk_destroy(l->chks[i]);
    }
    maybe_release(l);
}

const char *agent_local_node(const struct agent_local *l)
{
    return l->node;
}

/* ---- reads ----------------------------------------------------------------------------- */

const struct state_service *agent_local_service(const struct agent_local *l, const char *id)
{
    long i = svc_find(l, id);
    return i >= 0 ? l->svcs[i] : NULL;
}

const struct state_check *agent_local_check(const struct agent_local *l, const char *id)
{
    long i = chk_find(l, id);
    return i >= 0 ? &l->chks[i]->c : NULL;
}

void agent_local_services_foreach(const struct agent_local *l, state_service_cb cb, void *arg)
{
    for (size_t i = 0; i < l->nsvcs; i++)
        if (cb(arg, l->svcs[i]))
            return;
}

void agent_local_checks_foreach(const struct agent_local *l, state_check_cb cb, void *arg)
{
    for (size_t i = 0; i < l->nchks; i++)
        if (cb(arg, &l->chks[i]->c))
            return;
}

size_t agent_local_service_count(const struct agent_local *l)
{
    return l->nsvcs;
}

size_t agent_local_check_count(const struct agent_local *l)
{
    return l->nchks;
}

/* ---- TTL timers ---------------------------------------------------------------------------- */

static void propose_internal_status(struct agent_local *l, const char *id, const char *status,
                                    const char *output);

static void on_ttl_expired(uv_timer_t *t)
{
    struct lchk *ch = t->data;
    struct agent_local *l = ch->l;
    if (l->closing)
        return;
    /* Keep what the service last said, so an operator can tell "stopped
     * reporting" from "reported failure" (Consul's CheckTTL does the same). */
    const char *last = ch->c.output ? ch->c.output : "";
    struct cn_buf out = CN_BUF_INIT;
    if (!*last || !strncmp(last, TTL_EXPIRED, strlen(TTL_EXPIRED)))
        cn_buf_puts(&out, *last ? last : TTL_EXPIRED);
    else
        cn_buf_printf(&out, TTL_EXPIRED_LAST "%s", last);
    if (cn_buf_cstr(&out)) {
        cn_buf_free(&out);
        cn_warn("agent", "check %s: TTL expired, out of memory recording it", ch->c.check_id);
        return;
    }
    cn_info("agent", "Check \"%s\" missed TTL, is now critical", ch->c.check_id);
    if (strcmp(ch->c.status, "critical") != 0 || strcmp(ch->c.output, out.p) != 0)
        propose_internal_status(l, ch->c.check_id, "critical", out.p);
    cn_buf_free(&out);
}

/* (Re)arm or stop the TTL timer to match ch->c.ttl_ns. */
static void ttl_rearm(struct agent_local *l, struct lchk *ch)
{
    if (ch->c.ttl_ns <= 0) {
        if (ch->timer_init)
            uv_timer_stop(&ch->timer);
        return;
    }
    if (!ch->timer_init) {
        uv_timer_init(l->loop, &ch->timer);
        ch->timer.data = ch;
        ch->timer_init = true;
    }
    uint64_t ms = (uint64_t)(ch->c.ttl_ns / 1000000);
    uv_timer_start(&ch->timer, on_ttl_expired, ms ? ms : 1, 0);
}

/* ---- applying to the local maps --------------------------------------------------------------- */

/* Insert or replace a check; takes the strings of *c (zeroed). */
static int local_put_check(struct agent_local *l, struct state_check *c)
{
    long i = chk_find(l, c->check_id);
    struct lchk *ch;
    if (i >= 0) {
        ch = l->chks[i];
        state_check_clear(&ch->c);
    } else {
        ch = cn_calloc(1, sizeof(*ch));
        if (!ch)
            return CN_ENOMEM;
        ch->l = l;
        if (arr_insert((void ***)&l->chks, &l->nchks, &l->capchks, (size_t)(-i - 1), ch)) {
            cn_free(ch);
            return CN_ENOMEM;
        }
    }
    ch->c = *c;
    memset(c, 0, sizeof(*c));
    ttl_rearm(l, ch);
    return 0;
}

static void local_drop_check(struct agent_local *l, const char *id)
{
    long i = chk_find(l, id);
    if (i < 0)
        return;
    struct lchk *ch = l->chks[i];
    arr_remove((void **)l->chks, &l->nchks, (size_t)i);
    if (ch->timer_init)
        l->handles++;
    chk_destroy(ch);
}

static int local_put_service(struct agent_local *l, struct state_service *s)
{
    long i = svc_find(l, s->id);
    struct state_service *dst;
    if (i >= 0) {
        dst = l->svcs[i];
        state_service_clear(dst);
    } else {
        dst = cn_calloc(1, sizeof(*dst));
        if (!dst)
            return CN_ENOMEM;
        if (arr_insert((void ***)&l->svcs, &l->nsvcs, &l->capsvcs, (size_t)(-i - 1), dst)) {
            cn_free(dst);
            return CN_ENOMEM;
        }
    }
    *dst = *s;
    memset(s, 0, sizeof(*s));
    return 0;
}

static void local_drop_service(struct agent_local *l, const char *id)
{
    long i = svc_find(l, id);
    if (i < 0)
        return;
    struct state_service *s = l->svcs[i];
    arr_remove((void **)l->svcs, &l->nsvcs, (size_t)i);
    /* The catalog removed the service's checks with it. */
    for (size_t k = 0; k < l->nchks;) {
        if (!strcmp(l->chks[k]->c.service_id, s->id))
            local_drop_check(l, l->chks[k]->c.check_id);
        else
            k++;
    }
    state_service_clear(s);
    cn_free(s);
}

/* ---- proposals ------------------------------------------------------------------------------------ */

enum op_kind {
    OP_ADD_SVC,
    OP_RM_SVC,
    OP_ADD_CHK,
    OP_RM_CHK,
    OP_STATUS,
    OP_NODE, /* this node's own registration: nothing local to apply */
};

struct op {
    struct agent_local *l;
    enum op_kind kind;
    agent_local_done_cb cb;
    void *arg;
    struct api_svc_def def; /* OP_ADD_SVC */
    struct state_check chk; /* OP_ADD_CHK */
    char *id;               /* OP_RM_SVC, OP_RM_CHK, OP_STATUS */
    char *status, *output;  /* OP_STATUS */
    char **stale;           /* OP_ADD_SVC with replace: check IDs still to remove */
    size_t nstale, next;
};

static void op_free(struct op *op)
{
    api_svc_def_free(&op->def);
    state_check_clear(&op->chk);
    cn_free(op->id);
    cn_free(op->status);
    cn_free(op->output);
    for (size_t i = 0; i < op->nstale; i++)
        cn_free(op->stale[i]);
    cn_free(op->stale);
    cn_free(op);
}

/* A TTL expiry whose "critical" write failed (no leader, the check briefly
 * missing from the catalog...) must not leave the check passing for good:
 * the local state only changes once a write is applied, so fire the expiry
 * again soon; it re-proposes while the local status still differs. */
#define TTL_RETRY_MS 1000

static void retry_expiry_later(struct agent_local *l, const char *check_id)
{
    long i = check_id ? chk_find(l, check_id) : -1;
    if (l->closing || i < 0)
        return;
    struct lchk *ch = l->chks[i];
    if (ch->timer_init && ch->c.ttl_ns > 0)
        uv_timer_start(&ch->timer, on_ttl_expired, TTL_RETRY_MS, 0);
}

static void finish(struct op *op, int rc, const char *msg)
{
    struct agent_local *l = op->l;
    if (op->cb) {
        op->cb(op->arg, rc, msg ? msg : (rc ? cn_strerror(rc) : ""));
    } else if (rc) {
        cn_warn("agent", "local state sync failed: %s", msg ? msg : cn_strerror(rc));
        if (op->kind == OP_STATUS)
            retry_expiry_later(l, op->id);
    }
    op_free(op);
    maybe_release(l);
}

/* Callback style for immediate answers (no op allocated). */
static void answer(agent_local_done_cb cb, void *arg, int rc, const char *msg)
{
    if (cb)
        cb(arg, rc, msg ? msg : (rc ? cn_strerror(rc) : ""));
}

static void on_applied(void *arg, int rc, const struct state_result *res);

/* Propose cmd for op (cmd freed here). On a synchronous failure the op is
 * finished with that error. */
static void propose(struct op *op, struct cn_buf *cmd, int enc_rc)
{
    struct agent_local *l = op->l;
    int rc = enc_rc;
    if (!rc)
        rc = srv_propose(l->srv, cmd->p, cmd->len, on_applied, op);
    cn_buf_free(cmd);
    if (rc) {
        char msg[128];
        snprintf(msg, sizeof(msg), "rpc error: %s", cn_strerror(rc));
        finish(op, rc == CN_EINVAL ? CN_EINVAL : rc, msg);
        return;
    }
    l->pending++;
}

static void fill_node(struct agent_local *l, struct state_node *n)
{
    memset(n, 0, sizeof(*n));
    n->name = l->node;
    n->id = l->node_id;
    n->address = l->address;
    n->tagged_addresses.n = 4;
    n->tagged_addresses.items = l->tagged;
    n->meta.n = 1;
    n->meta.items = l->meta;
}

static void propose_dereg(struct op *op, const char *service_id, const char *check_id)
{
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_deregister(&cmd, op->l->node, service_id, check_id);
    propose(op, &cmd, rc);
}

static void apply_add_svc(struct op *op)
{
    struct agent_local *l = op->l;
    for (size_t i = 0; i < op->def.nchecks; i++)
        if (local_put_check(l, &op->def.checks[i]))
            cn_warn("agent", "out of memory tracking a check locally");
    if (local_put_service(l, &op->def.svc))
        cn_warn("agent", "out of memory tracking a service locally");
}

static void on_applied(void *arg, int rc, const struct state_result *res)
{
    struct op *op = arg;
    struct agent_local *l = op->l;
    l->pending--;
    if (l->closing) {
        finish(op, CN_ESHUTDOWN, "agent is shutting down");
        return;
    }
    /* Removing something the catalog no longer has is still a removal. */
    bool removal = op->kind == OP_RM_SVC || op->kind == OP_RM_CHK ||
                   (op->kind == OP_ADD_SVC && op->next > 0);
    if (rc == CN_ENOTFOUND && removal)
        rc = 0;
    if (rc) {
        char msg[256];
        if (res && res->nerrors)
            snprintf(msg, sizeof(msg), "%s", res->errors[0].what);
        else
            snprintf(msg, sizeof(msg), "rpc error: %s", cn_strerror(rc));
        finish(op, rc == CN_EINVAL ? CN_EINVAL : rc == CN_ENOTFOUND ? CN_ENOTFOUND : CN_EIO, msg);
        return;
    }
    switch (op->kind) {
    case OP_ADD_SVC:
        if (op->next == 0)
            apply_add_svc(op);
        else
            local_drop_check(l, op->stale[op->next - 1]);
        if (op->next < op->nstale) {
            /* ?replace-existing-checks: drop the checks the new definition
             * no longer lists, one command each, in order. */
            op->next++;
            propose_dereg(op, NULL, op->stale[op->next - 1]);
            return;
        }
        break;
    case OP_RM_SVC:
        local_drop_service(l, op->id);
        break;
    case OP_ADD_CHK:
        if (local_put_check(l, &op->chk))
            cn_warn("agent", "out of memory tracking a check locally");
        break;
    case OP_RM_CHK:
        local_drop_check(l, op->id);
        break;
    case OP_STATUS: {
        long i = chk_find(l, op->id);
        if (i >= 0) {
            struct state_check *c = &l->chks[i]->c;
            cn_free(c->status);
            cn_free(c->output);
            c->status = op->status;
            c->output = op->output;
            op->status = op->output = NULL;
        }
        break;
    }
    case OP_NODE:
        break;
    }
    finish(op, 0, NULL);
}

static struct op *op_new(struct agent_local *l, enum op_kind kind, agent_local_done_cb cb,
                         void *arg)
{
    struct op *op = cn_calloc(1, sizeof(*op));
    if (!op) {
        answer(cb, arg, CN_ENOMEM, "out of memory");
        return NULL;
    }
    op->l = l;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    return op;
}

static bool closing(struct agent_local *l, agent_local_done_cb cb, void *arg)
{
    if (!l->closing)
        return false;
    answer(cb, arg, CN_ESHUTDOWN, "agent is shutting down");
    return true;
}

static int set_owned(char **dst, const char *v)
{
    char *n = cn_strdup(v ? v : "");
    if (!n)
        return CN_ENOMEM;
    cn_free(*dst);
    *dst = n;
    return 0;
}

/* A check being (re)registered keeps the status and output it already has
 * (Consul snapshots check state across a re-registration, so re-registering
 * on every application start does not flap the service). */
static int carry_state(struct agent_local *l, struct state_check *c)
{
    const struct state_check *old = agent_local_check(l, c->check_id);
    if (!old)
        return 0;
    if (set_owned(&c->status, old->status) || set_owned(&c->output, old->output))
        return CN_ENOMEM;
    return 0;
}

/* ---- mutations ------------------------------------------------------------------------------------- */

/* Finishes op with Consul's error when c is a script check, which this agent
 * never runs (Consul's default: enable_script_checks = false); true if it did. */
static bool reject_script(struct op *op, const struct state_check *c)
{
    if (strcmp(c->type, STATE_CHECK_SCRIPT) != 0)
        return false;
    finish(op, CN_EINVAL,
           "Scripts are disabled on this agent; to enable, configure "
           "'enable_script_checks' or 'enable_local_script_checks' to true");
    return true;
}

/* Deregisters the service (OP_RM_SVC) or check (OP_RM_CHK) with this id. */
static void propose_remove(struct agent_local *l, enum op_kind kind, const char *id,
                           agent_local_done_cb cb, void *arg)
{
    struct op *op = op_new(l, kind, cb, arg);
    if (!op)
        return;
    if (!(op->id = cn_strdup(id))) {
        finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    if (kind == OP_RM_SVC)
        propose_dereg(op, id, NULL);
    else
        propose_dereg(op, NULL, id);
}

static void propose_register(struct op *op, struct state_service *svc, struct state_check *checks,
                             size_t nchecks)
{
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    fill_node(op->l, &reg.node);
    reg.skip_node_update = true;
    reg.service = svc;
    reg.checks = checks;
    reg.nchecks = nchecks;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_register(&cmd, &reg);
    propose(op, &cmd, rc);
}

void agent_local_add_service(struct agent_local *l, struct api_svc_def *def, bool replace_checks,
                             agent_local_done_cb cb, void *arg)
{
    if (closing(l, cb, arg)) {
        api_svc_def_free(def);
        return;
    }
    struct op *op = op_new(l, OP_ADD_SVC, cb, arg);
    if (!op) {
        api_svc_def_free(def);
        return;
    }
    op->def = *def;
    memset(def, 0, sizeof(*def));
    struct api_svc_def *d = &op->def;
    for (size_t i = 0; i < d->nchecks; i++)
        if (reject_script(op, &d->checks[i]))
            return;
    if (set_owned(&d->svc.node, l->node))
        goto oom;
    for (size_t i = 0; i < d->nchecks; i++)
        if (set_owned(&d->checks[i].node, l->node) || carry_state(l, &d->checks[i]))
            goto oom;
    if (replace_checks) {
        for (size_t i = 0; i < l->nchks; i++) {
            const struct state_check *c = &l->chks[i]->c;
            if (strcmp(c->service_id, d->svc.id) != 0)
                continue;
            /* The maintenance check is not part of any definition. */
            if (!strncmp(c->check_id, AGENT_SERVICE_MAINT_PREFIX,
                         strlen(AGENT_SERVICE_MAINT_PREFIX)))
                continue;
            bool kept = false;
            for (size_t k = 0; k < d->nchecks && !kept; k++)
                kept = !strcmp(d->checks[k].check_id, c->check_id);
            if (kept)
                continue;
            char **ns = cn_realloc(op->stale, (op->nstale + 1) * sizeof(*ns));
            if (!ns)
                goto oom;
            op->stale = ns;
            if (!(ns[op->nstale] = cn_strdup(c->check_id)))
                goto oom;
            op->nstale++;
        }
    }
    propose_register(op, &d->svc, d->checks, d->nchecks);
    return;
oom:
    finish(op, CN_ENOMEM, "out of memory");
}

void agent_local_remove_service(struct agent_local *l, const char *id, agent_local_done_cb cb,
                                void *arg)
{
    if (closing(l, cb, arg))
        return;
    if (!agent_local_service(l, id)) {
        char msg[600];
        /* Take care: clients match on "Unknown service" (agent/agent.go
         * vetServiceUpdateWithAuthorizer). */
        snprintf(msg, sizeof(msg),
                 "Unknown service ID \"%.400s\". Ensure that the service ID is passed, not the "
                 "service name.",
                 id);
        answer(cb, arg, CN_ENOTFOUND, msg);
        return;
    }
    propose_remove(l, OP_RM_SVC, id, cb, arg);
}

static void unknown_check(agent_local_done_cb cb, void *arg, const char *id)
{
    char msg[600];
    snprintf(msg, sizeof(msg),
             "Unknown check ID \"%.400s\". Ensure that the check ID is passed, not the check name.",
             id);
    answer(cb, arg, CN_ENOTFOUND, msg);
}

void agent_local_add_check(struct agent_local *l, struct state_check *chk, agent_local_done_cb cb,
                           void *arg)
{
    if (closing(l, cb, arg)) {
        state_check_clear(chk);
        return;
    }
    struct op *op = op_new(l, OP_ADD_CHK, cb, arg);
    if (!op) {
        state_check_clear(chk);
        return;
    }
    op->chk = *chk;
    memset(chk, 0, sizeof(*chk));
    struct state_check *c = &op->chk;
    if (reject_script(op, c))
        return;
    if (!strcmp(c->check_id, AGENT_SERF_CHECK_ID)) {
        finish(op, CN_EINVAL, "Check ID \"serfHealth\" is reserved for the node health check");
        return;
    }
    const struct state_service *svc = NULL;
    if (*c->service_id) {
        svc = agent_local_service(l, c->service_id);
        if (!svc) {
            char msg[600];
            snprintf(msg, sizeof(msg), "ServiceID \"%.400s\" does not exist", c->service_id);
            finish(op, CN_EIO, msg); /* Consul answers 500 here */
            return;
        }
    }
    if (set_owned(&c->node, l->node) || set_owned(&c->service_name, svc ? svc->service : "") ||
        carry_state(l, c)) {
        finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    propose_register(op, NULL, c, 1);
}

void agent_local_remove_check(struct agent_local *l, const char *id, agent_local_done_cb cb,
                              void *arg)
{
    if (closing(l, cb, arg))
        return;
    if (!agent_local_check(l, id)) {
        unknown_check(cb, arg, id);
        return;
    }
    propose_remove(l, OP_RM_CHK, id, cb, arg);
}

static void propose_status(struct op *op)
{
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_check_status(&cmd, op->l->node, op->id, op->status, op->output);
    propose(op, &cmd, rc);
}

static void propose_internal_status(struct agent_local *l, const char *id, const char *status,
                                    const char *output)
{
    struct op *op = op_new(l, OP_STATUS, NULL, NULL);
    if (!op)
        return;
    op->id = cn_strdup(id);
    op->status = cn_strdup(status);
    op->output = cn_strdup(output);
    if (!op->id || !op->status || !op->output) {
        finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    propose_status(op);
}

void agent_local_update_ttl(struct agent_local *l, const char *id, const char *status,
                            const char *output, agent_local_done_cb cb, void *arg)
{
    if (closing(l, cb, arg))
        return;
    long i = chk_find(l, id);
    if (i < 0) {
        unknown_check(cb, arg, id);
        return;
    }
    struct lchk *ch = l->chks[i];
    if (ch->c.ttl_ns <= 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "CheckID \"%.400s\" does not have associated TTL", id);
        answer(cb, arg, CN_EIO, msg); /* a 500 in Consul; clients match the text */
        return;
    }
    if (!state_check_status_valid(status)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Invalid check status: '%.200s'", status ? status : "");
        answer(cb, arg, CN_EINVAL, msg);
        return;
    }
    char *out = state_check_output_truncate(output ? output : "");
    if (!out) {
        answer(cb, arg, CN_ENOMEM, "out of memory");
        return;
    }
    /* Every update resets the TTL; only a change is written, so a service
     * heartbeating every few seconds costs no Raft entries. */
    ttl_rearm(l, ch);
    if (!strcmp(ch->c.status, status) && !strcmp(ch->c.output, out)) {
        cn_free(out);
        answer(cb, arg, 0, "");
        return;
    }
    struct op *op = op_new(l, OP_STATUS, cb, arg);
    if (!op) {
        cn_free(out);
        return;
    }
    op->output = out;
    op->id = cn_strdup(id);
    op->status = cn_strdup(status);
    if (!op->id || !op->status) {
        finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    propose_status(op);
}

/* Register a maintenance check (critical, no runner). */
static void add_maint_check(struct agent_local *l, const char *id, const char *name,
                            const char *notes, const struct state_service *svc,
                            agent_local_done_cb cb, void *arg)
{
    struct op *op = op_new(l, OP_ADD_CHK, cb, arg);
    if (!op)
        return;
    struct state_check *c = &op->chk;
    if (set_owned(&c->node, l->node) || set_owned(&c->check_id, id) ||
        set_owned(&c->name, name) || set_owned(&c->status, "critical") ||
        set_owned(&c->notes, notes) || set_owned(&c->output, "") ||
        set_owned(&c->service_id, svc ? svc->id : "") ||
        set_owned(&c->service_name, svc ? svc->service : "") ||
        set_owned(&c->type, "maintenance") || set_owned(&c->http, "") ||
        set_owned(&c->method, "") || set_owned(&c->tcp, "") || set_owned(&c->header_json, "") ||
        set_owned(&c->body, "")) {
        finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    propose_register(op, NULL, c, 1);
}

void agent_local_service_maintenance(struct agent_local *l, const char *id, bool enable,
                                     const char *reason, agent_local_done_cb cb, void *arg)
{
    if (closing(l, cb, arg))
        return;
    const struct state_service *svc = agent_local_service(l, id);
    if (!svc) {
        char msg[600];
        snprintf(msg, sizeof(msg), "No service registered with ID \"%.400s\"", id);
        answer(cb, arg, CN_ENOTFOUND, msg);
        return;
    }
    struct cn_buf cid = CN_BUF_INIT;
    if (cn_buf_printf(&cid, AGENT_SERVICE_MAINT_PREFIX "%s", id) || cn_buf_cstr(&cid)) {
        cn_buf_free(&cid);
        answer(cb, arg, CN_ENOMEM, "out of memory");
        return;
    }
    bool on = agent_local_check(l, cid.p) != NULL;
    if (enable && !on)
        add_maint_check(l, cid.p, "Service Maintenance Mode",
                        reason && *reason ? reason : DEFAULT_SERVICE_MAINT_REASON, svc, cb, arg);
    else if (!enable && on)
        agent_local_remove_check(l, cid.p, cb, arg);
    else
        answer(cb, arg, 0, "");
    cn_buf_free(&cid);
}

void agent_local_node_maintenance(struct agent_local *l, bool enable, const char *reason,
                                  agent_local_done_cb cb, void *arg)
{
    if (closing(l, cb, arg))
        return;
    bool on = agent_local_check(l, AGENT_NODE_MAINT_CHECK_ID) != NULL;
    if (enable && !on)
        add_maint_check(l, AGENT_NODE_MAINT_CHECK_ID, "Node Maintenance Mode",
                        reason && *reason ? reason : DEFAULT_NODE_MAINT_REASON, NULL, cb, arg);
    else if (!enable && on)
        agent_local_remove_check(l, AGENT_NODE_MAINT_CHECK_ID, cb, arg);
    else
        answer(cb, arg, 0, "");
}

/* ---- start: rebuild from the catalog, register the node -------------------------------------------- */

struct rebuild {
    struct agent_local *l;
    int rc;
};

static int rebuild_svc(void *arg, const struct state_service *s)
{
    struct rebuild *rb = arg;
    if (!strcmp(s->id, "consul"))
        return 0; /* the node's own server service, not an agent registration */
    struct state_service copy;
    if (state_service_copy(&copy, s) || local_put_service(rb->l, &copy)) {
        state_service_clear(&copy);
        rb->rc = CN_ENOMEM;
        return 1;
    }
    return 0;
}

static int rebuild_chk(void *arg, const struct state_check *c)
{
    struct rebuild *rb = arg;
    if (!strcmp(c->check_id, AGENT_SERF_CHECK_ID))
        return 0;
    struct state_check copy;
    if (state_check_copy(&copy, c) || local_put_check(rb->l, &copy)) {
        state_check_clear(&copy);
        rb->rc = CN_ENOMEM;
        return 1;
    }
    return 0;
}

/* The node and its serfHealth check (Consul's leader registers these for
 * every live member: agent/consul/leader.go handleAliveMember). */
static int propose_node(struct agent_local *l)
{
    struct state_check serf;
    memset(&serf, 0, sizeof(serf));
    serf.node = l->node;
    serf.check_id = (char *)AGENT_SERF_CHECK_ID;
    serf.name = (char *)"Serf Health Status";
    serf.status = (char *)"passing";
    serf.notes = (char *)"";
    serf.output = (char *)"Agent alive and reachable";
    serf.service_id = serf.service_name = serf.type = (char *)"";
    serf.http = serf.method = serf.tcp = serf.header_json = serf.body = (char *)"";
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    fill_node(l, &reg.node);
    reg.checks = &serf;
    reg.nchecks = 1;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_register(&cmd, &reg);
    struct op *op = rc ? NULL : op_new(l, OP_NODE, NULL, NULL);
    if (!rc && !op)
        rc = CN_ENOMEM;
    if (!rc)
        rc = srv_propose(l->srv, cmd.p, cmd.len, on_applied, op);
    cn_buf_free(&cmd);
    if (rc) {
        if (op)
            op_free(op);
        return rc;
    }
    l->pending++;
    return 0;
}

/* Consul servers appear in the catalog as the "consul" service. */
static void propose_consul_service(struct agent_local *l)
{
    if (l->server_port <= 0)
        return;
    struct state_service svc;
    memset(&svc, 0, sizeof(svc));
    svc.node = l->node;
    svc.id = svc.service = (char *)"consul";
    svc.kind = svc.address = (char *)"";
    svc.port = l->server_port;
    svc.weight_passing = svc.weight_warning = 1;
    struct op *op = op_new(l, OP_NODE, NULL, NULL);
    if (op)
        propose_register(op, &svc, NULL, 0);
}

/* Register svc (NULL: the node-level checks) with the local checks that
 * belong to it, as one command. Failures are logged by finish(). */
static void propose_resync(struct agent_local *l, struct state_service *svc)
{
    const char *sid = svc ? svc->id : "";
    size_t n = 0;
    for (size_t i = 0; i < l->nchks; i++)
        n += !strcmp(l->chks[i]->c.service_id, sid);
    if (!svc && !n)
        return;
    struct state_check *checks = n ? cn_calloc(n, sizeof(*checks)) : NULL;
    struct op *op = n && !checks ? NULL : op_new(l, OP_NODE, NULL, NULL);
    if (op) {
        size_t k = 0;
        for (size_t i = 0; i < l->nchks; i++)
            if (!strcmp(l->chks[i]->c.service_id, sid))
                checks[k++] = l->chks[i]->c; /* borrowed: encoded at once */
        propose_register(op, svc, checks, n);
    } else {
        cn_warn("agent", "out of memory re-syncing local state");
    }
    cn_free(checks);
}

/* IDs of this node's catalog entries the agent does not know (collected
 * first: proposing while walking the state could change it under the walk). */
struct extras {
    struct agent_local *l;
    char **ids;
    size_t n;
    bool oom;
};

static void extras_add(struct extras *x, const char *id)
{
    char **n = cn_realloc(x->ids, (x->n + 1) * sizeof(*n));
    if (n)
        x->ids = n;
    if (!n || !(x->ids[x->n] = cn_strdup(id))) {
        x->oom = true;
        return;
    }
    x->n++;
}

static int extra_svc(void *arg, const struct state_service *s)
{
    struct extras *x = arg;
    if (strcmp(s->id, "consul") != 0 && !agent_local_service(x->l, s->id))
        extras_add(x, s->id);
    return x->oom;
}

static int extra_chk(void *arg, const struct state_check *c)
{
    struct extras *x = arg;
    /* A check of a service being removed goes with its service. */
    bool gone_with_svc = *c->service_id && !agent_local_service(x->l, c->service_id);
    if (strcmp(c->check_id, AGENT_SERF_CHECK_ID) != 0 && !gone_with_svc &&
        !agent_local_check(x->l, c->check_id))
        extras_add(x, c->check_id);
    return x->oom;
}

/* Deregister the collected IDs (services when `svc`, else checks). */
static void extras_drop(struct extras *x, bool svc)
{
    for (size_t i = 0; i < x->n; i++) {
        struct op *op = op_new(x->l, OP_NODE, NULL, NULL);
        if (op)
            propose_dereg(op, svc ? x->ids[i] : NULL, svc ? NULL : x->ids[i]);
        cn_free(x->ids[i]);
    }
    cn_free(x->ids);
    if (x->oom)
        cn_warn("agent", "out of memory re-syncing local state");
    x->ids = NULL;
    x->n = 0;
    x->oom = false;
}

void agent_local_resync(struct agent_local *l)
{
    if (!l || l->closing)
        return;
    /* agent/local/state.go updateSyncState: what the catalog holds for this
     * node but the agent does not know is removed ... */
    struct state *st = srv_state(l->srv);
    struct extras x = {l, NULL, 0, false};
    state_node_services(st, l->node, extra_svc, &x);
    extras_drop(&x, true);
    state_node_checks(st, l->node, extra_chk, &x);
    extras_drop(&x, false);
    /* ... and what the agent knows is written back (a service's checks go
     * with it, after the node they live on). */
    if (propose_node(l)) {
        cn_warn("agent", "could not re-register this node in the catalog");
        return;
    }
    propose_consul_service(l);
    for (size_t i = 0; i < l->nsvcs; i++)
        propose_resync(l, l->svcs[i]);
    propose_resync(l, NULL);
}

int agent_local_start(struct agent_local *l)
{
    struct state *st = srv_state(l->srv);
    struct rebuild rb = {l, 0};
    state_node_services(st, l->node, rebuild_svc, &rb);
    if (!rb.rc)
        state_node_checks(st, l->node, rebuild_chk, &rb);
    if (rb.rc)
        return rb.rc;
    if (l->nsvcs || l->nchks)
        cn_info("agent", "restored %zu services and %zu checks from the catalog", l->nsvcs,
                l->nchks);

    int rc = propose_node(l);
    if (rc)
        return rc;
    propose_consul_service(l);
    return 0;
}
