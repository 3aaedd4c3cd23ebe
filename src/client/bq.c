/* client/bq.c: the blocking-query loop both watches run on their thread
 * (Consul's blocking queries: website/content/api-docs/features/blocking.mdx).
 * GET path?index=I&wait=W; an answer with a new index goes to on_answer; an
 * index that went backwards resets I to 0 (the doc's "reset the index if it
 * goes backwards"), an index of 0 is treated as 1. A failure (transport or
 * 5xx) is retried after an exponential backoff with full jitter
 * (backoff_min * 2^k, capped at backoff_max, uniform in [d/2, d]) while the
 * owner keeps serving what it had; the first query after a failure does not
 * block, so a reconnect is seen at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"

static void sleep_ms(struct cairn__bq *q, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->mu);
    while (!atomic_load(&q->stop))
        if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&q->mu);
}

static long jitter(struct cairn__bq *q, long d)
{
    q->rng = q->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    long half = d / 2;
    return half + (long)((q->rng >> 33) % (uint64_t)(d - half + 1));
}

static void *bq_main(void *arg)
{
    struct cairn__bq *q = arg;
    uint64_t index = 0;
    long delay = q->backoff_min;
    char qs[64];
    while (!atomic_load(&q->stop)) {
        struct cairn__buf query = {0};
        int rc = cairn__buf_add(&query, q->query, strlen(q->query));
        if (!rc && index) {
            snprintf(qs, sizeof qs, "%sindex=%llu&wait=%ldms", *q->query ? "&" : "",
                     (unsigned long long)index, q->wait_ms);
            rc = cairn__buf_add(&query, qs, strlen(qs));
        }
        if (!rc)
            rc = cairn__req(&q->c, "GET", q->path, query.p, NULL, 0, true);
        cairn__buf_free(&query);
        if (rc == -ECANCELED || atomic_load(&q->stop))
            break;
        bool ok = rc == 0 && (q->c.status == 200 || q->c.status == 404);
        if (!ok) {
            atomic_fetch_add(&q->failures, 1);
            /* after a failure, first ask without blocking: the set may have
             * moved (or the index reset) while we could not see it */
            index = 0;
            sleep_ms(q, jitter(q, delay));
            delay = delay * 2 > q->backoff_max ? q->backoff_max : delay * 2;
            continue;
        }
        atomic_store(&q->failures, 0);
        delay = q->backoff_min;
        uint64_t ni = q->c.has_index ? q->c.index : 0;
        if (ni == 0)
            ni = 1;
        if (ni != index || index == 0) {
            q->on_answer(q, q->c.status, q->c.body.p ? q->c.body.p : "", q->c.body.len, ni);
        }
        index = ni < index ? 0 : ni;
    }
    return NULL;
}

int cairn__bq_start(struct cairn__bq *q, const struct cairn_client_opts *o)
{
    int e = cairn__client_init(&q->c, o);
    if (e)
        return e;
    q->c.stop = &q->stop;
    q->rng = (uint64_t)(uintptr_t)q ^ (uint64_t)time(NULL);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->thread, NULL, bq_main, q) != 0) {
        cairn__client_close(&q->c);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        return -EAGAIN;
    }
    return 0;
}

void cairn__bq_stop(struct cairn__bq *q)
{
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->stop, true);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    cairn__wake(&q->c);
    pthread_join(q->thread, NULL);
    cairn__client_close(&q->c);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}
