/* tests/integration/c/libcairn_driver.c: libcairn driven line by line by
 * tests/integration/test_libcairn.py against a real agent.
 *
 * argv: SERVICE. The address comes from $CAIRN_HTTP_ADDR.
 * Prints, flushed, one line per event:
 *   change INDEX N ID,ID,...       (the watch callback, on the watch thread)
 * Commands on stdin, one per line, each answered by one line:
 *   pick POLICY KEY                -> "pick KEY ID" or "pick KEY -"
 *   picks POLICY K                 -> "picks ID ID ..." for keys k-0..k-(K-1)
 *   register ID PORT [TTL]         -> "ok" / "err N MSG" (with a TTL check)
 *   deregister ID                  -> "ok" / "err ..."
 *   ttl CHECKID STATUS             -> "ok" / "err ..."
 *   kv put|get|cas KEY [VALUE [INDEX]] -> "ok [VALUE INDEX]" / "err N"
 *   failures                       -> "failures N"
 *   sess create TTLMS LOCKDELAYMS [delete] -> "ok ID" / "err N"
 *   sess renew|destroy ID          -> "ok" / "err N"
 *   keeper ID TTLMS                -> "ok" (renews; "sesslost ID REASON" event on loss)
 *   acquire KEY SID VALUE / release KEY SID -> "lock R" (1, 0 or a negative errno)
 *   elect KEY VALUE TTLMS LOCKDELAYMS -> "ok"; events "elected SID" and "lost REASON"
 *   leader                         -> "leader 0|1"
 *   resign                         -> "ok" (release + destroy)
 *   quit */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/client.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_change(struct cairn_watch *w, const struct cairn_snapshot *s, void *arg)
{
    (void)w;
    (void)arg;
    pthread_mutex_lock(&out_mu);
    printf("change %llu %zu ", (unsigned long long)cairn_snapshot_index(s),
           cairn_snapshot_count(s));
    for (size_t i = 0; i < cairn_snapshot_count(s); i++)
        printf("%s%s", i ? "," : "", cairn_snapshot_instance(s, i)->id);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static void event(const char *fmt, const char *a, long n)
{
    pthread_mutex_lock(&out_mu);
    printf(fmt, a, n);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static void on_elected(struct cairn_election *e, const char *sid, void *arg)
{
    (void)e;
    (void)arg;
    event("elected %s%.0ld", sid, 0);
}

static void on_lost(struct cairn_election *e, int reason, void *arg)
{
    (void)e;
    (void)arg;
    event("lost%s %ld", "", reason);
}

static void on_sess_lost(const char *id, int reason, void *arg)
{
    (void)arg;
    event("sesslost %s %ld", id, reason);
}

static void say(const char *fmt, const char *a, long n)
{
    pthread_mutex_lock(&out_mu);
    printf(fmt, a, n);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int err = 0;
    struct cairn_client *c = cairn_client_new(NULL, &err);
    if (!c)
        return 2;
    struct cairn_watch_opts wo = {
        .cb = on_change, .wait_ms = 60000, .backoff_min_ms = 50, .backoff_max_ms = 500};
    struct cairn_watch *w = cairn_watch_start(NULL, argv[1], &wo, &err);
    if (!w)
        return 2;
    struct cairn_election *el = NULL;
    struct cairn_session_keeper *keeper = NULL;
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL, *cmd = strtok_r(line, " ", &save);
        char *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save);
        char *a3 = strtok_r(NULL, " ", &save);
        if (!cmd)
            continue;
        if (!strcmp(cmd, "quit"))
            break;
        if (!strcmp(cmd, "pick") && a1 && a2) {
            const struct cairn_instance *in = cairn_pick(w, a2, cairn_lb_policy_parse(a1));
            pthread_mutex_lock(&out_mu);
            printf("pick %s %s\n", a2, in ? in->id : "-");
            fflush(stdout);
            pthread_mutex_unlock(&out_mu);
            cairn_instance_release(in);
        } else if (!strcmp(cmd, "picks") && a1 && a2) {
            long k = atol(a2);
            enum cairn_lb_policy p = cairn_lb_policy_parse(a1);
            /* one snapshot for all keys: a consistent view */
            struct cairn_snapshot *s = cairn_watch_snapshot(w);
            struct cairn_lb *t = cairn_snapshot_table(s, p);
            pthread_mutex_lock(&out_mu);
            printf("picks");
            for (long i = 0; i < k; i++) {
                char key[32];
                snprintf(key, sizeof key, "k-%ld", i);
                size_t idx = t ? cairn_lb_pick(t, key, strlen(key)) : CAIRN_LB_NONE;
                printf(" %s", idx == CAIRN_LB_NONE ? "-" : cairn_snapshot_instance(s, idx)->id);
            }
            printf("\n");
            fflush(stdout);
            pthread_mutex_unlock(&out_mu);
            cairn_snapshot_release(s);
        } else if (!strcmp(cmd, "register") && a1 && a2) {
            struct cairn_check ck = {.ttl = a3};
            struct cairn_service sv = {.id = a1,
                                       .name = argv[1],
                                       .address = "127.0.0.1",
                                       .port = atoi(a2),
                                       .checks = &ck,
                                       .nchecks = a3 ? 1 : 0};
            int rc = cairn_register(c, &sv);
            say(rc ? "err %s %ld" : "ok%s", rc ? cairn_client_errmsg(c) : "", rc);
        } else if (!strcmp(cmd, "deregister") && a1) {
            int rc = cairn_deregister(c, a1);
            say(rc ? "err %s %ld" : "ok%s", rc ? cairn_client_errmsg(c) : "", rc);
        } else if (!strcmp(cmd, "ttl") && a1 && a2) {
            int rc = cairn_ttl_update(c, a1, a2, "driver");
            say(rc ? "err %s %ld" : "ok%s", rc ? cairn_client_errmsg(c) : "", rc);
        } else if (!strcmp(cmd, "kv") && a1 && a2) {
            int rc;
            if (!strcmp(a1, "put")) {
                rc = cairn_kv_put(c, a2, a3 ? a3 : "", a3 ? strlen(a3) : 0);
                say(rc ? "err %s %ld" : "ok%s", "", rc);
            } else if (!strcmp(a1, "cas")) {
                char *idx = strtok_r(NULL, " ", &save);
                rc = cairn_kv_cas(c, a2, a3 ? a3 : "", a3 ? strlen(a3) : 0,
                                  idx ? strtoull(idx, NULL, 10) : 0);
                say(rc ? "err %s %ld" : "ok%s", "", rc);
            } else {
                char *val = NULL;
                size_t len = 0;
                uint64_t mi = 0;
                rc = cairn_kv_get(c, a2, &val, &len, &mi);
                pthread_mutex_lock(&out_mu);
                if (rc)
                    printf("err %d\n", rc);
                else
                    printf("ok %s %llu\n", val, (unsigned long long)mi);
                fflush(stdout);
                pthread_mutex_unlock(&out_mu);
                free(val);
            }
        } else if (!strcmp(cmd, "sess") && a1 && a2) {
            int rc;
            if (!strcmp(a1, "create") && a3) {
                char *ld = a3, *beh = strtok_r(NULL, " ", &save);
                struct cairn_session_opts so = {.name = "driver",
                                                .ttl_ms = atol(a2),
                                                .lock_delay_ms = ld ? atol(ld) : 0,
                                                .behavior = beh && !strcmp(beh, "delete")
                                                                ? CAIRN_SESSION_DELETE
                                                                : CAIRN_SESSION_RELEASE};
                char id[CAIRN_SESSION_ID_LEN];
                rc = cairn_session_create(c, &so, id);
                say(rc ? "err %s %ld" : "ok %s%.0ld", rc ? cairn_client_errmsg(c) : id, rc);
            } else {
                rc = !strcmp(a1, "renew") ? cairn_session_renew(c, a2)
                                          : cairn_session_destroy(c, a2);
                say(rc ? "err %s %ld" : "ok%s", rc ? cairn_client_errmsg(c) : "", rc);
            }
        } else if (!strcmp(cmd, "keeper") && a1 && a2) {
            if (keeper)
                cairn_session_keeper_stop(keeper, 0);
            keeper = cairn_session_keeper_start(NULL, a1, atol(a2), on_sess_lost, NULL, &err);
            say(keeper ? "ok%s" : "err %s %ld", "", err);
        } else if (!strcmp(cmd, "acquire") && a1 && a2) {
            int r = cairn_kv_acquire(c, a1, a2, a3, a3 ? strlen(a3) : 0);
            say("lock%s %ld", "", r);
        } else if (!strcmp(cmd, "release") && a1 && a2) {
            int r = cairn_kv_release(c, a1, a2);
            say("lock%s %ld", "", r);
        } else if (!strcmp(cmd, "elect") && a1 && a2 && a3 && !el) {
            char *ld = strtok_r(NULL, " ", &save);
            struct cairn_election_opts eo = {.value = a2,
                                             .value_len = strlen(a2),
                                             .ttl_ms = atol(a3),
                                             .lock_delay_ms = ld ? atol(ld) : 0,
                                             .retry_ms = 100,
                                             .elected = on_elected,
                                             .lost = on_lost};
            el = cairn_election_start(NULL, a1, &eo, &err);
            say(el ? "ok%s" : "err %s %ld", "", err);
        } else if (!strcmp(cmd, "leader")) {
            say("leader%s %ld", "", el ? cairn_election_is_leader(el) : 0);
        } else if (!strcmp(cmd, "resign")) {
            cairn_election_resign(el);
            el = NULL;
            say("ok%s", "", 0);
        } else if (!strcmp(cmd, "failures")) {
            say("failures%s %ld", "", (long)cairn_watch_failures(w));
        } else {
            say("err unknown command%s %ld", "", -EINVAL);
        }
    }
    cairn_election_resign(el);
    if (keeper)
        cairn_session_keeper_stop(keeper, 0);
    cairn_watch_stop(w);
    cairn_client_free(c);
    return 0;
}
