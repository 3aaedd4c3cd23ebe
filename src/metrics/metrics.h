/* metrics/metrics.h: the agent's telemetry registry: counters, gauges and
 * samples (timers), with go-metrics' semantics as Consul uses them
 * (docs/metrics.md):
 *  - an in-memory view in 10 s intervals aligned to the wall clock, of which
 *    GET /v1/agent/metrics shows the last finished one (InmemSink: Count,
 *    Rate, Sum, Min, Max, Mean, Stddev per counter and sample);
 *  - a cumulative view for ?format=prometheus (PrometheusSink: counters,
 *    gauges, summaries with the 0.5/0.9/0.99 quantiles of the last 5-10 s),
 *    where series with labels not updated for prometheus_retention_time are
 *    dropped.
 *
 * Owned by the loop thread: every update and every read runs there, with no
 * lock and no clock read on the update path (the registry's own 1 s timer,
 * runtime.c, moves its notion of time). A thread that measures something
 * (the log writer) hands the figures to the loop with what it already hands
 * back. Before mx_start, or after mx_stop, every update is a no-op, so
 * modules and their unit tests work without a registry.
 *
 * Must not know any other module of cairn: callers register gauges that read
 * their state (mx_gauge_fn). */
#ifndef CN_METRICS_H
#define CN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum mx_kind { MX_COUNTER, MX_GAUGE, MX_SAMPLE };
/* The name's namespace: Consul's (under telemetry.metrics_prefix, default
 * "consul") or cairn's own ("cairn"), for what Consul has no metric of. */
enum mx_ns { MX_NS_CONSUL, MX_NS_CAIRN };

/* Every metric: X(id, kind, namespace, name, unit, help). Samples are in
 * milliseconds unless the unit says otherwise. docs/metrics.md has the same
 * table (tests/integration/test_metrics.py checks every name is there). */
#define MX_METRICS(X)                                                                              \
    X(API_HTTP, SAMPLE, CONSUL, "api.http", "ms",                                                  \
      "Time to serve an HTTP API request, by method and route")                                    \
    X(RPC_QUERIES_BLOCKING, GAUGE, CONSUL, "rpc.queries_blocking", "queries",                      \
      "Blocking queries parked on this agent now")                                                 \
    X(BLOCKING_WOKEN, COUNTER, CAIRN, "api.blocking.woken", "queries",                             \
      "Parked blocking queries woken by a change of what they read")                               \
    X(BLOCKING_TIMEOUTS, COUNTER, CAIRN, "api.blocking.timeouts", "queries",                       \
      "Parked blocking queries answered because their wait ran out")                               \
    X(RAFT_APPLY, COUNTER, CONSUL, "raft.apply", "entries",                                        \
      "Commands proposed to the Raft log by this server as leader")                                \
    X(RAFT_COMMIT_TIME, SAMPLE, CONSUL, "raft.commitTime", "ms",                                   \
      "Leader: from a write's proposal to its commit and apply")                                   \
    X(RAFT_COMMIT_NUM_LOGS, GAUGE, CONSUL, "raft.commitNumLogs", "entries",                        \
      "Entries committed and applied in the last batch")                                           \
    X(RAFT_STATE_LEADER, COUNTER, CONSUL, "raft.state.leader", "elections",                        \
      "Times this server became leader")                                                           \
    X(RAFT_STATE_CANDIDATE, COUNTER, CONSUL, "raft.state.candidate", "elections",                  \
      "Times this server started an election")                                                     \
    X(RAFT_STATE_FOLLOWER, COUNTER, CONSUL, "raft.state.follower", "transitions",                  \
      "Times this server became a follower")                                                       \
    X(RAFT_LEADER_LAST_CONTACT, SAMPLE, CONSUL, "raft.leader.lastContact", "ms",                   \
      "Leader: time since each voter was last heard from, sampled every 500 ms")                   \
    X(RAFT_LEADER_DISPATCH_LOG, SAMPLE, CONSUL, "raft.leader.dispatchLog", "ms",                   \
      "Leader: from handing entries to the log writer to their durable write")                     \
    X(RAFT_STORE_LOGS, SAMPLE, CONSUL, "raft.boltdb.storeLogs", "ms",                              \
      "One group-commit batch written and synced by the log writer")                               \
    X(RAFT_LOGS_PER_BATCH, SAMPLE, CONSUL, "raft.boltdb.logsPerBatch", "entries",                  \
      "Entries in one group-commit batch (one fdatasync)")                                         \
    X(RAFT_FSYNC, SAMPLE, CAIRN, "raft.fsync", "ms", "One fdatasync of the log")                   \
    X(RAFT_APPLIED_INDEX, GAUGE, CONSUL, "raft.applied_index", "index",                            \
      "Last log index applied to the state")                                                       \
    X(RAFT_LAST_INDEX, GAUGE, CONSUL, "raft.last_index", "index", "Last index of the log")         \
    X(RAFT_LOG_ENTRIES, GAUGE, CAIRN, "raft.log.entries", "entries",                               \
      "Log entries held in memory (the window: not yet durable or applied, and a tail)")           \
    X(RAFT_LOG_MEMORY, GAUGE, CAIRN, "raft.log.memory", "bytes",                                   \
      "Payload bytes of the log entries held in memory")                                           \
    X(RAFT_LOG_READBACK, COUNTER, CAIRN, "raft.log.readback", "entries",                           \
      "Log entries read back from disk for followers behind the in-memory window")                 \
    X(RAFT_SNAPSHOT_TAKE, SAMPLE, CONSUL, "raft.snapshot.takeSnapshot", "ms",                      \
      "Taking a snapshot, from its start to its install")                                          \
    X(RAFT_SNAPSHOT_CREATE, SAMPLE, CONSUL, "raft.snapshot.create", "ms",                          \
      "Starting a snapshot: the fork (or the in-process encode when fork fails)")                  \
    X(RAFT_SNAPSHOT_SIZE, GAUGE, CAIRN, "raft.snapshot.size", "bytes",                             \
      "Size of the last snapshot taken or installed")                                              \
    X(RAFT_FSM_RESTORE, GAUGE, CONSUL, "raft.fsm.lastRestoreDuration", "ms",                       \
      "Restoring the state from the last snapshot installed from the leader")                      \
    X(KVS_APPLY, SAMPLE, CONSUL, "kvs.apply", "ms", "A KV write (PUT/DELETE /v1/kv), end to end")  \
    X(TXN_APPLY, SAMPLE, CONSUL, "txn.apply", "ms", "A write transaction (/v1/txn), end to end")   \
    X(SESSION_APPLY, SAMPLE, CONSUL, "session.apply", "ms",                                        \
      "A session create or destroy (/v1/session), end to end")                                     \
    X(CATALOG_REGISTER, SAMPLE, CONSUL, "catalog.register", "ms",                                  \
      "A catalog registration (/v1/catalog/register), end to end")                                 \
    X(CATALOG_DEREGISTER, SAMPLE, CONSUL, "catalog.deregister", "ms",                              \
      "A catalog deregistration (/v1/catalog/deregister), end to end")                             \
    X(CHECK_RUNS, COUNTER, CAIRN, "checks.runs", "runs",                                           \
      "Results of this agent's check runners, by check type")                                      \
    X(CHECK_TRANSITIONS, COUNTER, CAIRN, "checks.transitions", "transitions",                      \
      "Check results that change a check's status, by type and new status")                        \
    X(DNS_DOMAIN_QUERY, SAMPLE, CONSUL, "dns.domain_query", "ms",                                  \
      "Answering a DNS query for a name in the domain")                                            \
    X(DNS_PTR_QUERY, SAMPLE, CONSUL, "dns.ptr_query", "ms", "Answering a reverse (PTR) DNS query") \
    X(DNS_STALE_QUERIES, COUNTER, CONSUL, "dns.stale_queries", "queries",                          \
      "DNS answers given while the leader was last heard from over 5 s ago")                       \
    X(PROC_RSS, GAUGE, CAIRN, "runtime.rss_bytes", "bytes", "Resident memory of the process")      \
    X(PROC_FDS, GAUGE, CAIRN, "runtime.open_fds", "fds", "Open file descriptors")                  \
    X(PROC_UPTIME, GAUGE, CAIRN, "runtime.uptime_seconds", "s", "Seconds since the agent started") \
    X(LOOP_LAG, SAMPLE, CAIRN, "runtime.loop_lag", "ms",                                           \
      "How late the loop ran a timer: its due time to its callback, sampled every second")

enum mx_id {
#define MX_ID_(id, kind, ns, name, unit, help) MX_##id,
    MX_METRICS(MX_ID_)
#undef MX_ID_
        MX__COUNT
};

struct mx_info {
    enum mx_kind kind;
    enum mx_ns ns;
    const char *name, *unit, *help;
};
/* The row of id (never NULL for id < MX__COUNT). */
const struct mx_info *mx_info(enum mx_id id);

#define MX_MAX_LABELS 3
struct mx_label {
    const char *name, *value;
};

struct mx_options {
    const char *prefix;       /* telemetry.metrics_prefix; NULL or "": "consul" */
    const char *hostname;     /* inserted in gauge names unless disable_hostname */
    bool disable_hostname;    /* telemetry.disable_hostname */
    uint64_t retention_s;     /* telemetry.prometheus_retention_time; 0: no Prometheus output */
    bool filter_default;      /* telemetry.filter_default (Consul's default: true) */
    const char *const *rules; /* telemetry.prefix_filter: "+prefix" / "-prefix" */
    size_t nrules;
};

/* Start the process's registry (all copied), at wall-clock time now_ms
 * (ms since the epoch). Returns 0, CN_EINVAL (a rule without + or -: err
 * says which) or CN_ENOMEM. A registry already started is replaced. */
int mx_start(const struct mx_options *o, uint64_t now_ms, char *err, size_t errcap);
/* Free the registry; updates become no-ops. */
void mx_stop(void);
bool mx_running(void);
/* Whether id is kept (the registry runs and no telemetry.prefix_filter rule
 * drops it): lets a caller skip even its clock reads. */
bool mx_enabled(enum mx_id id);
/* Whether the Prometheus form is on (retention_s > 0). */
bool mx_prometheus_enabled(void);

/* Move the registry's time (wall clock, ms since the epoch): closes the 10 s
 * interval and the 5 s quantile window when their boundary passed. Called
 * by runtime.c's timer and before every output. */
void mx_set_time(uint64_t now_ms);

/* ---- updates (the hot path: a few stores, no lock, no clock) ------------- */
void mx_incr(enum mx_id id, double v);   /* counter += v */
void mx_gauge(enum mx_id id, double v);  /* gauge = v */
void mx_sample(enum mx_id id, double v); /* one observation */
/* A sample of the milliseconds since t0_ns (base/clock.h cn_now_ns). */
void mx_sample_since(enum mx_id id, uint64_t t0_ns);

/* A series with labels: the first call for a (key1, key2) pair creates it
 * with `labels` (copied; at most MX_MAX_LABELS), later calls find it by the
 * pair alone, so key1/key2 must identify the label values (a route pointer,
 * a method); with labels NULL it only looks. NULL when metrics are off, the
 * name is filtered out, not found (a lookup), or out of memory:
 * mx_series_add accepts NULL. Valid until mx_stop. */
struct mx_series *mx_series(enum mx_id id, const void *key1, uintptr_t key2,
                            const struct mx_label *labels, size_t n);
/* Add v to a counter, set a gauge, or observe a sample. */
void mx_series_add(struct mx_series *s, double v);

/* A gauge read at collection time (every second, and before each output):
 * fn(arg) gives its value. At most 16; id must be a gauge. */
int mx_gauge_fn(enum mx_id id, double (*fn)(void *arg), void *arg);
/* Forget every gauge function whose argument is arg. */
void mx_gauge_fn_remove(void *arg);
/* Run the gauge functions now (a no-op before mx_start). */
void mx_collect(void);

/* ---- output (docs/metrics.md) -------------------------------------------- */
/* /v1/agent/metrics: the last finished interval (the current one while it is
 * the only one), as go-metrics' MetricsSummary. Appends to out; 0 or
 * CN_ENOMEM. */
int mx_format_json(struct cn_buf *out, bool pretty);
/* ?format=prometheus: the text exposition format 0.0.4. 0 or CN_ENOMEM. */
int mx_format_prometheus(struct cn_buf *out);

/* ---- runtime (runtime.c) ---------------------------------------------------
 * The registry's 1 s timer on the loop: moves its time, samples the loop lag,
 * runs the gauge functions and the process gauges (RSS, open fds, uptime).
 * The timer does not keep the loop alive. */
struct uv_loop_s;
int mx_runtime_start(struct uv_loop_s *loop);
/* Close the timer (its close callback runs on the loop). */
void mx_runtime_stop(void);

#endif
