/* local/run.c: running the agent's checks (Consul's agent/checks wiring in
 * agent.go addCheck): every HTTP, TCP and script check of the local maps has
 * a runner in health/, every alias check a watch on the node it mirrors. A
 * runner's result is written through only when it changes the status, or the
 * output after Consul's check_update_interval (5 min): an unchanged result
 * costs no write. And the reaper of DeregisterCriticalServiceAfter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "metrics/metrics.h"
#include "local/local_int.h"

/* Consul's check_update_interval: an output-only change waits this long. */
#define OUTPUT_SYNC_MS (5 * 60 * 1000)
#define LOST_DEF                                                                                   \
    "The definition of this check is not kept across an agent restart; register the check "        \
    "again"

static void on_result(void *arg, const char *status, const char *output);
static void alias_arm(struct local *l, struct local__chk *ch);

static void clear_want(struct local__chk *ch)
{
    cn_free(ch->want_status);
    cn_free(ch->want_output);
    ch->want_status = ch->want_output = NULL;
}

/* Propose ch's wanted result now (a write slot is free, none in flight). */
static void write_now(struct local *l, struct local__chk *ch)
{
    struct local__op *op = local__op_new(l, OP_STATUS, NULL, NULL);
    if (!op)
        return;
    op->runner = true;
    op->id = cn_strdup(ch->c.check_id);
    op->status = ch->want_status;
    op->output = ch->want_output;
    ch->want_status = ch->want_output = NULL;
    if (!op->id) {
        local__finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    if (strcmp(ch->c.status, op->status) != 0)
        cn_info("agent", "Check \"%s\" is now %s", ch->c.check_id, op->status);
    ch->writing = true;
    ch->last_write_ms = uv_now(l->loop);
    l->run_writes++;
    local__propose_status(op);
}

static void enqueue(struct local *l, struct local__chk *ch)
{
    if (ch->queued)
        return;
    if (l->wq_head + l->wq_len == l->wq_cap) {
        if (l->wq_head) { /* compact */
            memmove(l->wq, l->wq + l->wq_head, l->wq_len * sizeof(*l->wq));
            l->wq_head = 0;
        }
        if (l->wq_len == l->wq_cap) {
            size_t ncap = l->wq_cap ? l->wq_cap * 2 : 256;
            char **n = cn_realloc(l->wq, ncap * sizeof(*n));
            if (!n)
                return; /* the next result retries */
            l->wq = n;
            l->wq_cap = ncap;
        }
    }
    char *id = cn_strdup(ch->c.check_id);
    if (!id)
        return;
    l->wq[l->wq_head + l->wq_len++] = id;
    ch->queued = true;
}

/* Fill free write slots from the queue. */
static void drain(struct local *l)
{
    /* A write failing at once finishes inside write_now and comes back
     * here: the outer loop carries on instead (no recursion per entry). */
    if (l->draining)
        return;
    l->draining = true;
    while (!l->closing && l->run_writes < LOCAL_RUN_WRITES && l->wq_len) {
        char *id = l->wq[l->wq_head++];
        l->wq_len--;
        long i = local__chk_find(l, id);
        cn_free(id);
        if (i < 0)
            continue; /* removed meanwhile */
        struct local__chk *ch = l->chks[i];
        ch->queued = false;
        if (ch->writing)
            continue; /* written again when that write ends */
        if (ch->want_status)
            write_now(l, ch);
    }
    if (!l->wq_len)
        l->wq_head = 0;
    l->draining = false;
}

/* metrics: cairn.checks.runs {type} (here) and cairn.checks.transitions
 * {type, status} (each status write that changes the status: runners, TTL
 * updates and expiries; ops.c), keyed by these interned names (a check's
 * type is its own copy). */
static const char *const mx_types[] = {STATE_CHECK_HTTP,   STATE_CHECK_TCP, STATE_CHECK_GRPC,
                                       STATE_CHECK_H2PING, STATE_CHECK_UDP, STATE_CHECK_SCRIPT,
                                       STATE_CHECK_ALIAS,  STATE_CHECK_TTL, "other"};
static const char *const mx_statuses[] = {"passing", "warning", "critical", "maintenance", "other"};

static const char *intern(const char *const *set, size_t n, const char *v)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (!strcmp(set[i], v))
            return set[i];
    return set[n - 1];
}

static void count_run(const struct local__chk *ch)
{
    if (!mx_running())
        return;
    const char *t = intern(mx_types, sizeof(mx_types) / sizeof(mx_types[0]), ch->c.type);
    struct mx_label l = {"type", t};
    mx_series_add(mx_series(MX_CHECK_RUNS, t, 0, &l, 1), 1);
}

void local__count_transition(const char *type, const char *status)
{
    if (!mx_running())
        return;
    const char *t = intern(mx_types, sizeof(mx_types) / sizeof(mx_types[0]), type);
    const char *st = intern(mx_statuses, sizeof(mx_statuses) / sizeof(mx_statuses[0]), status);
    struct mx_label l[2] = {{"type", t}, {"status", st}};
    mx_series_add(mx_series(MX_CHECK_TRANSITIONS, t, (uintptr_t)st, l, 2), 1);
}

/* A runner's result: keep it as the one to write if it is worth a write
 * (see the top), and write it when a slot is free. */
static void record(struct local *l, struct local__chk *ch, const char *status, const char *output)
{
    if (l->closing)
        return;
    count_run(ch);
    char *out = state_check_output_truncate(output);
    if (!out)
        return;
    bool st = strcmp(ch->c.status, status) != 0;
    bool ou = strcmp(ch->c.output, out) != 0;
    if (!st && (!ou || uv_now(l->loop) - ch->last_write_ms < OUTPUT_SYNC_MS)) {
        cn_free(out);
        clear_want(ch); /* back to what the catalog holds: nothing to write */
        return;
    }
    char *sc = cn_strdup(status);
    if (!sc) {
        cn_free(out);
        return;
    }
    clear_want(ch);
    ch->want_status = sc;
    ch->want_output = out;
    if (ch->writing)
        return; /* written when the write in flight ends */
    if (l->run_writes < LOCAL_RUN_WRITES && !l->wq_len)
        write_now(l, ch);
    else
        enqueue(l, ch);
}

void local__runner_written(struct local *l, const char *id)
{
    if (l->run_writes)
        l->run_writes--;
    long i = id ? local__chk_find(l, id) : -1;
    if (i >= 0) {
        struct local__chk *ch = l->chks[i];
        ch->writing = false;
        /* a newer result came meanwhile: still worth it? (applied state moved) */
        if (ch->want_status) {
            if (!strcmp(ch->c.status, ch->want_status) && !strcmp(ch->c.output, ch->want_output))
                clear_want(ch);
            else
                enqueue(l, ch);
        }
    }
    drain(l);
}

void local__runner_forget(struct local__chk *ch)
{
    clear_want(ch);
}

void local__wq_free(struct local *l)
{
    for (size_t i = 0; i < l->wq_len; i++)
        cn_free(l->wq[l->wq_head + i]);
    cn_free(l->wq);
    l->wq = NULL;
    l->wq_len = l->wq_head = l->wq_cap = 0;
}

static void on_result(void *arg, const char *status, const char *output)
{
    struct local__chk *ch = arg;
    record(ch->l, ch, status, output);
}

/* ---- alias ------------------------------------------------------------------------------------
 */

struct alias_acc {
    const char *self, *service_id;
    const char *status;
    char msg[600];
    bool found_service;
};

static int alias_visit(void *arg, const struct state_check *c)
{
    struct alias_acc *a = arg;
    if (!strcmp(c->check_id, a->self))
        return 0;
    if (*a->service_id && *c->service_id && strcmp(c->service_id, a->service_id) != 0)
        return 0;
    if (!strcmp(c->status, "critical") || !strcmp(c->status, "warning")) {
        a->status = !strcmp(c->status, "critical") ? "critical" : "warning";
        snprintf(a->msg, sizeof(a->msg), "Aliased check \"%.200s\" failing: %.300s", c->name,
                 c->output);
        return !strcmp(c->status, "critical"); /* critical decides; a warning may still lose */
    }
    if (!strcmp(a->status, "passing"))
        snprintf(a->msg, sizeof(a->msg), "All checks passing.");
    return 0;
}

/* agent/checks/alias.go processChecks, on this server's catalog. */
static void alias_eval(struct local *l, struct local__chk *ch)
{
    const char *node = ch->c.alias_node && *ch->c.alias_node ? ch->c.alias_node : l->node;
    const char *sid = ch->c.alias_service ? ch->c.alias_service : "";
    struct state *s = srv_state(l->srv);
    struct alias_acc a = {.self = ch->c.check_id, .service_id = sid, .status = "passing"};
    snprintf(a.msg, sizeof(a.msg), "No checks found.");
    if (*sid && !state_service_get(s, node, sid)) {
        snprintf(a.msg, sizeof(a.msg), "Service %.200s could not be found on node %.200s", sid,
                 node);
        record(l, ch, "critical", a.msg);
        return;
    }
    if (*node && !state_node_get(s, node)) {
        snprintf(a.msg, sizeof(a.msg), "Node %.200s could not be found", node);
        record(l, ch, "critical", a.msg);
        return;
    }
    state_node_checks(s, node, alias_visit, &a);
    record(l, ch, a.status, a.msg);
}

static void on_alias_watch(struct srv_watch *w, uint64_t index)
{
    struct local__chk *ch = w->data;
    struct local *l = ch->l;
    ch->alias_armed = false;
    if (l->closing)
        return;
    alias_arm(l, ch); /* re-arm first: the watch fires once */
    alias_eval(l, ch);
}

static void alias_arm(struct local *l, struct local__chk *ch)
{
    const char *node = ch->c.alias_node && *ch->c.alias_node ? ch->c.alias_node : l->node;
    if (!srv_watch_arm(l->srv, &ch->alias_watch, STATE_T_NODES, node, false, on_alias_watch, ch))
        ch->alias_armed = true;
    else
        cn_warn("agent", "alias check %s: out of memory arming its watch", ch->c.check_id);
}

/* ---- start / stop ------------------------------------------------------------------------------
 */

void local__runner_stop(struct local *l, struct local__chk *ch)
{
    if (ch->run) {
        health_stop(ch->run);
        ch->run = NULL;
    }
    if (ch->alias_armed) {
        srv_watch_disarm(l->srv, &ch->alias_watch);
        ch->alias_armed = false;
    }
}

void local__runner_start(struct local *l, struct local__chk *ch)
{
    local__runner_stop(l, ch);
    const struct state_check *c = &ch->c;
    if (l->closing || !l->health)
        return;
    if (!strcmp(c->type, STATE_CHECK_ALIAS)) {
        if (!c->alias_service && !c->alias_node) {
            record(l, ch, "critical", LOST_DEF);
            return;
        }
        alias_arm(l, ch);
        alias_eval(l, ch);
        return;
    }
    struct health_def d;
    memset(&d, 0, sizeof(d));
    if (!strcmp(c->type, STATE_CHECK_HTTP)) {
        d.type = HEALTH_HTTP;
        d.target = c->http;
    } else if (!strcmp(c->type, STATE_CHECK_TCP)) {
        d.type = HEALTH_TCP;
        d.target = c->tcp;
    } else if (!strcmp(c->type, STATE_CHECK_GRPC)) {
        if (!c->grpc || !*c->grpc) {
            record(l, ch, "critical", LOST_DEF);
            return;
        }
        d.type = HEALTH_GRPC;
        d.target = c->grpc;
        d.grpc_use_tls = c->grpc_use_tls;
    } else if (!strcmp(c->type, STATE_CHECK_H2PING)) {
        if (!c->h2ping || !*c->h2ping) {
            record(l, ch, "critical", LOST_DEF);
            return;
        }
        d.type = HEALTH_H2PING;
        d.target = c->h2ping;
        d.h2ping_use_tls = c->h2ping_use_tls;
    } else if (!strcmp(c->type, STATE_CHECK_UDP)) {
        if (!c->udp || !*c->udp) {
            record(l, ch, "critical", LOST_DEF);
            return;
        }
        d.type = HEALTH_UDP;
        d.target = c->udp;
    } else if (!strcmp(c->type, STATE_CHECK_SCRIPT)) {
        if (!c->nargs) {
            record(l, ch, "critical", LOST_DEF);
            return;
        }
        if (!l->script_checks) {
            record(l, ch, "critical", "Scripts are disabled on this agent");
            return;
        }
        d.type = HEALTH_SCRIPT;
        d.args = (const char *const *)c->args;
        d.nargs = c->nargs;
    } else {
        return; /* ttl (local.c's timers), maintenance, serfHealth: nothing to run */
    }
    d.method = c->method;
    d.header_json = c->header_json;
    d.body = c->body;
    d.tls_server_name = c->tls_server_name;
    d.tls_skip_verify = c->tls_skip_verify;
    d.interval_ns = c->interval_ns;
    d.timeout_ns = c->timeout_ns;
    d.success_before_passing = c->success_before_passing;
    d.failures_before_warning = c->failures_before_warning;
    d.failures_before_critical = c->failures_before_critical;
    int rc = health_start(l->health, &d, on_result, ch, &ch->run);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "The check could not be started: %s", cn_strerror(rc));
        cn_warn("agent", "check %s: %s", c->check_id, msg);
        record(l, ch, "critical", msg);
    }
}

/* ---- DeregisterCriticalServiceAfter ------------------------------------------------------------
 */

static void on_reap(uv_timer_t *t)
{
    struct local *l = t->data;
    if (l->closing)
        return;
    uint64_t now = uv_now(l->loop);
    for (size_t i = 0; i < l->nchks; i++) {
        struct local__chk *ch = l->chks[i];
        const struct state_check *c = &ch->c;
        if (c->deregister_after_ns <= 0 || !*c->service_id || strcmp(c->status, "critical")) {
            ch->critical_since_ms = 0;
            continue;
        }
        if (!ch->critical_since_ms) {
            ch->critical_since_ms = now ? now : 1;
            continue;
        }
        if (ch->reaping ||
            now - ch->critical_since_ms < (uint64_t)(c->deregister_after_ns / 1000000))
            continue;
        ch->reaping = true;
        cn_info("agent",
                "Check \"%s\" for service \"%s\" has been critical for too long; deregistered "
                "service",
                c->check_id, c->service_id);
        /* asynchronous: the maps change once the deregistration is applied */
        local_remove_service(l, c->service_id, NULL, NULL);
    }
}

void local__reaper_start(struct local *l)
{
    if (l->reaper_init)
        return;
    uv_timer_init(l->loop, &l->reaper);
    l->reaper.data = l;
    l->reaper_init = true;
    uv_timer_start(&l->reaper, on_reap, LOCAL_REAP_MS, LOCAL_REAP_MS);
}
