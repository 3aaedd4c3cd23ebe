/* server/renew.c: session renewals (Consul: the Session.Renew RPC, which a
 * follower forwards to the leader; agent/consul/session_endpoint.go). A
 * renewal is never a log write: the leader's TTL clocks live in memory
 * (api/session_ttl.c, which installs the handler), so a follower sends the
 * session id to the leader (SRV_FWD_RENEW) and relays its answer. A
 * renewal is idempotent, so resending it is harmless: to a new leader at
 * once, to the same one after an election timeout without an answer; after
 * the hold timeout it fails with CN_EAGAIN ("No cluster leader"). */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

void srv_set_renew_handler(struct srv *s, srv_renew_fn fn, void *arg)
{
    s->renew_fn = fn;
    s->renew_arg = arg;
}

static void finish(struct srv *s, struct renew *w, int rc)
{
    LIST_DEL(&s->renews, w);
    srv_renew_cb cb = w->cb;
    void *arg = w->arg;
    cn_free(w);
    cb(arg, rc);
}

static int renew_here(struct srv *s, const char *session)
{
    return s->renew_fn ? s->renew_fn(s->renew_arg, session) : CN_ENOTFOUND;
}

/* Renew w now if this server leads; else (re)send it to the leader when it
 * was not sent to this one yet or its answer is an election timeout late. */
static void dispatch(struct srv *s, struct renew *w, uint64_t now)
{
    if (s->role == RAFT_LEADER) {
        finish(s, w, renew_here(s, w->session));
        return;
    }
    if (s->leader == RAFT_NONE || !s->x)
        return; /* held until a leader is known */
    if (w->req_id && now - w->sent_at < s->election_ticks * s->tick_ms)
        return;
    struct srv_fwd_req *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return; /* tried again on the next tick */
    m->kind = SRV_FWD_RENEW;
    m->req_id = srv__next_id(s);
    snprintf(m->u.renew.session, sizeof(m->u.renew.session), "%s", w->session);
    if (srv__send_req(s, s->leader, m) == 0) {
        w->req_id = m->req_id;
        w->sent_at = now;
    }
    cn_free(m);
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
    struct renew *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return CN_ENOMEM;
    memcpy(w->session, session, strlen(session) + 1);
    w->cb = cb;
    w->arg = arg;
    uint64_t now = uv_now(s->loop);
    w->deadline = now + s->hold_ms;
    LIST_PUSH(&s->renews, w);
    dispatch(s, w, now);
    return 0;
}

/* The leader: a follower's renewal. Only a leader renews; anyone else says
 * NOT_LEADER and the follower asks again once it knows the new leader. */
void srv__on_renew(struct srv *s, uint64_t from, const struct srv_fwd_req *m)
{
    struct srv_fwd_resp a = {.kind = SRV_FWD_RENEW, .req_id = m->req_id};
    if (s->role != RAFT_LEADER)
        a.code = SRV_FWD_NOT_LEADER;
    else
        a.code = srv_fwd_code_from_err(renew_here(s, m->u.renew.session));
    srv__send_resp(s, from, &a);
}

void srv__renew_answer(struct srv *s, const struct srv_fwd_resp *m)
{
    for (struct renew *w = s->renews.head; w; w = w->next) {
        if (!w->req_id || w->req_id != m->req_id)
            continue;
        int rc = srv_fwd_err_from_code(m->code);
        if (rc == CN_EAGAIN) {
            w->req_id = 0; /* not the leader (any more): asked again on the next tick */
            return;
        }
        finish(s, w, rc);
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
            finish(s, w, CN_EAGAIN);
        else
            dispatch(s, w, now);
    }
}

void srv__renews_fail(struct srv *s, int rc)
{
    while (s->renews.head)
        finish(s, s->renews.head, rc);
}
