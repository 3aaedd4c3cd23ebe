/* health/health.h: the check runners of the agent (Consul's agent/checks):
 * HTTP probes through libcurl's multi-socket interface driven by the libuv
 * loop, TCP probes as non-blocking uv_tcp connects, scripts as child
 * processes (uv_spawn) in their own process group, killed whole at timeout. Nothing here blocks the
 * loop: a probe is a handful of callbacks.
 *
 * A running check fires its first probe after a random stagger in
 * [0, interval) (Consul's lib.RandomStagger), then `interval` after each probe
 * completes. Each result goes through Consul's StatusHandler counting
 * (SuccessBeforePassing, FailuresBeforeWarning, FailuresBeforeCritical); what
 * passes it is handed to the check's callback with Consul's output text. The
 * callback is called for every counted result, changed or not: deciding what
 * is worth a write belongs to the owner (local/).
 *
 * Probes go only to the address the definition names. All on the loop
 * thread. Knows nothing of the catalog: below local/, above base/. */
#ifndef CN_HEALTH_H
#define CN_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct health;
struct health_check;

enum health_type {
    HEALTH_HTTP = 1,
    HEALTH_TCP = 2,
    HEALTH_SCRIPT = 3, /* a child process in its own process group */
    HEALTH_UDP = 4,    /* one empty datagram; silence or an answer is passing */
    HEALTH_GRPC = 5,   /* grpc.health.v1.Health/Check over HTTP/2 (libcurl) */
    HEALTH_H2PING = 6, /* an HTTP/2 PING (libnghttp2), over TLS with h2ping_use_tls */
};

/* Consul's defaults (agent/checks/check.go). */
#define HEALTH_DEFAULT_TIMEOUT_NS (10LL * 1000000000LL)
#define HEALTH_SCRIPT_TIMEOUT_NS (30LL * 1000000000LL)
#define HEALTH_OUTPUT_MAX 4096

/* A definition; every string is copied by health_start (NULL = ""). */
struct health_def {
    enum health_type type;
    const char *target;      /* HTTP: the URL; TCP, UDP: host:port; gRPC: host:port[/service] */
    const char *const *args; /* script: argv (nargs > 0), run without a shell */
    size_t nargs;
    const char *method;      /* HTTP method, "" = GET */
    const char *header_json; /* {"Name":["v1","v2"]} or "" */
    const char *body;        /* HTTP request body */
    const char *tls_server_name;
    bool tls_skip_verify;
    bool grpc_use_tls;
    bool h2ping_use_tls;
    int64_t interval_ns; /* > 0 */
    int64_t timeout_ns;  /* <= 0: HTTP/TCP min(10 s, interval), script 30 s */
    int success_before_passing, failures_before_warning, failures_before_critical;
};

/* status: "passing", "warning" or "critical"; output NUL-terminated, at most
 * HEALTH_OUTPUT_MAX bytes of response body plus Consul's prefix. Both valid
 * during the call only. The callback may call health_stop on this check. */
typedef void (*health_result_cb)(void *arg, const char *status, const char *output);

/* NULL on out of memory or if libcurl cannot be initialised. */
struct health *health_new(uv_loop_t *loop);
/* Start a check. 0, CN_EINVAL (bad type, interval <= 0, a header map that
 * is not {"k":["v"...]}) or CN_ENOMEM. *out is the handle for health_stop. */
int health_start(struct health *h, const struct health_def *d, health_result_cb cb, void *arg,
                 struct health_check **out);
/* Stop a check: no callback after this returns; an in-flight probe is
 * abandoned (its socket closed). NULL ok. */
void health_stop(struct health_check *c);
/* Stop every check and release h once its handles have closed (the loop
 * must run afterwards). NULL ok. */
void health_free(struct health *h);

/* Verify TLS servers (HTTP, gRPC, H2PING) against the CA certificates in
 * the PEM file `path` (copied; "" = the system's) for probes started from now
 * on. 0 or CN_ENOMEM. */
int health_set_ca_file(struct health *h, const char *path);

/* Counters (for tests and the bench). */
struct health_stats {
    size_t checks;          /* running */
    uint64_t probes;        /* completed probes */
    uint64_t probes_failed; /* of which critical before counting */
    size_t in_flight;
};
void health_stats(const struct health *h, struct health_stats *out);

/* Consul's StatusHandler: the counting alone (pure, for tests). Returns the
 * status to report for a raw result, or NULL when nothing is reported yet. */
struct health_counter {
    int success_before_passing, failures_before_warning, failures_before_critical;
    int successes, failures;
};
const char *health_count(struct health_counter *k, const char *raw_status);

#endif
