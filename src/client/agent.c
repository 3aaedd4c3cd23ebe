/* client/agent.c: registering service instances with the local agent, TTL
 * updates and the heartbeat thread (Consul's agent/service and agent/check
 * endpoints: website/content/api-docs/agent/service.mdx, check.mdx). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "client/client_int.h"

static void put_str(struct json_object *o, const char *k, const char *v)
{
    if (v)
        json_object_object_add(o, k, json_object_new_string(v));
}

int cairn_register(struct cairn_client *c, const struct cairn_service *s)
{
    if (!c || !s || !s->name || !*s->name || s->port < 0 || s->port > 65535 ||
        (s->ntags && !s->tags) || (s->nchecks && !s->checks))
        return -EINVAL;
    struct json_object *o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    put_str(o, "ID", s->id);
    put_str(o, "Name", s->name);
    put_str(o, "Address", s->address);
    if (s->port)
        json_object_object_add(o, "Port", json_object_new_int(s->port));
    if (s->ntags) {
        struct json_object *t = json_object_new_array();
        for (size_t i = 0; i < s->ntags; i++)
            json_object_array_add(t, json_object_new_string(s->tags[i]));
        json_object_object_add(o, "Tags", t);
    }
    struct json_object *w = json_object_new_object();
    json_object_object_add(w, "Passing",
                           json_object_new_int64(s->weight_passing ? s->weight_passing : 1));
    json_object_object_add(w, "Warning",
                           json_object_new_int64(s->weight_warning ? s->weight_warning : 1));
    json_object_object_add(o, "Weights", w);
    if (s->nchecks) {
        struct json_object *cs = json_object_new_array();
        for (size_t i = 0; i < s->nchecks; i++) {
            const struct cairn_check *k = &s->checks[i];
            struct json_object *co = json_object_new_object();
            put_str(co, "CheckID", k->id);
            put_str(co, "Name", k->name);
            put_str(co, "TTL", k->ttl);
            put_str(co, "HTTP", k->http);
            put_str(co, "TCP", k->tcp);
            put_str(co, "Interval", k->interval);
            put_str(co, "Timeout", k->timeout);
            put_str(co, "DeregisterCriticalServiceAfter", k->deregister_after);
            json_object_array_add(cs, co);
        }
        json_object_object_add(o, "Checks", cs);
    }
    const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc = body
                 ? cairn__req(c, "PUT", "/v1/agent/service/register", "", body, strlen(body), false)
                 : -ENOMEM;
    json_object_put(o);
    return rc ? rc : cairn__status(c, false);
}

static int put_path(struct cairn_client *c, const char *prefix, const char *id, const char *body)
{
    if (!c || !id || !*id)
        return -EINVAL;
    struct cairn__buf p = {0};
    int rc = cairn__buf_add(&p, prefix, strlen(prefix));
    if (!rc)
        rc = cairn__buf_esc(&p, id, false);
    if (!rc)
        rc = cairn__req(c, "PUT", p.p, "", body, body ? strlen(body) : 0, false);
    cairn__buf_free(&p);
    return rc ? rc : cairn__status(c, false);
}

int cairn_deregister(struct cairn_client *c, const char *service_id)
{
    return put_path(c, "/v1/agent/service/deregister/", service_id, NULL);
}

int cairn_ttl_update(struct cairn_client *c, const char *check_id, const char *status,
                     const char *output)
{
    if (!status ||
        (strcmp(status, "passing") && strcmp(status, "warning") && strcmp(status, "critical")))
        return -EINVAL;
    struct json_object *o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    put_str(o, "Status", status);
    put_str(o, "Output", output ? output : "");
    const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc = put_path(c, "/v1/agent/check/update/", check_id, body);
    json_object_put(o);
    return rc;
}

/* ---- heartbeat ------------------------------------------------------------ */

struct cairn_heartbeat {
    struct cairn_client c;
    char *check_id;
    long interval_ms;
    pthread_t thread;
    atomic_bool stop;
    atomic_ullong beats;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *beat_main(void *arg)
{
    struct cairn_heartbeat *h = arg;
    while (!atomic_load(&h->stop)) {
        if (cairn_ttl_update(&h->c, h->check_id, "passing", "libcairn heartbeat") == 0)
            atomic_fetch_add(&h->beats, 1);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += h->interval_ms / 1000;
        ts.tv_nsec += (h->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&h->mu);
        while (!atomic_load(&h->stop))
            if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
}

struct cairn_heartbeat *cairn_heartbeat_start(const struct cairn_client_opts *opts,
                                              const char *check_id, long interval_ms, int *err)
{
    int e = -EINVAL;
    struct cairn_heartbeat *h = NULL;
    if (!check_id || !*check_id || interval_ms <= 0)
        goto fail;
    e = -ENOMEM;
    if (!(h = calloc(1, sizeof *h)) || !(h->check_id = strdup(check_id)))
        goto fail;
    if ((e = cairn__client_init(&h->c, opts)))
        goto fail;
    h->c.stop = &h->stop;
    h->interval_ms = interval_ms;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, beat_main, h) != 0) {
        e = -EAGAIN;
        cairn__client_close(&h->c);
        goto fail;
    }
    return h;
fail:
    if (h)
        free(h->check_id);
    free(h);
    if (err)
        *err = e;
    return NULL;
}

void cairn_heartbeat_stop(struct cairn_heartbeat *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->stop, true);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    cairn__wake(&h->c);
    pthread_join(h->thread, NULL);
    cairn__client_close(&h->c);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->check_id);
    free(h);
}

uint64_t cairn_heartbeat_count(const struct cairn_heartbeat *h)
{
    return atomic_load(&((struct cairn_heartbeat *)h)->beats);
}
