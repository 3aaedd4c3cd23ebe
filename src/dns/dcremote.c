/* dns/dcremote.c: SERVICE.service.DC.DOMAIN, NODE.node.DC.DOMAIN and
 * NAME.query.DC.DOMAIN for another datacenter (Consul answers them through
 * an RPC to that datacenter's servers), and a prepared query's failover to
 * other datacenters (dns_options.query_failover: the agent tries them in
 * the query's order and relays the first answer with instances). The query goes, as the client sent
 * it, to the agent's dns_options.dc_remote (its WAN route); that datacenter's DNS interface answers
 * it from its own state (dns_server_answer) with this client's size limit,
 * and the answer is relayed (the client's id is in it already). A failure is
 * SERVFAIL. A TCP client that goes away detaches its questions; stopping the
 * server cancels those in flight (their callbacks never run). */
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "dns/dns_int.h"

struct dns__dcq {
    struct dns__dcq *prev, *next;
    struct dns_server *s;
    struct dns__conn *conn; /* TCP client, or NULL */
    bool udp_client;
    bool failover; /* asked through query_failover (cancelled by qf_cancel) */
    struct sockaddr_storage client;
    uint64_t handle;
    uint8_t hdr[DNS_HDR_LEN]; /* the query's header, for SERVFAIL */
    uint8_t *q;               /* failover: the query, for this server's NXDOMAIN */
    size_t qlen, limit;
    bool small_udp;
};

static void dcq_free(struct dns__dcq *r)
{
    cn_free(r->q);
    cn_free(r);
}

/* No such datacenter: this server's own NXDOMAIN (with the SOA), as for any
 * name it does not know: the resolver again, without the remote path. */
static void answer_nx(struct dns_server *s, const uint8_t *q, size_t len, size_t limit,
                      bool small_udp, const struct sockaddr *addr, struct dns__conn *conn)
{
    struct dns_query dq;
    int action;
    size_t n = 0;
    if (dns_query_decode(q, len, &dq) == DNS_DEC_OK) {
        bool dcr = s->res.dc_remote, qf = s->res.query_failover;
        s->res.dc_remote = false;
        s->res.query_failover = false;
        n = dns__resolve(&s->res, s->state(s->state_arg), &dq, s->wbuf + 2, DNS_TCP_MAX, limit,
                         small_udp, (uint32_t)time(NULL), &action);
        s->res.dc_remote = dcr;
        s->res.query_failover = qf;
        if (action != DNS__ANSWER)
            n = 0;
    }
    if (n) {
        dns__reply(s, s->wbuf + 2, n, addr, conn);
    } else {
        uint8_t h[DNS_HDR_LEN];
        dns_msg_header_only(q, h, DNS_RC_SERVFAIL);
        dns__reply(s, h, sizeof(h), addr, conn);
    }
}

static void unlink_rem(struct dns__dcq *r)
{
    struct dns_server *s = r->s;
    if (r->prev)
        r->prev->next = r->next;
    else
        s->dcqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void on_done(void *ctx, int rc, const uint8_t *answer, size_t n)
{
    struct dns__dcq *r = ctx;
    struct dns_server *s = r->s;
    unlink_rem(r);
    const struct sockaddr *to = r->udp_client ? (const struct sockaddr *)&r->client : NULL;
    if ((r->udp_client || r->conn) && rc == CN_ENOTFOUND && r->q) {
        /* no datacenter had instances: this server's own answer */
        answer_nx(s, r->q, r->qlen, r->limit, r->small_udp, to, r->conn);
    } else if (r->udp_client || r->conn) {
        /* an answer to this query: at least a header, our id */
        if (!rc && n >= DNS_HDR_LEN && answer[0] == r->hdr[0] && answer[1] == r->hdr[1]) {
            dns__reply(s, answer, n, to, r->conn);
        } else {
            uint8_t h[DNS_HDR_LEN];
            dns_msg_header_only(r->hdr, h, DNS_RC_SERVFAIL);
            dns__reply(s, h, sizeof(h), to, r->conn);
        }
    }
    dcq_free(r);
}

/* dc: the datacenter asked (failover false), or the query's name or ID
 * (failover true). */
static void ask(struct dns_server *s, bool failover, const char *dc, const uint8_t *q, size_t len,
                size_t limit, bool small_udp, const struct sockaddr *addr, struct dns__conn *conn)
{
    uint8_t h[DNS_HDR_LEN];
    bool can = failover ? s->query_failover != NULL : s->dc_remote != NULL;
    struct dns__dcq *r = len >= DNS_HDR_LEN && can ? cn_calloc(1, sizeof(*r)) : NULL;
    if (!r) {
        if (len >= DNS_HDR_LEN) {
            dns_msg_header_only(q, h, DNS_RC_SERVFAIL);
            dns__reply(s, h, sizeof(h), addr, conn);
        }
        return;
    }
    r->s = s;
    r->conn = conn;
    r->failover = failover;
    memcpy(r->hdr, q, DNS_HDR_LEN);
    if (failover) {
        r->q = cn_malloc(len);
        if (!r->q) {
            cn_free(r);
            dns_msg_header_only(q, h, DNS_RC_SERVFAIL);
            dns__reply(s, h, sizeof(h), addr, conn);
            return;
        }
        memcpy(r->q, q, len);
        r->qlen = len;
        r->limit = limit;
        r->small_udp = small_udp;
    }
    if (addr) {
        r->udp_client = true;
        memcpy(&r->client, addr,
               addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
    }
    r->next = s->dcqs;
    if (r->next)
        r->next->prev = r;
    s->dcqs = r;
    int rc =
        failover
            ? s->query_failover(s->qf_arg, dc, q, len, limit, small_udp, on_done, r, &r->handle)
            : s->dc_remote(s->dc_arg, dc, q, len, limit, small_udp, on_done, r, &r->handle);
    if (rc == CN_ENOTFOUND) {
        unlink_rem(r);
        dcq_free(r);
        answer_nx(s, q, len, limit, small_udp, addr, conn);
    } else if (rc) {
        on_done(r, rc, NULL, 0);
    }
}

void dns__dc_ask(struct dns_server *s, const char *dc, const uint8_t *q, size_t len, size_t limit,
                 bool small_udp, const struct sockaddr *addr, struct dns__conn *conn)
{
    ask(s, false, dc, q, len, limit, small_udp, addr, conn);
}

void dns__qf_ask(struct dns_server *s, const char *key, const uint8_t *q, size_t len, size_t limit,
                 bool small_udp, const struct sockaddr *addr, struct dns__conn *conn)
{
    ask(s, true, key, q, len, limit, small_udp, addr, conn);
}

void dns__dc_detach(struct dns_server *s, struct dns__conn *conn)
{
    for (struct dns__dcq *r = s->dcqs; r; r = r->next)
        if (r->conn == conn)
            r->conn = NULL;
}

void dns__dc_stop_all(struct dns_server *s)
{
    while (s->dcqs) {
        struct dns__dcq *r = s->dcqs;
        unlink_rem(r);
        if (r->failover && s->qf_cancel)
            s->qf_cancel(s->qf_arg, r->handle);
        else if (!r->failover && s->dc_cancel)
            s->dc_cancel(s->dc_arg, r->handle);
        dcq_free(r);
    }
}
