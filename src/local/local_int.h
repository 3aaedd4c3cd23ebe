/* local/local_int.h: shared among the files of local/ (not a contract for
 * anyone else). local.c: the maps, lifetime, reads, TTL timers; ops.c: the
 * write-through of one change (struct local__op); mutate.c: the public
 * mutations; sync.c: start and anti-entropy. All on the loop thread. */
#ifndef CN_LOCAL_INT_H
#define CN_LOCAL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "health/health.h"
#include "local/local.h"
#include "server/server.h"
#include "state/state.h"

struct local__chk {
    /* Its strings and arrays point into `packed` (one allocation,
     * state_check_pack): replaced whole when the check changes. */
    struct state_check c;
    char *packed;
    struct local *l;
    uv_timer_t timer; /* TTL checks; initialised lazily */
    bool timer_init;
    /* run.c: the runner (HTTP, TCP, script) or the alias watch */
    struct health_check *run;
    struct srv_watch alias_watch;
    bool alias_armed;
    bool writing;                    /* a runner's status write in flight */
    bool queued;                     /* its id is in l->wq, waiting for a write slot */
    char *want_status, *want_output; /* the latest result still to write, or NULL */
    uint64_t last_write_ms;          /* of a runner's result (uv_now) */
    uint64_t critical_since_ms;      /* seen critical by the reaper (0: not) */
    bool reaping;                    /* its service's deregistration proposed */
};

/* How often DeregisterCriticalServiceAfter is checked (Consul: 30 s; the
 * finer grain keeps the deadline within a second of what was asked). */
#define LOCAL_REAP_MS 1000
#define LOCAL_RUN_WRITES 64

struct local {
    uv_loop_t *loop;
    struct srv *srv;
    char *node, *node_id, *address, *dc;
    int server_port;
    int sidecar_min, sidecar_max; /* local_set_sidecar_ports */
    struct state_pair tagged[4];  /* lan, lan_ipv4, wan, wan_ipv4 -> address */
    struct state_pair meta[1];    /* consul-network-segment -> "" */
    /* sorted by id, owned; each one allocation holding the struct and its
     * strings (state_service_pack) */
    struct state_service **svcs;
    size_t nsvcs, capsvcs;
    struct local__chk **chks; /* sorted by check_id, owned */
    size_t nchks, capchks;
    size_t pending; /* proposals in flight */
    size_t handles; /* timer handles not yet closed */
    bool closing;
    struct health *health; /* run.c: the check runners */
    bool script_checks;    /* -enable-local-script-checks */
    local_acl_cb acl_may;  /* NULL: ACLs off */
    void *acl_arg;
    bool acl_blocked;     /* the last node write was refused by ACLs */
    local_merge_cb merge; /* local_set_merge; NULL: services go as given */
    void *merge_arg;
    uv_timer_t reaper; /* run.c: DeregisterCriticalServiceAfter */
    bool reaper_init;
    /* run.c: runners' status writes. At most LOCAL_RUN_WRITES in flight (a
     * mass transition must not put thousands of proposals in flight at once);
     * the others wait in a FIFO of check ids, each written with its latest
     * result when its turn comes. */
    size_t run_writes;
    bool draining;
    char **wq;
    size_t wq_head, wq_len, wq_cap;
};

enum local__op_kind {
    OP_ADD_SVC,
    OP_RM_SVC,
    OP_ADD_CHK,
    OP_RM_CHK,
    OP_STATUS,
    OP_NODE, /* this node's own registration: nothing local to apply */
};

struct local__op {
    struct local *l;
    enum local__op_kind kind;
    local_done_cb cb;
    void *arg;
    struct local_svc_def def; /* OP_ADD_SVC */
    struct state_check chk;   /* OP_ADD_CHK */
    char *id;                 /* OP_RM_SVC, OP_RM_CHK, OP_STATUS */
    char *status, *output;    /* OP_STATUS */
    char **stale;             /* OP_ADD_SVC with replace: check IDs still to remove */
    size_t nstale, next;
    bool runner; /* OP_STATUS of a runner's result (run.c) */
};

/* ---- local.c ---------------------------------------------------------------- */

/* Index of the check with this id in l->chks, or -(insertion point)-1. */
long local__chk_find(const struct local *l, const char *id);
/* Free l once it is closing, nothing is in flight and every handle closed. */
void local__maybe_release(struct local *l);
/* (Re)arm or stop the TTL timer of ch to match ch->c.ttl_ns. */
void local__ttl_rearm(struct local *l, struct local__chk *ch);
/* After a failed "critical" write of a TTL expiry: fire the expiry again soon. */
void local__retry_expiry_later(struct local *l, const char *check_id);
/* Insert or replace in the local maps a packed copy of *c / *s (borrowed:
 * the caller still owns and frees it). 0 or CN_ENOMEM (nothing changed). */
int local__put_check(struct local *l, const struct state_check *c);
int local__put_service(struct local *l, const struct state_service *s);
/* Replace the status and output of the local check at index i (copied). 0
 * or CN_ENOMEM (nothing changed). */
int local__set_check_status(struct local *l, size_t i, const char *status, const char *output);
/* Remove from the local maps (a service takes its checks with it). */
void local__drop_check(struct local *l, const char *id);
void local__drop_service(struct local *l, const char *id);

/* ---- sidecar.c ------------------------------------------------------------------ */

/* The port for sidecar `sidecar_id` among the local services svcs[0..n):
 * its own when it already has one in [min, max], else the lowest port of the
 * range no local service uses; CN_ENOTFOUND when none is left (or min < 1). */
int local__sidecar_port(const struct state_service *const *svcs, size_t n, const char *sidecar_id,
                        int min, int max);
/* Consul's default sidecar checks ("Connect Sidecar Listening", a TCP check
 * every 10 s on the sidecar's address and port; "Connect Sidecar Aliasing
 * <parent>", an alias of the parent) when d has no checks. 0 or CN_ENOMEM. */
int local__sidecar_checks(struct local_svc_def *d);

/* ---- run.c ---------------------------------------------------------------------- */

/* (Re)start the runner or alias watch of ch to match ch->c (a TTL or
 * maintenance check has none); stop it. */
void local__runner_start(struct local *l, struct local__chk *ch);
void local__runner_stop(struct local *l, struct local__chk *ch);
/* A runner's status write for check id finished (applied or failed). */
void local__runner_written(struct local *l, const char *id);
/* Free what the runner bookkeeping of ch holds (its unwritten result). */
void local__runner_forget(struct local__chk *ch);
/* Free the write queue (closing). */
void local__wq_free(struct local *l);
/* Start the DeregisterCriticalServiceAfter reaper (idempotent). */
void local__reaper_start(struct local *l);

/* ---- ops.c ---------------------------------------------------------------------- */

/* A new op answering cb(arg) when finished; NULL (cb already answered with
 * CN_ENOMEM) on out of memory. */
struct local__op *local__op_new(struct local *l, enum local__op_kind kind, local_done_cb cb,
                                void *arg);
void local__op_free(struct local__op *op);
/* Answer op's caller (or log a failure of an internal op) and free op. */
void local__finish(struct local__op *op, int rc, const char *msg);
/* Answer a caller at once (no op). */
void local__answer(local_done_cb cb, void *arg, int rc, const char *msg);
/* True (and cb answered CN_ESHUTDOWN) when l is closing. */
bool local__closing(struct local *l, local_done_cb cb, void *arg);
/* *dst = a copy of v ("" for NULL); the old *dst freed. 0 or CN_ENOMEM. */
int local__set_owned(char **dst, const char *v);
/* A re-registered check keeps its current status and output. 0 or CN_ENOMEM. */
int local__carry_state(struct local *l, struct state_check *c);
/* Propose for op: register svc and/or checks (borrowed, encoded at once) on
 * this node; deregister a service or check; a check status; this node's own
 * registration (node row + serfHealth; returns 0 or the proposal error). */
void local__propose_register(struct local__op *op, struct state_service *svc,
                             struct state_check *checks, size_t nchecks);
void local__propose_dereg(struct local__op *op, const char *service_id, const char *check_id);
void local__propose_status(struct local__op *op);
void local__propose_internal_status(struct local *l, const char *id, const char *status,
                                    const char *output);
int local__propose_node(struct local *l);
/* The service as the catalog gets it: *out = given, or tmp (a shallow copy
 * of given) whose Proxy.Config and upstreams' Config are in *owned (the caller
 * frees it with local_merged_free, whatever this returns), merged from the
 * central configuration by local_set_merge's callback. 0 or its error. */
int local__merged(struct local *l, const struct state_service *given, struct state_service *tmp,
                  struct local_merged *owned, const struct state_service **out);

/* taddr.c: Consul's agent-side default tagged addresses (lan_ipv4/wan_ipv4,
 * lan_ipv6/wan_ipv6) for a service with an IP Address. 0 or CN_ENOMEM (s
 * then holds what was added so far; still valid to free). */
int local__default_taddrs(struct state_service *s);

/* run.c: count a check's status change for metrics (cairn.checks.transitions). */
void local__count_transition(const char *type, const char *status);

#endif
