/* client/election.c: leader election on a KV key with a session, Consul's
 * recipe (its "Application leader election" doc, developer.hashicorp.com,
 * and the Go client's api/lock.go): acquire; when refused, block on the key
 * until its Session is empty and retry, with a timed retry while a free key
 * is in lock-delay. docs/leader-election.md states the guarantees. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"

struct cairn_election {
    struct cairn_client c; /* the campaign's requests; c.stop = &intr */
    struct cairn_client_opts copts;
    char *addr, *token; /* copts' strings, owned */
    char *key;
    void *value;
    size_t value_len;
    char *session_name;
    long ttl_ms, lock_delay_ms, wait_ms, retry_ms;
    cairn_elected_cb elected;
    cairn_lost_cb lost;
    void *arg;
    pthread_t thread;
    atomic_bool stop; /* resign */
    atomic_bool intr; /* wakes a request of the campaign: resign or session loss */
    /* under mu: the leader state and every callback */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool leader, sess_lost, resigning;
    char sid[CAIRN_SESSION_ID_LEN];
    struct cairn_session_keeper *keeper;
};

static void interrupt(struct cairn_election *e)
{
    atomic_store(&e->intr, true);
    cairn__wake(&e->c);
}

static void sleep_ms(struct cairn_election *e, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stop) && !e->sess_lost)
        if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&e->mu);
}

/* The keeper's thread: the session is gone (or may be from now on). */
static void on_session_lost(const char *id, int reason, void *arg)
{
    (void)id;
    struct cairn_election *e = arg;
    pthread_mutex_lock(&e->mu);
    e->sess_lost = true;
    if (e->leader && !e->resigning) {
        e->leader = false;
        if (e->lost)
            e->lost(e, reason, e->arg);
    }
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    interrupt(e);
}

/* Lose the lead for `reason` (the campaign's thread). */
static void step_down(struct cairn_election *e, int reason)
{
    pthread_mutex_lock(&e->mu);
    if (e->leader && !e->resigning) {
        e->leader = false;
        if (e->lost)
            e->lost(e, reason, e->arg);
    }
    pthread_mutex_unlock(&e->mu);
}

static bool new_session(struct cairn_election *e)
{
    if (e->keeper) {
        cairn_session_keeper_stop(e->keeper, 1); /* destroy: harmless when already gone */
        e->keeper = NULL;
    }
    /* no keeper can report any more: clear the loss so retries sleep */
    pthread_mutex_lock(&e->mu);
    e->sess_lost = false;
    pthread_mutex_unlock(&e->mu);
    struct cairn_session_opts so = {
        .name = e->session_name, .ttl_ms = e->ttl_ms, .lock_delay_ms = e->lock_delay_ms};
    char sid[CAIRN_SESSION_ID_LEN];
    if (cairn_session_create(&e->c, &so, sid) != 0)
        return false;
    pthread_mutex_lock(&e->mu);
    memcpy(e->sid, sid, sizeof sid);
    pthread_mutex_unlock(&e->mu);
    int err = 0;
    e->keeper = cairn_session_keeper_start(&e->copts, sid, e->ttl_ms, on_session_lost, e, &err);
    if (!e->keeper) {
        cairn_session_destroy(&e->c, sid);
        return false;
    }
    return true;
}

static void *campaign_main(void *arg)
{
    struct cairn_election *e = arg;
    struct cairn__buf path = {0};
    const char *k = e->key[0] == '/' ? e->key + 1 : e->key; /* as kv.c's key_path */
    if (cairn__buf_add(&path, "/v1/kv/", 7) || cairn__buf_esc(&path, k, true))
        goto out;
    uint64_t index = 0;
    bool have = false;
    while (!atomic_load(&e->stop)) {
        atomic_store(&e->intr, false);
        pthread_mutex_lock(&e->mu);
        bool lost = e->sess_lost, leader = e->leader;
        pthread_mutex_unlock(&e->mu);
        if (!have || lost) {
            if (!(have = new_session(e))) {
                sleep_ms(e, e->retry_ms);
                continue;
            }
            index = 0;
            leader = false;
        }
        if (!leader && index == 0) {
            int r = cairn_kv_acquire(&e->c, e->key, e->sid, e->value, e->value_len);
            if (r < 0) {
                if (r != -ECANCELED)
                    sleep_ms(e, e->retry_ms);
                continue;
            }
            if (r == 1) {
                pthread_mutex_lock(&e->mu);
                if (!e->sess_lost && !e->resigning) {
                    e->leader = true;
                    if (e->elected)
                        e->elected(e, e->sid, e->arg);
                }
                pthread_mutex_unlock(&e->mu);
            }
        }
        /* read the key: blocking once we have an index */
        char q[64] = "";
        if (index)
            snprintf(q, sizeof q, "index=%llu&wait=%ldms", (unsigned long long)index, e->wait_ms);
        int rc = cairn__req(&e->c, "GET", path.p, q, NULL, 0, index != 0);
        if (rc == -ECANCELED)
            continue; /* resign or session loss: the loop top sorts it out */
        if (rc || (e->c.status != 200 && e->c.status != 404)) {
            index = 0;
            sleep_ms(e, e->retry_ms);
            continue;
        }
        char holder[CAIRN_SESSION_ID_LEN] = "";
        if (e->c.status == 200 &&
            cairn__kv_parse_session(e->c.body.p ? e->c.body.p : "", holder, NULL) != 0) {
            index = 0;
            sleep_ms(e, e->retry_ms);
            continue;
        }
        uint64_t ni = e->c.has_index && e->c.index ? e->c.index : 1;
        bool mine = strcmp(holder, e->sid) == 0;
        pthread_mutex_lock(&e->mu);
        leader = e->leader;
        pthread_mutex_unlock(&e->mu);
        if (leader && !mine) {
            step_down(e, -ECANCELED);
            /* our session may still be valid: start over with a fresh one so
             * nothing of the old term lingers */
            have = false;
            index = 0;
        } else if (!leader && !holder[0]) {
            if (index == 0) /* just refused while free: lock-delay, a timed retry */
                sleep_ms(e, e->retry_ms);
            index = 0; /* free: try again */
        } else {
            index = ni < index ? 0 : ni;
            if (!leader && mine)
                index = 0; /* ours without our knowing (a lost answer): acquire again */
        }
    }
out:
    cairn__buf_free(&path);
    /* resign: release (no lock-delay), then destroy the session */
    atomic_store(&e->intr, false);
    e->c.stop = NULL;
    pthread_mutex_lock(&e->mu);
    bool leader = e->leader;
    e->leader = false;
    pthread_mutex_unlock(&e->mu);
    if (leader)
        cairn_kv_release(&e->c, e->key, e->sid);
    if (e->keeper)
        cairn_session_keeper_stop(e->keeper, 1);
    e->keeper = NULL;
    return NULL;
}

static void election_free(struct cairn_election *e)
{
    free(e->addr);
    free(e->token);
    free(e->key);
    free(e->value);
    free(e->session_name);
    free(e);
}

static char *dup_or_null(const char *s, bool *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = true;
    return d;
}

struct cairn_election *cairn_election_start(const struct cairn_client_opts *copts, const char *key,
                                            const struct cairn_election_opts *eo, int *err)
{
    int e_ = -EINVAL;
    struct cairn_election *e = NULL;
    if (!key || !*key || !eo || (eo->value_len && !eo->value) || eo->ttl_ms < 0 ||
        (eo->ttl_ms && eo->ttl_ms < 10000) || eo->wait_ms < 0 || eo->retry_ms < 0)
        goto fail;
    e_ = -ENOMEM;
    bool bad = false;
    if (!(e = calloc(1, sizeof *e)))
        goto fail;
    if (copts) {
        e->copts = *copts;
        e->copts.addr = e->addr = dup_or_null(copts->addr, &bad);
        e->copts.token = e->token = dup_or_null(copts->token, &bad);
    }
    e->key = dup_or_null(key, &bad);
    e->session_name = dup_or_null(eo->session_name ? eo->session_name : "libcairn-election", &bad);
    if (eo->value_len && (e->value = malloc(eo->value_len)))
        memcpy(e->value, eo->value, eo->value_len);
    else if (eo->value_len)
        bad = true;
    if (bad)
        goto fail;
    e->value_len = eo->value_len;
    e->ttl_ms = eo->ttl_ms ? eo->ttl_ms : 15000;
    e->lock_delay_ms = eo->lock_delay_ms;
    e->wait_ms = eo->wait_ms ? eo->wait_ms : 60000;
    e->retry_ms = eo->retry_ms ? eo->retry_ms : 1000;
    e->elected = eo->elected;
    e->lost = eo->lost;
    e->arg = eo->arg;
    if ((e_ = cairn__client_init(&e->c, &e->copts)))
        goto fail;
    e->c.stop = &e->intr;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (pthread_create(&e->thread, NULL, campaign_main, e) != 0) {
        e_ = -EAGAIN;
        cairn__client_close(&e->c);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        goto fail;
    }
    return e;
fail:
    if (e)
        election_free(e);
    if (err)
        *err = e_;
    return NULL;
}

int cairn_election_is_leader(struct cairn_election *e)
{
    pthread_mutex_lock(&e->mu);
    int l = e->leader;
    pthread_mutex_unlock(&e->mu);
    return l;
}

void cairn_election_resign(struct cairn_election *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->resigning = true;
    atomic_store(&e->stop, true);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    interrupt(e);
    pthread_join(e->thread, NULL);
    cairn__client_close(&e->c);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    election_free(e);
}
