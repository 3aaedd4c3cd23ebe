/* health/udp.c: UDP checks (agent/checks/check.go CheckUDP): a connected UDP
 * socket sends one empty datagram and waits for the timeout. An answer, or
 * silence until the timeout, is passing ("UDP connect addr: Success"); an
 * error on the socket (ICMP port unreachable comes back as ECONNREFUSED on a
 * connected socket) is critical. Names are resolved on libuv's pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "health/health_int.h"

struct udp_probe {
    uv_udp_t udp;
    uv_udp_send_t send;
    uv_getaddrinfo_t gai;
    struct health_check *c; /* NULL once abandoned */
    bool udp_init;
    char rbuf[64];
};

/* The one place a probe with a socket is freed: a pending send is
 * cancelled (its callback runs) before this. */
static void on_closed(uv_handle_t *h)
{
    cn_free(h->data);
}

static void release(struct udp_probe *p)
{
    p->c = NULL;
    if (p->udp_init) {
        p->udp_init = false;
        uv_close((uv_handle_t *)&p->udp, on_closed);
    } else {
        cn_free(p);
    }
}

static void result(struct udp_probe *p, const char *raw, const char *why)
{
    struct health_check *c = p->c;
    c->probe = NULL;
    uv_timer_stop(&c->timer);
    char out[600];
    if (!strcmp(raw, "passing"))
        snprintf(out, sizeof(out), "UDP connect %.400s: Success", c->target);
    else
        snprintf(out, sizeof(out), "read udp %.400s: %s", c->target, why);
    release(p);
    health__done(c, raw, out);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct udp_probe *p = h->data;
    *b = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void on_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    struct udp_probe *p = u->data;
    if (!p->c || (n == 0 && !addr))
        return; /* abandoned, or nothing to read after all */
    if (n < 0) {
        char why[160];
        snprintf(why, sizeof(why), "read: %s",
                 n == UV_ECONNREFUSED ? "connection refused" : uv_strerror((int)n));
        result(p, "critical", why);
        return;
    }
    result(p, "passing", "");
}

static void on_sent(uv_udp_send_t *req, int status)
{
    struct udp_probe *p = req->data;
    if (!p->c)
        return; /* abandoned: on_closed frees */
    if (status < 0) {
        char why[160];
        snprintf(why, sizeof(why), "write: %s",
                 status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status));
        result(p, "critical", why);
    }
}

static void start(struct udp_probe *p, const struct sockaddr *sa)
{
    struct health_check *c = p->c;
    int rc = uv_udp_init(c->h->loop, &p->udp);
    if (!rc) {
        p->udp_init = true;
        p->udp.data = p;
        rc = uv_udp_connect(&p->udp, sa);
    }
    if (!rc)
        rc = uv_udp_recv_start(&p->udp, on_alloc, on_recv);
    if (!rc) {
        uv_buf_t b = uv_buf_init((char *)"", 0);
        p->send.data = p;
        rc = uv_udp_send(&p->send, &p->udp, &b, 1, NULL, on_sent);
    }
    if (rc) {
        char why[160];
        snprintf(why, sizeof(why), "%s", uv_strerror(rc));
        result(p, "critical", why);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct udp_probe *p = req->data;
    struct sockaddr_storage ss;
    int rc = health__addr_result(status, res, &ss);
    if (!p->c) {
        cn_free(p);
        return;
    }
    if (rc) {
        char why[200];
        snprintf(why, sizeof(why), "lookup: %s", uv_strerror(rc));
        result(p, "critical", why);
        return;
    }
    start(p, (struct sockaddr *)&ss);
}

void health__udp_probe(struct health_check *c)
{
    char host[256], port[16];
    if (health__split_hostport(c->target, host, sizeof(host), port, sizeof(port))) {
        char out[600];
        snprintf(out, sizeof(out), "dial udp %.400s: missing port in address", c->target);
        health__done(c, "critical", out);
        return;
    }
    struct udp_probe *p = cn_calloc(1, sizeof(*p));
    if (!p) {
        health__done(c, "critical", "out of memory");
        return;
    }
    p->c = c;
    c->probe = p;
    health__arm_deadline(c);
    struct sockaddr_storage sa;
    p->gai.data = p;
    int rc = health__addr(c->h->loop, host, port, SOCK_DGRAM, &sa, &p->gai, on_resolved);
    if (rc == 1) {
        start(p, (struct sockaddr *)&sa);
        return;
    }
    if (rc) {
        char why[200];
        snprintf(why, sizeof(why), "lookup: %s", uv_strerror(rc));
        result(p, "critical", why);
    }
}

/* Stopped while in flight: detach; the callbacks only free. */
void health__udp_abort(struct health_check *c)
{
    struct udp_probe *p = c->probe;
    c->probe = NULL;
    if (p) {
        if (!p->udp_init) {
            p->c = NULL;
            uv_cancel((uv_req_t *)&p->gai); /* resolving: on_resolved frees */
        } else {
            release(p);
        }
    }
    c->in_flight = false;
    c->h->in_flight--;
}

/* The deadline with no error: silence is success (Consul's "i/o timeout"). */
void health__udp_timeout(struct health_check *c)
{
    struct udp_probe *p = c->probe;
    if (!p)
        return;
    if (!p->udp_init) { /* still resolving */
        p->c = NULL;
        c->probe = NULL;
        uv_cancel((uv_req_t *)&p->gai);
        health__done(c, "critical", "lookup: i/o timeout");
        return;
    }
    result(p, "passing", "");
}
