/* client/session.c: sessions (create, destroy, renew) and the keeper thread
 * that renews a TTL session and reports its loss
 * (website/content/api-docs/session.mdx). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "client/client_int.h"

int cairn__session_parse_id(const char *body, char id[CAIRN_SESSION_ID_LEN])
{
    struct json_object *o = json_tokener_parse(body), *v;
    int rc = -EPROTO;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "ID", &v) &&
        json_object_is_type(v, json_type_string)) {
        size_t n = (size_t)json_object_get_string_len(v);
        const char *s = json_object_get_string(v);
        if (n > 0 && n < CAIRN_SESSION_ID_LEN && strlen(s) == n) {
            memcpy(id, s, n + 1);
            rc = 0;
        }
    }
    json_object_put(o);
    return rc;
}

static void add_ms(struct json_object *o, const char *k, long ms)
{
    char d[32];
    snprintf(d, sizeof d, "%ldms", ms);
    json_object_object_add(o, k, json_object_new_string(d));
}

int cairn_session_create(struct cairn_client *c, const struct cairn_session_opts *so,
                         char id[CAIRN_SESSION_ID_LEN])
{
    static const struct cairn_session_opts none = {0};
    if (!so)
        so = &none;
    if (!c || !id || so->ttl_ms < 0 ||
        (so->ttl_ms && (so->ttl_ms < 10000 || so->ttl_ms > 86400000)) ||
        (so->lock_delay_ms < 0 && so->lock_delay_ms != CAIRN_NO_LOCK_DELAY) ||
        (so->behavior != CAIRN_SESSION_RELEASE && so->behavior != CAIRN_SESSION_DELETE) ||
        (so->nnode_checks && !so->node_checks) || (so->nservice_checks && !so->service_checks))
        return -EINVAL;
    struct json_object *o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    if (so->name)
        json_object_object_add(o, "Name", json_object_new_string(so->name));
    if (so->node)
        json_object_object_add(o, "Node", json_object_new_string(so->node));
    if (so->ttl_ms)
        add_ms(o, "TTL", so->ttl_ms);
    if (so->lock_delay_ms)
        add_ms(o, "LockDelay", so->lock_delay_ms == CAIRN_NO_LOCK_DELAY ? 0 : so->lock_delay_ms);
    json_object_object_add(
        o, "Behavior",
        json_object_new_string(so->behavior == CAIRN_SESSION_DELETE ? "delete" : "release"));
    if (so->nnode_checks) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; i < so->nnode_checks; i++)
            json_object_array_add(a, json_object_new_string(so->node_checks[i]));
        json_object_object_add(o, "NodeChecks", a);
    }
    if (so->nservice_checks) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; i < so->nservice_checks; i++) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "ID", json_object_new_string(so->service_checks[i]));
            json_object_array_add(a, e);
        }
        json_object_object_add(o, "ServiceChecks", a);
    }
    const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc =
        body ? cairn__req(c, "PUT", "/v1/session/create", "", body, strlen(body), false) : -ENOMEM;
    json_object_put(o);
    if (!rc)
        rc = cairn__status(c, false);
    if (!rc && (rc = cairn__session_parse_id(c->body.p ? c->body.p : "", id)))
        snprintf(c->err, sizeof c->err, "session create: no ID in the answer");
    return rc;
}

static int put_id(struct cairn_client *c, const char *prefix, const char *id)
{
    if (!c || !id || !*id)
        return -EINVAL;
    struct cairn__buf p = {0};
    int rc = cairn__buf_add(&p, prefix, strlen(prefix));
    if (!rc)
        rc = cairn__buf_esc(&p, id, false);
    if (!rc)
        rc = cairn__req(c, "PUT", p.p, "", NULL, 0, false);
    cairn__buf_free(&p);
    return rc ? rc : cairn__status(c, false); /* 404: -ENOENT with its message */
}

int cairn_session_destroy(struct cairn_client *c, const char *id)
{
    return put_id(c, "/v1/session/destroy/", id);
}

int cairn_session_renew(struct cairn_client *c, const char *id)
{
    return put_id(c, "/v1/session/renew/", id);
}

/* ---- keeper ----------------------------------------------------------------- */

struct cairn_session_keeper {
    struct cairn_client c;
    char id[CAIRN_SESSION_ID_LEN];
    long ttl_ms, base_timeout;
    cairn_session_lost_cb lost;
    void *arg;
    pthread_t thread;
    atomic_bool stop;
    atomic_ullong renewals;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep until the monotonic time `until` (ms) or stop. */
static void sleep_until(struct cairn_session_keeper *k, int64_t until)
{
    pthread_mutex_lock(&k->mu);
    while (!atomic_load(&k->stop)) {
        int64_t left = until - now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&k->cv, &k->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&k->mu);
}

static void *keeper_main(void *arg)
{
    struct cairn_session_keeper *k = arg;
    /* The servers' timer restarts when they receive a renewal, which is
     * after we sent it: counting from the send keeps our deadline earlier
     * than theirs. Before the first success: from the start. */
    int64_t deadline = now_ms() + k->ttl_ms;
    long retry = k->ttl_ms / 10 > 0 ? k->ttl_ms / 10 : 1;
    long base_timeout = k->base_timeout;
    while (!atomic_load(&k->stop)) {
        int64_t sent = now_ms();
        if (sent >= deadline) {
            if (k->lost)
                k->lost(k->id, -ETIMEDOUT, k->arg);
            break;
        }
        /* never wait on a request past the deadline */
        long left = (long)(deadline - sent);
        k->c.timeout_ms = left < base_timeout ? left : base_timeout;
        int rc = cairn_session_renew(&k->c, k->id);
        if (rc == -ECANCELED || atomic_load(&k->stop))
            break;
        if (rc == -ENOENT) {
            if (k->lost)
                k->lost(k->id, -ENOENT, k->arg);
            break;
        }
        if (rc == 0) {
            atomic_fetch_add(&k->renewals, 1);
            deadline = sent + k->ttl_ms;
            sleep_until(k, sent + k->ttl_ms / 2);
        } else {
            int64_t next = now_ms() + retry;
            sleep_until(k, next < deadline ? next : deadline);
        }
    }
    return NULL;
}

struct cairn_session_keeper *cairn_session_keeper_start(const struct cairn_client_opts *opts,
                                                        const char *id, long ttl_ms,
                                                        cairn_session_lost_cb lost, void *arg,
                                                        int *err)
{
    int e = -EINVAL;
    struct cairn_session_keeper *k = NULL;
    if (!id || !*id || strlen(id) >= CAIRN_SESSION_ID_LEN || ttl_ms <= 0)
        goto fail;
    e = -ENOMEM;
    if (!(k = calloc(1, sizeof *k)))
        goto fail;
    if ((e = cairn__client_init(&k->c, opts)))
        goto fail;
    memcpy(k->id, id, strlen(id) + 1);
    k->c.stop = &k->stop;
    k->ttl_ms = ttl_ms;
    k->base_timeout = k->c.timeout_ms;
    k->lost = lost;
    k->arg = arg;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
        e = -EAGAIN;
        cairn__client_close(&k->c);
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        goto fail;
    }
    return k;
fail:
    free(k);
    if (err)
        *err = e;
    return NULL;
}

int cairn_session_keeper_stop(struct cairn_session_keeper *k, int destroy)
{
    if (!k)
        return -EINVAL;
    pthread_mutex_lock(&k->mu);
    atomic_store(&k->stop, true);
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    cairn__wake(&k->c);
    pthread_join(k->thread, NULL);
    int rc = 0;
    if (destroy) {
        k->c.stop = NULL; /* the thread is gone: a plain handle again */
        k->c.timeout_ms = k->base_timeout;
        rc = cairn_session_destroy(&k->c, k->id);
    }
    cairn__client_close(&k->c);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
    return rc;
}

uint64_t cairn_session_keeper_renewals(const struct cairn_session_keeper *k)
{
    return atomic_load(&((struct cairn_session_keeper *)k)->renewals);
}
