/* cairn/client.h: libcairn, the C client of a cairn (or Consul) agent.
 *
 * - A client handle: the agent's address, timeouts and a token. A handle is
 *   used by one thread at a time (it owns one libcurl easy handle and an
 *   error message buffer); make one per thread.
 * - Register and deregister service instances with their checks; a TTL
 *   heartbeat helper (a background thread).
 * - Watches: the healthy instances of a service kept current by blocking
 *   queries in a background thread (one per watch, with its own connection:
 *   libcairn is not embedded in the caller's event loop). Readers take an
 *   immutable, reference-counted snapshot without locks; a callback runs on
 *   the watch thread after each change. While the agent is unreachable the
 *   watch retries with exponential backoff and full jitter and keeps serving
 *   the last known set.
 * - cairn_pick(): one instance of a watched service for a key by any policy
 *   of cairn/lb.h; the same instance the registry's ?pick= and `cairn pick`
 *   choose for the same healthy set.
 * - KV get/put/cas/delete and a KV key watch.
 *
 * Errors: functions return 0 or a negative errno: -EINVAL (bad argument),
 * -ENOMEM, -EIO (transport: refused, timeout, reset), -ENOENT (404),
 * -EPROTO (another unexpected HTTP status or an unparsable body; the text is
 * in cairn_client_errmsg()), -ECANCELED (a cas that lost). */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/lb.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cairn_client_opts {
    const char *addr;        /* "host:port", "http://host:port", "https://host:port"; NULL:
                                $CAIRN_HTTP_ADDR, $CONSUL_HTTP_ADDR, then 127.0.0.1:8500.
                                https (or $CONSUL_HTTP_SSL=true): the CA and a client
                                certificate from $CONSUL_CACERT, $CONSUL_CLIENT_CERT,
                                $CONSUL_CLIENT_KEY ($CAIRN_ first);
                                $CONSUL_HTTP_SSL_VERIFY=false skips verification */
    const char *token;       /* X-Consul-Token; NULL: $CAIRN_HTTP_TOKEN, $CONSUL_HTTP_TOKEN */
    long connect_timeout_ms; /* 0: 2000 */
    long timeout_ms;         /* a non-blocking request's whole time; 0: 10000 */
};

struct cairn_client;

/* A new handle (opts copied; NULL: all defaults). NULL on ENOMEM or a bad
 * address (*err set). */
CAIRN_API struct cairn_client *cairn_client_new(const struct cairn_client_opts *opts, int *err);
CAIRN_API void cairn_client_free(struct cairn_client *c);
/* The last error's text (owned by the handle, valid until its next call). */
CAIRN_API const char *cairn_client_errmsg(const struct cairn_client *c);
/* The agent's base URL, e.g. "http://127.0.0.1:8500". */
CAIRN_API const char *cairn_client_addr(const struct cairn_client *c);

/* ---- registration ------------------------------------------------------- */

struct cairn_check {
    const char *id;               /* NULL: "service:<service id>[:n]" (the agent's default) */
    const char *name;             /* NULL: the agent's default */
    const char *ttl;              /* "10s": a TTL check (use cairn_ttl_pass / a heartbeat) */
    const char *http;             /* URL: an HTTP check */
    const char *tcp;              /* "host:port": a TCP check */
    const char *interval;         /* HTTP/TCP: "10s" */
    const char *timeout;          /* HTTP/TCP: optional */
    const char *deregister_after; /* DeregisterCriticalServiceAfter, optional */
};

struct cairn_service {
    const char *id;   /* NULL: the name */
    const char *name; /* required */
    const char *address;
    int port;
    const char *const *tags;
    size_t ntags;
    uint32_t weight_passing; /* 0: 1 */
    uint32_t weight_warning; /* 0: 1 */
    const struct cairn_check *checks;
    size_t nchecks;
};

/* PUT /v1/agent/service/register (everything copied). */
CAIRN_API int cairn_register(struct cairn_client *c, const struct cairn_service *s);
/* PUT /v1/agent/service/deregister/:id */
CAIRN_API int cairn_deregister(struct cairn_client *c, const char *service_id);
/* PUT /v1/agent/check/update/:check_id with Status passing|warning|critical. */
CAIRN_API int cairn_ttl_update(struct cairn_client *c, const char *check_id, const char *status,
                               const char *output);

/* A background thread that marks the TTL check passing every interval_ms
 * (its own connection; opts as for cairn_client_new). Failures are retried
 * at the next beat. NULL on error. */
struct cairn_heartbeat;
CAIRN_API struct cairn_heartbeat *cairn_heartbeat_start(const struct cairn_client_opts *opts,
                                                        const char *check_id, long interval_ms,
                                                        int *err);
/* Stops the thread (at once, even mid-request) and frees the handle. */
CAIRN_API void cairn_heartbeat_stop(struct cairn_heartbeat *h);
/* Beats that reached the agent so far (for tests and health displays). */
CAIRN_API uint64_t cairn_heartbeat_count(const struct cairn_heartbeat *h);

/* ---- watching a service ---------------------------------------------- */

struct cairn_instance {
    const char *id; /* "node/service-id": the lb backend id */
    const char *node;
    const char *service_id;
    const char *address; /* Service.Address, or the node's address when empty */
    int port;
    uint32_t weight;  /* Weights.Passing (Weights.Warning while a check warns) */
    const char *json; /* the whole /v1/health/service entry */
};

/* An immutable set of instances (sorted by id), reference counted. */
struct cairn_snapshot;
CAIRN_API size_t cairn_snapshot_count(const struct cairn_snapshot *s);
CAIRN_API const struct cairn_instance *cairn_snapshot_instance(const struct cairn_snapshot *s,
                                                               size_t i);
/* X-Consul-Index of the answer the snapshot was built from. */
CAIRN_API uint64_t cairn_snapshot_index(const struct cairn_snapshot *s);
CAIRN_API void cairn_snapshot_release(struct cairn_snapshot *s);

struct cairn_watch;
/* Runs on the watch thread after the set changed (not on a blocking
 * query's timeout, nor when only fields cairn_instance does not carry
 * changed). `snap` is borrowed for the call (cairn_watch_snapshot() for a
 * reference that outlives it). */
typedef void (*cairn_watch_cb)(struct cairn_watch *w, const struct cairn_snapshot *snap, void *arg);

struct cairn_watch_opts {
    const char *tag;             /* only instances with this tag; NULL: all */
    int any_status;              /* 0 (default): ?passing; 1: warning too */
    long wait_ms;                /* blocking query wait; 0: 60000 */
    long backoff_min_ms;         /* first retry delay; 0: 100 */
    long backoff_max_ms;         /* cap; 0: 30000 */
    enum cairn_lb_policy policy; /* table built eagerly for each snapshot; 0: maglev */
    cairn_watch_cb cb;
    void *arg;
};

/* Start watching `service` (copied) through an agent (client opts copied).
 * The thread starts at once; the first snapshot arrives after the first
 * answer (cairn_watch_wait). NULL on error. */
CAIRN_API struct cairn_watch *cairn_watch_start(const struct cairn_client_opts *copts,
                                                const char *service,
                                                const struct cairn_watch_opts *wopts, int *err);
/* Stop the thread (at once, even inside a blocking query) and free the
 * watch. Snapshots and instances still held stay valid until released. */
CAIRN_API void cairn_watch_stop(struct cairn_watch *w);
/* Wait up to timeout_ms for the first snapshot. 0 when there is one, else
 * -ETIMEDOUT. The only call that may sleep. */
CAIRN_API int cairn_watch_wait(struct cairn_watch *w, long timeout_ms);
/* The current snapshot with a reference (release it), or NULL before the
 * first answer. Lock-free and wait-free: docs/client.md. */
CAIRN_API struct cairn_snapshot *cairn_watch_snapshot(struct cairn_watch *w);
/* Answers that failed in a row (0 while the agent answers). */
CAIRN_API unsigned cairn_watch_failures(const struct cairn_watch *w);

/* Pick one instance of the current snapshot for `key` (a C string) by
 * `policy`; the first pick of a policy other than the watch's builds its
 * table (once per snapshot), later picks do not allocate. Not for
 * CAIRN_LB_BOUNDED and CAIRN_LB_P2C (NULL): their loads are given back with
 * cairn_lb_done() on cairn_snapshot_table()'s table. The instance holds a
 * reference to its snapshot: give it back with cairn_instance_release().
 * NULL when there is no snapshot yet or no instance to pick. */
CAIRN_API const struct cairn_instance *cairn_pick(struct cairn_watch *w, const char *key,
                                                  enum cairn_lb_policy policy);
CAIRN_API const struct cairn_instance *cairn_pick_bytes(struct cairn_watch *w, const void *key,
                                                        size_t len, enum cairn_lb_policy policy);
CAIRN_API void cairn_instance_release(const struct cairn_instance *inst);
/* The snapshot's table for `policy` (built on first use, then shared;
 * borrowed: valid while the caller holds the snapshot). Index i of the
 * table is cairn_snapshot_instance(s, i). NULL on ENOMEM/EINVAL. */
CAIRN_API struct cairn_lb *cairn_snapshot_table(struct cairn_snapshot *s,
                                                enum cairn_lb_policy policy);

/* ---- KV --------------------------------------------------------------- */

/* GET /v1/kv/:key. *val is malloc'd (NUL-terminated, caller frees), *len
 * its length, *modify_index the key's ModifyIndex (NULL-able). -ENOENT when
 * the key does not exist. */
CAIRN_API int cairn_kv_get(struct cairn_client *c, const char *key, char **val, size_t *len,
                           uint64_t *modify_index);
CAIRN_API int cairn_kv_put(struct cairn_client *c, const char *key, const void *val, size_t len);
/* Check-and-set: write only if the key's ModifyIndex is `index` (0: the key
 * must not exist). 0 when written, -ECANCELED when not. */
CAIRN_API int cairn_kv_cas(struct cairn_client *c, const char *key, const void *val, size_t len,
                           uint64_t index);
CAIRN_API int cairn_kv_delete(struct cairn_client *c, const char *key);

/* Watch one key: cb(value or NULL when deleted/absent, len, modify index)
 * on the watch thread after each change of the value. */
typedef void (*cairn_kv_watch_cb)(const char *key, const char *val, size_t len, uint64_t index,
                                  void *arg);
struct cairn_kv_watch;
CAIRN_API struct cairn_kv_watch *cairn_kv_watch_start(const struct cairn_client_opts *copts,
                                                      const char *key, cairn_kv_watch_cb cb,
                                                      void *arg, int *err);
CAIRN_API void cairn_kv_watch_stop(struct cairn_kv_watch *w);

/* ---- sessions and locks (website/content/api-docs/session.mdx, kv.mdx) -- */

#define CAIRN_SESSION_ID_LEN 37 /* a session id (36-char UUID) and its NUL */
#define CAIRN_NO_LOCK_DELAY (-1L)

enum cairn_session_behavior { CAIRN_SESSION_RELEASE = 0, CAIRN_SESSION_DELETE = 1 };

struct cairn_session_opts {
    const char *name;   /* Name, optional */
    const char *node;   /* Node; NULL: the agent's node */
    long ttl_ms;        /* TTL; 0: none, else 10000..86400000 (Consul's bounds) */
    long lock_delay_ms; /* LockDelay; 0: the agent's default (15 s);
                           CAIRN_NO_LOCK_DELAY: none */
    enum cairn_session_behavior behavior;
    const char *const *node_checks; /* NodeChecks; none given: Consul's [serfHealth] */
    size_t nnode_checks;
    const char *const *service_checks; /* ServiceChecks by check ID */
    size_t nservice_checks;
};

/* PUT /v1/session/create; id receives the new session's ID. */
CAIRN_API int cairn_session_create(struct cairn_client *c, const struct cairn_session_opts *o,
                                   char id[CAIRN_SESSION_ID_LEN]);
/* PUT /v1/session/destroy/:id (the session's locks are released or deleted,
 * with its lock-delay). */
CAIRN_API int cairn_session_destroy(struct cairn_client *c, const char *id);
/* PUT /v1/session/renew/:id. -ENOENT (404) means the session is gone for
 * good (invalidated or destroyed): its locks are lost. Other errors
 * (-EIO, -EPROTO) say nothing about the session. */
CAIRN_API int cairn_session_renew(struct cairn_client *c, const char *id);

/* A background thread renewing a TTL session every ttl_ms/2 (at once on
 * start: start it right after cairn_session_create), retrying failed
 * renewals every ttl_ms/10. lost(id, reason, arg) runs once on that thread
 * when the session is lost: reason -ENOENT (renew answered 404) or
 * -ETIMEDOUT (no renewal succeeded within ttl_ms of the start of the last
 * successful one: the servers may invalidate it from then on, so the holder
 * must stop acting on its locks); the thread then ends. */
typedef void (*cairn_session_lost_cb)(const char *id, int reason, void *arg);
struct cairn_session_keeper;
CAIRN_API struct cairn_session_keeper *
cairn_session_keeper_start(const struct cairn_client_opts *copts, const char *id, long ttl_ms,
                           cairn_session_lost_cb lost, void *arg, int *err);
/* Stop the thread (at once) and, when `destroy`, destroy the session
 * (0 or the destroy's error). Frees k. */
CAIRN_API int cairn_session_keeper_stop(struct cairn_session_keeper *k, int destroy);
/* Renewals that succeeded so far. */
CAIRN_API uint64_t cairn_session_keeper_renewals(const struct cairn_session_keeper *k);

/* PUT /v1/kv/:key?acquire=session (value written when acquired): 1 when
 * acquired (or already held by this session), 0 when held by another
 * session or in lock-delay, or a negative errno. */
CAIRN_API int cairn_kv_acquire(struct cairn_client *c, const char *key, const char *session,
                               const void *val, size_t len);
/* PUT /v1/kv/:key?release=session: 1 when released, 0 when the session did
 * not hold it, or a negative errno. No lock-delay follows a release. As
 * with Consul, the PUT body becomes the value: a release empties it. */
CAIRN_API int cairn_kv_release(struct cairn_client *c, const char *key, const char *session);

/* ---- leader election (docs/leader-election.md) ----------------------- */

struct cairn_election;
/* Callbacks run on the election's threads, serialized, never after
 * cairn_election_resign() returned; they must not call resign. */
typedef void (*cairn_elected_cb)(struct cairn_election *e, const char *session, void *arg);
/* reason: -ENOENT / -ETIMEDOUT (the session was lost, see the keeper), or
 * -ECANCELED (the key no longer names our session: deleted, released or
 * taken by someone else). The campaign goes on with a new session. */
typedef void (*cairn_lost_cb)(struct cairn_election *e, int reason, void *arg);

struct cairn_election_opts {
    const void *value; /* written to the key when elected (who leads); NULL: empty */
    size_t value_len;
    const char *session_name; /* NULL: "libcairn-election" */
    long ttl_ms;              /* session TTL; 0: 15000 */
    long lock_delay_ms;       /* as cairn_session_opts (0: the agent's 15 s) */
    long wait_ms;             /* blocking query wait; 0: 60000 */
    long retry_ms;            /* timed retry while the free key is in lock-delay, and
                                 after errors; 0: 1000 */
    cairn_elected_cb elected;
    cairn_lost_cb lost;
    void *arg;
};

/* Campaign for `key` from a background thread: create a TTL session (kept
 * by a keeper), acquire the key; when that fails, block on the key until
 * its Session is empty and try again (a timed retry while lock-delay
 * refuses). NULL on error. */
CAIRN_API struct cairn_election *cairn_election_start(const struct cairn_client_opts *copts,
                                                      const char *key,
                                                      const struct cairn_election_opts *eo,
                                                      int *err);
/* 1 while elected (as of the last callback). */
CAIRN_API int cairn_election_is_leader(struct cairn_election *e);
/* Step down and stop: release the key if held (no lock-delay), destroy the
 * session, join the threads, free e. */
CAIRN_API void cairn_election_resign(struct cairn_election *e);

#ifdef __cplusplus
}
#endif
#endif
