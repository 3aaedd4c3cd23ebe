/* server/renew.c: requests only the leader answers, neither of them a log
 * write: session renewals (Consul: the Session.Renew RPC, which a follower
 * forwards to the leader; agent/consul/session_endpoint.go) and questions
 * about the leader's own memory (Consul's reads forwarded to the leader
 * unless ?stale, e.g. ACL.ReplicationStatus). The leader's TTL clocks and
 * whatever answers a question live above this module (api/session_ttl.c,
 * api/acl_repl.c install the handlers), so a follower sends the session id
 * (SRV_FWD_RENEW) or the question's name (SRV_FWD_ASK) to the leader and
 * relays its answer. Both are idempotent, so resending is harmless: to a
 * new leader at once, to the same one after an election timeout without an
 * answer; after the hold timeout the caller gets CN_EAGAIN ("No cluster
 * leader"). */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

_Static_assert(SRV_ASK_MAX == SRV_FWD_ASK_MAX, "a question's name fits the wire");
_Static_assert(SRV_ASK_ANSWER_MAX == SRV_FWD_ANSWER_MAX, "an answer fits the wire");
_Static_assert(SRV_FWD_ASK_MAX <= SRV_FWD_SESSION_MAX, "struct renew's key holds a question");

void srv_set_renew_handler(struct srv *s, srv_renew_fn fn, void *arg)
{
    s->renew_fn = fn;
    s->renew_arg = arg;
}

void srv_set_ask_handler(struct srv *s, srv_ask_fn fn, void *arg)
{
    s->ask_fn = fn;
    s->ask_arg = arg;
}

static void finish(struct srv *s, struct renew *w, int rc, const void *answer, size_t len)
{
    LIST_DEL(&s->renews, w);
    srv_renew_cb cb = w->cb;
    srv_ask_cb ask_cb = w->ask_cb;
    void *arg = w->arg;
    cn_free(w);
    if (ask_cb)
        ask_cb(arg, rc, rc ? NULL : answer, rc ? 0 : len);
    else
        cb(arg, rc);
}

static int renew_here(struct srv *s, const char *session)
{
    return s->renew_fn ? s->renew_fn(s->renew_arg, session) : CN_ENOTFOUND;
}

/* The leader's answer to `what` in *out: 0, or the handler's code (an
 * answer over the wire's limit is CN_ETOOBIG). */
static int ask_here(struct srv *s, const char *what, struct cn_buf *out)
{
    if (!s->ask_fn)
        return CN_ENOTFOUND;
    int rc = s->ask_fn(s->ask_arg, what, out);
    if (!rc && out->len > SRV_ASK_ANSWER_MAX)
        rc = CN_ETOOBIG;
    return rc;
}

/* Answer w here (this server leads). */
static void finish_here(struct srv *s, struct renew *w)
{
    if (w->kind == SRV_FWD_RENEW) {
        finish(s, w, renew_here(s, w->key), NULL, 0);
        return;
    }
    struct cn_buf b = CN_BUF_INIT;
    int rc = ask_here(s, w->key, &b);
    finish(s, w, rc, b.p, b.len);
    cn_buf_free(&b);
}

/* Answer w now if this server leads; else (re)send it to the leader when it
 * was not sent to this one yet or its answer is an election timeout late. */
static void dispatch(struct srv *s, struct renew *w, uint64_t now)
{
    if (s->role == RAFT_LEADER) {
        finish_here(s, w);
        return;
    }
    if (s->leader == RAFT_NONE || !s->x)
        return; /* held until a leader is known */
    if (w->req_id && now - w->sent_at < s->election_ticks * s->tick_ms)
        return;
    struct srv_fwd_req *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return; /* tried again on the next tick */
    m->kind = w->kind;
    m->req_id = srv__next_id(s);
    if (w->kind == SRV_FWD_RENEW)
        snprintf(m->u.renew.session, sizeof(m->u.renew.session), "%s", w->key);
    else
        snprintf(m->u.ask.what, sizeof(m->u.ask.what), "%s", w->key);
    if (srv__send_req(s, s->leader, m) == 0) {
        w->req_id = m->req_id;
        w->sent_at = now;
    }
    cn_free(m);
}

/* Queue a request (this server does not lead), sent at once if it can be. */
static int enqueue(struct srv *s, enum srv_fwd_kind kind, const char *key, srv_renew_cb cb,
                   srv_ask_cb ask_cb, void *arg)
{
    struct renew *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return CN_ENOMEM;
    w->kind = kind;
    memcpy(w->key, key, strlen(key) + 1);
    w->cb = cb;
    w->ask_cb = ask_cb;
    w->arg = arg;
    uint64_t now = uv_now(s->loop);
    w->deadline = now + s->hold_ms;
    LIST_PUSH(&s->renews, w);
    dispatch(s, w, now);
    return 0;
}

int srv_session_renew(struct srv *s, const char *session, srv_renew_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (!*session || strlen(session) >= SRV_FWD_SESSION_MAX || s->cl)
        return CN_EINVAL; /* a client agent forwards /v1/session/renew whole */
    if (s->role == RAFT_LEADER) {
        cb(arg, renew_here(s, session));
        return 0;
    }
    return enqueue(s, SRV_FWD_RENEW, session, cb, NULL, arg);
}

int srv_ask_leader(struct srv *s, const char *what, srv_ask_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (!*what || strlen(what) >= SRV_ASK_MAX || s->cl)
        return CN_EINVAL; /* a client agent forwards the HTTP request whole */
    if (s->role == RAFT_LEADER) {
        struct cn_buf b = CN_BUF_INIT;
        int rc = ask_here(s, what, &b);
        cb(arg, rc, rc ? NULL : b.p, rc ? 0 : b.len);
        cn_buf_free(&b);
        return 0;
    }
    return enqueue(s, SRV_FWD_ASK, what, NULL, cb, arg);
}

/* The leader: a follower's renewal or question. Only a leader answers;
 * anyone else says NOT_LEADER and the follower asks again once it knows the
 * new leader. */
void srv__on_renew(struct srv *s, uint64_t from, const struct srv_fwd_req *m)
{
    struct srv_fwd_resp a = {.kind = m->kind, .req_id = m->req_id};
    struct cn_buf b = CN_BUF_INIT;
    if (s->role != RAFT_LEADER) {
        a.code = SRV_FWD_NOT_LEADER;
    } else if (m->kind == SRV_FWD_RENEW) {
        a.code = srv_fwd_code_from_err(renew_here(s, m->u.renew.session));
    } else {
        a.code = srv_fwd_code_from_err(ask_here(s, m->u.ask.what, &b));
        if (a.code == SRV_FWD_OK) {
            a.answer = b.p;
            a.answer_len = b.len;
        }
    }
    srv__send_resp(s, from, &a);
    cn_buf_free(&b);
}

void srv__renew_answer(struct srv *s, const struct srv_fwd_resp *m)
{
    for (struct renew *w = s->renews.head; w; w = w->next) {
        if (!w->req_id || w->req_id != m->req_id || w->kind != m->kind)
            continue;
        int rc = srv_fwd_err_from_code(m->code);
        if (rc == CN_EAGAIN) {
            w->req_id = 0; /* not the leader (any more): asked again on the next tick */
            return;
        }
        finish(s, w, rc, m->answer, m->answer_len);
        return;
    }
    /* an answer to a resend already answered, or to a caller gone at close */
}

void srv__renews_tick(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct renew *w = s->renews.head, *nx; w; w = nx) {
        nx = w->next;
        if (now >= w->deadline)
            finish(s, w, CN_EAGAIN, NULL, 0);
        else
            dispatch(s, w, now);
    }
}

void srv__renews_fail(struct srv *s, int rc)
{
    while (s->renews.head)
        finish(s, s->renews.head, rc, NULL, 0);
}
