/* client/client_int.h: what the files of libcairn's src/client/ share: the
 * handle, one request, and the blocking-query loop both watches run. */
#ifndef CAIRN_CLIENT_INT_H
#define CAIRN_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "cairn/client.h"

struct cairn__buf {
    char *p;
    size_t len, cap;
};
int cairn__buf_add(struct cairn__buf *b, const void *p, size_t n);
int cairn__buf_fmt(struct cairn__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cairn__buf_esc(struct cairn__buf *b, const char *s, bool keep_slash);
void cairn__buf_free(struct cairn__buf *b);

struct cairn_client {
    char base[320]; /* "http://host:port" or "https://host:port" */
    char token[256];
    /* https: from $CAIRN_/$CONSUL_CACERT, _CLIENT_CERT, _CLIENT_KEY ("": unset),
     * and $CONSUL_HTTP_SSL_VERIFY=false */
    char ca_file[256], client_cert[256], client_key[256];
    bool no_verify;
    long connect_ms, timeout_ms;
    CURL *easy;
    CURLM *multi;      /* requests run through it so cairn__stop can wake them */
    atomic_bool *stop; /* borrowed from a watch/heartbeat; NULL for plain handles */
    char err[256];
    /* the last response */
    long status;
    uint64_t index;
    bool has_index;
    struct cairn__buf body;
};

/* Fill a handle from opts (env fallbacks). 0 or -EINVAL/-ENOMEM. */
int cairn__client_init(struct cairn_client *c, const struct cairn_client_opts *o);
void cairn__client_close(struct cairn_client *c);
/* One request: method, path ("/v1/..."), query ("" or "a=b&c"), body.
 * Returns 0 with c->status/body/index set, or -EIO (transport, message in
 * c->err), -ECANCELED when *c->stop was raised. `long_poll`: no overall
 * timeout (a blocking query; the server's wait bounds it). */
int cairn__req(struct cairn_client *c, const char *method, const char *path, const char *query,
               const void *body, size_t len, bool long_poll);
/* Map c->status to 0 / -ENOENT / -EPROTO (with a message). */
int cairn__status(struct cairn_client *c, bool allow_404);
/* Wake a request running in c (from another thread). */
void cairn__wake(struct cairn_client *c);

/* ---- the blocking-query loop ---------------------------------------------- */
struct cairn__bq;
/* An answer with a new index: body (NUL-terminated) and status (200/404). */
typedef void (*cairn__bq_fn)(struct cairn__bq *q, long status, const char *body, size_t len,
                             uint64_t index);
struct cairn__bq {
    struct cairn_client c;
    char *path, *query; /* query without index/wait */
    long wait_ms, backoff_min, backoff_max;
    cairn__bq_fn on_answer;
    void *owner;
    pthread_t thread;
    atomic_bool stop;
    atomic_uint failures;
    pthread_mutex_t mu; /* only for the sleep between retries and waits */
    pthread_cond_t cv;
    uint64_t rng;
};
int cairn__bq_start(struct cairn__bq *q, const struct cairn_client_opts *o);
void cairn__bq_stop(struct cairn__bq *q);

/* Parsers of agent answers (fuzzed by tests/fuzz/fuzz_client_answer.c). */
/* A /v1/health/service answer into a snapshot (1 reference), NULL when it
 * is not a JSON array or on ENOMEM. Entries without Node.Node or
 * Service.ID, and critical ones, are left out. */
struct cairn_snapshot *cairn__snapshot_parse(const char *body, uint64_t index);
/* The first entry of a GET /v1/kv answer: value (malloc'd), length,
 * ModifyIndex. 0, -EPROTO or -ENOMEM. */
int cairn__kv_parse_entry(const char *body, char **val, size_t *len, uint64_t *mi);
/* The Session of the first entry of a GET /v1/kv answer into sid ("" when
 * the entry has none), its ModifyIndex into *mi (NULL-able). 0 or -EPROTO
 * (not an array of objects, or a Session too long for an id). */
int cairn__kv_parse_session(const char *body, char sid[CAIRN_SESSION_ID_LEN], uint64_t *mi);
/* The ID of a /v1/session/create answer ({"ID":"..."}). 0 or -EPROTO. */
int cairn__session_parse_id(const char *body, char id[CAIRN_SESSION_ID_LEN]);
/* Publish s (takes its reference) as w's current snapshot, releasing the
 * previous one once no reader can still be taking it (watch.c). */
void cairn__watch_publish(struct cairn_watch *w, struct cairn_snapshot *s);
/* A watch with no thread, for tests of publication; free with
 * cairn__watch_free (releases the current snapshot). */
struct cairn_watch *cairn__watch_alloc(void);
void cairn__watch_free(struct cairn_watch *w);

#endif
