/* health/health_int.h: shared among the files of health/ (health.c:
 * scheduling, counting, TCP; http.c: libcurl). Not a contract for anyone
 * else. All on the loop thread. */
#ifndef CN_HEALTH_INT_H
#define CN_HEALTH_INT_H

#include <curl/curl.h>
#include <json-c/json.h>

#include "health/health.h"

struct health_check {
    struct health *h;
    struct health_check *prev, *next;
    enum health_type type;
    health_result_cb cb;
    void *arg;
    char *target, *method, *body, *tls_server_name;
    char **headers; /* "Name: value" */
    char **args;    /* script argv, NULL-terminated */
    size_t nheaders;
    bool tls_skip_verify;
    bool grpc_tls;   /* GRPCUseTLS */
    bool h2ping_tls; /* H2PingUseTLS */
    uint64_t interval_ms, timeout_ms;
    struct health_counter counter;
    uv_timer_t timer; /* the next run; a TCP probe's deadline while in flight */
    bool in_flight, stopped;
    void *probe; /* TCP: struct tcp_probe; HTTP: struct http_probe */
};

struct health {
    uv_loop_t *loop;
    struct health_check *checks;
    size_t nchecks;
    size_t handles; /* closing handles */
    bool closing;
    uint64_t probes, probes_failed;
    size_t in_flight;
    /* http.c */
    CURLM *multi;
    uv_timer_t curl_timer;
    bool curl_timer_init;
    CURL *pool[32]; /* http.c: reset easy handles for reuse */
    size_t npool;
    CURL **done_batch; /* check_done: finished transfers being handled */
    size_t done_n;
    char *ca_file; /* health_set_ca_file: NULL = the system's CAs */
    /* h2ping.c: one OpenSSL client context, made at the first TLS probe */
    struct ssl_ctx_st *ssl_ctx;
};

void health__maybe_release(struct health *h);
/* A probe finished with raw status and output: count, report, reschedule. */
void health__done(struct health_check *c, const char *raw, const char *output);

/* While a TCP or script probe runs, the check's timer is its deadline. */
void health__arm_deadline(struct health_check *c);

void health__tcp_probe(struct health_check *c);
void health__tcp_abort(struct health_check *c);
void health__tcp_timeout(struct health_check *c);

/* "host:port" / "[v6]:port" into host and port. 0 or CN_EINVAL. */
int health__split_hostport(const char *s, char *host, size_t cap, char *port, size_t pcap);
/* The address of host:port for a probe: 1 with *sa filled when host is an
 * IPv4 or IPv6 literal; else a lookup of `socktype` is started on libuv's
 * thread pool (cb gets it; 0) or could not be (a UV error, < 0). */
int health__addr(uv_loop_t *loop, const char *host, const char *port, int socktype,
                 struct sockaddr_storage *sa, uv_getaddrinfo_t *gai, uv_getaddrinfo_cb cb);
/* The end of a lookup started by health__addr (call it first thing in the
 * callback): the first address into *sa, and res freed. 0, or a UV error
 * (UV_EAI_NONAME for an empty answer). */
int health__addr_result(int status, struct addrinfo *res, struct sockaddr_storage *sa);

void health__udp_probe(struct health_check *c);
void health__udp_abort(struct health_check *c);
void health__udp_timeout(struct health_check *c);

void health__script_probe(struct health_check *c);
void health__script_abort(struct health_check *c);
void health__script_timeout(struct health_check *c);

/* H2PING (h2ping.c): HTTP/2 PING over TCP, or TLS with H2PingUseTLS. */
void health__h2ping_probe(struct health_check *c);
void health__h2ping_abort(struct health_check *c);
void health__h2ping_timeout(struct health_check *c);
void health__h2ping_fini(struct health *h); /* frees the TLS context */

int health__http_init(struct health *h);
void health__http_fini(struct health *h);
void health__http_probe(struct health_check *c);
void health__http_abort(struct health_check *c);

#endif
