/* cli/cmd_lock.c: `cairn lock PREFIX COMMAND...`, Consul's `consul lock`
 * (command/lock and api/lock.go): create a session, acquire PREFIX/.lock
 * with it (waiting with blocking reads while another session holds it), run
 * COMMAND through the shell while renewing the session and watching the
 * key, stop the child if the lock is lost, release and destroy on exit.
 *
 * One thread, one loop: every wait is a blocking read of the key bounded by
 * a short ?wait, so renewals, the child's exit and signals are noticed
 * within POLL. The child runs in its own process group (a lost lock stops
 * the whole group) and dies with this process (PR_SET_PDEATHSIG), so a
 * kill -9 of `cairn lock` does not leave it running unlocked.
 *
 * With -n > 1 it is a semaphore in the Go client's layout (api/semaphore.go):
 * PREFIX/<session> per contender, PREFIX/.lock the holders, so Go's
 * SemaphorePrefix and `cairn lock -n` interoperate. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/mem.h"
#include "cli/cli_int.h"

#define LOCK_FLAG_VALUE "3304740253564472344" /* api.LockFlagValue 0x2ddccbc058a50c18 */
#define SEM_FLAG_VALUE "16210313421097356768" /* api.SemaphoreFlagValue 0xe0f69a2baa414de0 */
#define POLL "500ms"
#define KILL_GRACE_MS 5000

const struct cli_flag cli__lock_flags[] = {
    {"n", CLI_U64, "int",
     "Optional limit on the number of concurrent lock holders (1 = a lock; "
     "more is a semaphore)."},
    {"name", CLI_STR, "string", "Optional name to associate with the lock session."},
    {"timeout", CLI_STR, "duration", "Maximum amount of time to wait to acquire the lock."},
    {"monitor-retry", CLI_U64, "int",
     "Number of times to retry if the agent returns an error while monitoring the lock (3)."},
    {"child-exit-code", CLI_BOOL, NULL, "Exit 2 if the child process exited with an error."},
    {"shell", CLI_BOOL, NULL,
     "Use a shell to run the command (true: /bin/sh -c with the arguments joined; false: the "
     "arguments run as they are)."},
    {"verbose", CLI_BOOL, NULL, "Enable verbose (debugging) output."},
    {"ttl", CLI_STR, "duration", "cairn: the session's TTL (15s)."},
    {"lock-delay", CLI_STR, "duration", "cairn: the session's lock-delay (15s)."},
    {NULL, 0, NULL, NULL},
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct lk {
    struct cli_ctx *c;
    int verbose;
    uint64_t limit;      /* 1: a lock; more: a semaphore */
    char key_path[1200]; /* /v1/kv/PREFIX/.lock, escaped */
    char dir_path[1200]; /* /v1/kv/PREFIX/, escaped (semaphores) */
    char sid[64];
    uint64_t ttl_ms, last_renew;
    uint64_t index; /* X-Consul-Index of the key */
};

static int session_create(struct lk *l, const char *name, const char *ttl, const char *delay)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cli_resp r = {0};
    int ret = 1;
    if (cn_buf_puts(&b, "{\"Name\":") || cli__go_json_str(&b, name, strlen(name)) ||
        cn_buf_puts(&b, ",\"TTL\":") || cli__go_json_str(&b, ttl, strlen(ttl)) ||
        cn_buf_puts(&b, ",\"LockDelay\":") || cli__go_json_str(&b, delay, strlen(delay)) ||
        cn_buf_puts(&b, ",\"Behavior\":\"release\"}")) {
        fprintf(l->c->err, "Error! out of memory\n");
        goto out;
    }
    if (cli__call(l->c, "Failed to create session", "PUT", "/v1/session/create", "", b.p, b.len, 0,
                  &r))
        goto out;
    struct json_object *o = cli__json_body(l->c, "Failed to create session", &r);
    const char *id = NULL;
    if (o && cn_json_get_str(o, "ID", &id) == 1 && id && strlen(id) < sizeof(l->sid)) {
        snprintf(l->sid, sizeof(l->sid), "%s", id);
        ret = 0;
    } else if (o) {
        fprintf(l->c->err, "Failed to create session: no ID in the answer\n");
    }
    json_object_put(o);
out:
    cn_buf_free(&b);
    cli__resp_free(&r);
    return ret;
}

/* Renew when half the TTL passed. 0 ok (or not due), 1 the session is gone,
 * -1 a transport or server error. */
static int maybe_renew(struct lk *l)
{
    uint64_t now = now_ms();
    if (now - l->last_renew < l->ttl_ms / 2)
        return 0;
    char path[128], err[512];
    snprintf(path, sizeof(path), "/v1/session/renew/%s", l->sid);
    struct cli_resp r = {0};
    int rc = cli__http(l->c, "PUT", path, "", NULL, 0, &r, err, sizeof(err));
    long code = r.code;
    cli__resp_free(&r);
    if (rc < 0)
        return -1;
    if (code == 404)
        return 1;
    if (code != 200)
        return -1;
    l->last_renew = now;
    return 0;
}

/* Read the key, blocking up to POLL for a change. Sets *holder to whether
 * our session holds it and *free to whether nobody does. 0, or -1 on error. */
static int read_key(struct lk *l, int *mine, int *unlocked)
{
    char q[128], err[512];
    snprintf(q, sizeof(q), "index=%" PRIu64 "&wait=" POLL, l->index);
    struct cli_resp r = {0};
    int rc = cli__http(l->c, "GET", l->key_path, q, NULL, 0, &r, err, sizeof(err));
    *mine = 0;
    *unlocked = 1;
    if (rc < 0 || (r.code != 200 && r.code != 404)) {
        if (l->verbose)
            fprintf(l->c->err, "Lock monitor: %s (%ld)\n", rc < 0 ? err : "bad status", r.code);
        cli__resp_free(&r);
        sleep_ms(200);
        return -1;
    }
    /* the index header is not kept by cli__http: use ModifyIndex instead */
    if (r.code == 200) {
        struct json_object *o = cn_json_parse(r.body.p, r.body.len, err, sizeof(err));
        struct json_object *e =
            o && json_object_is_type(o, json_type_array) ? json_object_array_get_idx(o, 0) : NULL;
        const char *sess = NULL;
        uint64_t mi = 0;
        if (e) {
            cn_json_get_str(e, "Session", &sess);
            cn_json_get_u64(e, "ModifyIndex", &mi);
        }
        *unlocked = !sess || !*sess;
        *mine = sess && strcmp(sess, l->sid) == 0;
        l->index = mi;
        json_object_put(o);
    } else {
        l->index = 0;
        sleep_ms(100); /* a missing key does not block without an index */
    }
    cli__resp_free(&r);
    return 0;
}

/* PUT ?acquire. 1 acquired, 0 not, -1 error. */
static int try_acquire(struct lk *l)
{
    char q[160], err[512];
    snprintf(q, sizeof(q), "acquire=%s&flags=" LOCK_FLAG_VALUE, l->sid);
    struct cli_resp r = {0};
    int rc = cli__http(l->c, "PUT", l->key_path, q, NULL, 0, &r, err, sizeof(err));
    int ret = rc < 0 || r.code != 200 ? -1 : r.body.p && strncmp(r.body.p, "true", 4) == 0;
    if (ret < 0)
        fprintf(l->c->err, "Lock acquisition failed: %s\n",
                rc < 0     ? err
                : r.body.p ? r.body.p
                           : "");
    cli__resp_free(&r);
    return ret;
}

static void sem_release(struct lk *l);

static void release_and_destroy(struct lk *l)
{
    char q[160], path[128], err[512];
    struct cli_resp r = {0};
    if (l->limit > 1) {
        sem_release(l);
        goto destroy;
    }
    snprintf(q, sizeof(q), "release=%s&flags=" LOCK_FLAG_VALUE, l->sid);
    cli__http(l->c, "PUT", l->key_path, q, NULL, 0, &r, err, sizeof(err));
    cli__resp_free(&r);
destroy:
    snprintf(path, sizeof(path), "/v1/session/destroy/%s", l->sid);
    cli__http(l->c, "PUT", path, "", NULL, 0, &r, err, sizeof(err));
    cli__resp_free(&r);
}

/* ---- semaphores (api/semaphore.go's layout) ------------------------------------
 * Each contender holds PREFIX/<session> with its session; PREFIX/.lock holds
 * {"Limit":N,"Holders":{"<session>":true,...}}, changed only with ?cas. A
 * holder whose contender key lost its session is pruned by the next one to
 * write the lock. */

struct sem_view {
    struct json_object *holders; /* object session -> true (owned) */
    int64_t limit;               /* 0: no lock key yet */
    uint64_t lock_index;         /* its ModifyIndex (0: absent) */
};

static int b64_json(struct json_object *e, struct json_object **out)
{
    const char *v = NULL;
    *out = NULL;
    if (cn_json_get_str(e, "Value", &v) != 1 || !v)
        return 0;
    struct cn_buf raw = CN_BUF_INIT;
    char jerr[128];
    if (cn_base64_decode(&raw, v, strlen(v)) == 0 && raw.len)
        *out = cn_json_parse(raw.p, raw.len, jerr, sizeof(jerr));
    cn_buf_free(&raw);
    return *out ? 0 : -1;
}

/* Read PREFIX/ recursively (blocking on l->index): the lock's holders,
 * pruned of sessions that hold no contender key. 0, or -1 on error. */
static int sem_read(struct lk *l, struct sem_view *v)
{
    char q[128], err[512];
    snprintf(q, sizeof(q), "recurse&index=%" PRIu64 "&wait=" POLL, l->index);
    struct cli_resp r = {0};
    int rc = cli__http(l->c, "GET", l->dir_path, q, NULL, 0, &r, err, sizeof(err));
    memset(v, 0, sizeof(*v));
    if (rc < 0 || (r.code != 200 && r.code != 404)) {
        cli__resp_free(&r);
        sleep_ms(200);
        return -1;
    }
    l->index = r.has_index ? r.index : 0;
    struct json_object *arr =
        r.code == 200 ? cn_json_parse(r.body.p, r.body.len, err, sizeof(err)) : NULL;
    struct json_object *alive = json_object_new_object();
    struct json_object *lock = NULL;
    size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
    const char *lock_key = strrchr(l->key_path, '/'); /* "/.lock" */
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        const char *key = NULL, *sess = NULL;
        cn_json_get_str(e, "Key", &key);
        cn_json_get_str(e, "Session", &sess);
        size_t kl = key ? strlen(key) : 0;
        if (key && kl >= 6 && strcmp(key + kl - 6, lock_key) == 0) {
            cn_json_get_u64(e, "ModifyIndex", &v->lock_index);
            b64_json(e, &lock);
        } else if (sess && *sess) {
            json_object_object_add(alive, sess, json_object_new_boolean(1));
        }
    }
    v->holders = json_object_new_object();
    if (lock) {
        int64_t lim = 0;
        cn_json_get_i64(lock, "Limit", &lim);
        v->limit = lim;
        struct json_object *h = cn_json_get(lock, "Holders");
        if (h && json_object_is_type(h, json_type_object)) {
            json_object_object_foreach(h, k, val)
            {
                (void)val;
                if (json_object_object_get_ex(alive, k, NULL)) /* pruneDeadHolders */
                    json_object_object_add(v->holders, k, json_object_new_boolean(1));
            }
        }
    }
    json_object_put(lock);
    json_object_put(alive);
    json_object_put(arr);
    cli__resp_free(&r);
    if (r.code == 404)
        sleep_ms(100);
    return 0;
}

/* CAS-write the lock with holders h. 1 written, 0 lost the race, -1 error. */
static int sem_write(struct lk *l, struct json_object *h, uint64_t cas)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Limit", json_object_new_int64((int64_t)l->limit));
    json_object_object_add(o, "Holders", json_object_get(h));
    const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char q[128], err[512];
    snprintf(q, sizeof(q), "cas=%" PRIu64 "&flags=" SEM_FLAG_VALUE, cas);
    struct cli_resp r = {0};
    int rc = cli__http(l->c, "PUT", l->key_path, q, body, strlen(body), &r, err, sizeof(err));
    int ret = rc < 0 || r.code != 200 ? -1 : r.body.p && strncmp(r.body.p, "true", 4) == 0;
    cli__resp_free(&r);
    json_object_put(o);
    return ret;
}

/* Try once to take a slot. 1 held, 0 not yet, -1 error (message printed). */
static int sem_try(struct lk *l)
{
    struct sem_view v;
    if (sem_read(l, &v) < 0)
        return 0;
    int ret = 0;
    if (v.limit && (uint64_t)v.limit != l->limit) {
        fprintf(l->c->err,
                "Lock acquisition failed: semaphore limit conflict (lock: %" PRId64
                ", local: %" PRIu64 ")\n",
                v.limit, l->limit);
        ret = -1;
    } else if (json_object_object_get_ex(v.holders, l->sid, NULL)) {
        ret = 1;
    } else if ((uint64_t)json_object_object_length(v.holders) < l->limit) {
        json_object_object_add(v.holders, l->sid, json_object_new_boolean(1));
        ret = sem_write(l, v.holders, v.lock_index);
        if (ret == 0)
            l->index = 0; /* lost a race: read again at once */
        else if (ret < 0)
            ret = 0;
    }
    json_object_put(v.holders);
    return ret;
}

/* Still a holder? 1 yes, 0 no, -1 error. */
static int sem_held(struct lk *l)
{
    struct sem_view v;
    if (sem_read(l, &v) < 0)
        return -1;
    int ret = json_object_object_get_ex(v.holders, l->sid, NULL) ? 1 : 0;
    json_object_put(v.holders);
    return ret;
}

static int contender_key(struct lk *l, const char *verb)
{
    char path[1400], q[160], err[512];
    snprintf(path, sizeof(path), "%s%s", l->dir_path, l->sid);
    struct cli_resp r = {0};
    int ok;
    if (strcmp(verb, "DELETE") == 0) {
        ok = cli__http(l->c, "DELETE", path, "", NULL, 0, &r, err, sizeof(err)) == 0;
    } else {
        snprintf(q, sizeof(q), "acquire=%s&flags=" SEM_FLAG_VALUE, l->sid);
        ok = cli__http(l->c, "PUT", path, q, NULL, 0, &r, err, sizeof(err)) == 0 && r.code == 200 &&
             r.body.p && strncmp(r.body.p, "true", 4) == 0;
        if (!ok)
            fprintf(l->c->err, "Failed to make contender entry: %s\n",
                    r.body.p && r.code ? r.body.p : err);
    }
    cli__resp_free(&r);
    return ok ? 0 : -1;
}

/* Leave the holders (a CAS loop, bounded) and drop the contender key. */
static void sem_release(struct lk *l)
{
    for (int i = 0; i < 20; i++) {
        l->index = 0;
        struct sem_view v;
        if (sem_read(l, &v) < 0)
            continue;
        int done = 1;
        if (json_object_object_get_ex(v.holders, l->sid, NULL)) {
            json_object_object_del(v.holders, l->sid);
            done = sem_write(l, v.holders, v.lock_index) == 1;
        }
        json_object_put(v.holders);
        if (done)
            break;
    }
    contender_key(l, "DELETE");
}

/* Run the child: through /bin/sh -c with the arguments joined by spaces
 * (Consul's ExecScript), or with -shell=false the arguments as they are,
 * looked up on PATH (Consul's ExecSubprocess). */
static pid_t spawn(const char *cmd, char *const *argv)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127); /* the parent died before prctl */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (argv) {
        execvp(argv[0], argv);
        fprintf(stderr, "Error running child: %s: %s\n", argv[0], strerror(errno));
    } else {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    }
    _exit(127);
}

/* Stop the child's group: SIGTERM, then SIGKILL after a grace period. */
static int stop_child(pid_t pid)
{
    int st = 0;
    kill(-pid, SIGTERM);
    uint64_t until = now_ms() + KILL_GRACE_MS;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_ms() > until) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        sleep_ms(20);
    }
    kill(-pid, SIGKILL); /* anything left in the group */
    return st;
}

int cli__run_lock(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos < 2) {
        fprintf(c->err, "Key prefix and child command must be specified\n");
        return 1;
    }
    if (cli__flag_isset(a, "n") && cli__flag_u64(a, "n") == 0) {
        fprintf(c->err, "Lock holder limit must be positive\n");
        return 1;
    }
    bool shell = !cli__flag_isset(a, "shell") || cli__flag_bool(a, "shell");
    struct lk l;
    memset(&l, 0, sizeof(l));
    l.c = c;
    l.verbose = cli__flag_bool(a, "verbose");
    l.limit = cli__flag_isset(a, "n") ? cli__flag_u64(a, "n") : 1;
    const char *ttl = cli__flag_str(a, "ttl", "15s");
    const char *delay = cli__flag_str(a, "lock-delay", "15s");
    const char *tmo = cli__flag_str(a, "timeout", "");
    uint64_t retries = cli__flag_isset(a, "monitor-retry") ? cli__flag_u64(a, "monitor-retry") : 3;
    int64_t ns = 0, tmo_ns = 0;
    if (cn_dur_parse(ttl, &ns) || ns <= 0) {
        fprintf(c->err, "Invalid -ttl %s\n", ttl);
        return 1;
    }
    l.ttl_ms = (uint64_t)ns / 1000000u;
    if (*tmo && (cn_dur_parse(tmo, &tmo_ns) || tmo_ns < 0)) {
        fprintf(c->err, "Invalid -timeout %s\n", tmo);
        return 1;
    }
    /* path.Join(prefix, ".lock") */
    struct cn_buf kp = CN_BUF_INIT, key = CN_BUF_INIT, cmd = CN_BUF_INIT;
    const char *prefix = a->pos[0];
    while (*prefix == '/')
        prefix++;
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/')
        plen--;
    int rc = cn_buf_append(&key, prefix, plen) || cn_buf_puts(&key, plen ? "/.lock" : ".lock") ||
             cn_buf_cstr(&key) || cn_buf_puts(&kp, "/v1/kv/") || cli__url_escape(&kp, key.p, 1) ||
             cn_buf_cstr(&kp);
    struct cn_buf dir = CN_BUF_INIT;
    rc = rc || cn_buf_puts(&dir, "/v1/kv/") || cn_buf_append(&dir, key.p, key.len - 5) ||
         cn_buf_cstr(&dir);
    if (!rc && dir.len < sizeof(l.dir_path))
        snprintf(l.dir_path, sizeof(l.dir_path), "%s", dir.p);
    else
        rc = 1;
    cn_buf_free(&dir);
    for (size_t i = 1; !rc && i < a->npos; i++)
        rc = (i > 1 && cn_buf_putc(&cmd, ' ')) || cn_buf_puts(&cmd, a->pos[i]);
    rc = rc || cn_buf_cstr(&cmd);
    if (rc || kp.len >= sizeof(l.key_path)) {
        fprintf(c->err, "Error! key prefix too long or out of memory\n");
        cn_buf_free(&kp);
        cn_buf_free(&key);
        cn_buf_free(&cmd);
        return 1;
    }
    snprintf(l.key_path, sizeof(l.key_path), "%s", kp.p);
    cn_buf_free(&kp);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int ret = 1;
    pid_t child = 0;
    char **cargv = NULL;
    if (session_create(&l, cli__flag_str(a, "name", "Consul lock"), ttl, delay))
        goto out;
    l.last_renew = now_ms();
    if (l.limit > 1 && contender_key(&l, "PUT"))
        goto out_release;

    /* Acquire. */
    uint64_t give_up = tmo_ns ? now_ms() + (uint64_t)tmo_ns / 1000000u : 0;
    for (;;) {
        if (got_signal) {
            fprintf(c->err, "Shutdown triggered during lock acquisition\n");
            goto out_release;
        }
        if (give_up && now_ms() > give_up) {
            fprintf(c->err, "Lock acquisition failed: timeout\n");
            goto out_release;
        }
        if (maybe_renew(&l) == 1) {
            fprintf(c->err, "Lock acquisition failed: session lost\n");
            goto out;
        }
        if (l.limit > 1) {
            int got = sem_try(&l);
            if (got > 0)
                break;
            if (got < 0)
                goto out_release;
            continue; /* sem_try waited on the prefix */
        }
        int got = try_acquire(&l);
        if (got > 0)
            break;
        if (got < 0) {
            sleep_ms(500);
            continue;
        }
        int mine, unlocked;
        if (read_key(&l, &mine, &unlocked) == 0 && unlocked)
            sleep_ms(250); /* free but refused: lock-delay */
    }
    if (l.verbose)
        fprintf(c->err, "Lock acquired on %s (session %s)\n", key.p, l.sid);

    /* Run and monitor. */
    if (!shell) { /* execvp wants the list NULL-terminated */
        cargv = cn_calloc(a->npos, sizeof(*cargv));
        if (!cargv) {
            fprintf(c->err, "Failed to run child: out of memory\n");
            goto out_release;
        }
        for (size_t i = 1; i < a->npos; i++)
            cargv[i - 1] = (char *)a->pos[i];
    }
    child = spawn(cmd.p, cargv);
    if (child < 0) {
        fprintf(c->err, "Failed to run child: %s\n", strerror(errno));
        goto out_release;
    }
    uint64_t errors = 0;
    int st = 0, lost = 0;
    for (;;) {
        pid_t w = waitpid(child, &st, WNOHANG);
        if (w == child)
            break;
        if (got_signal) {
            st = stop_child(child);
            break;
        }
        int r = maybe_renew(&l);
        int mine = 1, unlocked = 0;
        if (r == 0 && l.limit > 1) {
            int h = sem_held(&l);
            r = h < 0 ? -1 : 0;
            mine = h == 1;
        } else if (r == 0) {
            r = read_key(&l, &mine, &unlocked);
        }
        if (r == 1 || (r == 0 && !mine)) {
            lost = 1;
        } else if (r < 0 && ++errors > retries) {
            lost = 1;
        } else if (r == 0) {
            errors = 0;
        }
        if (lost) {
            fprintf(c->err, "Lock lost, killing child\n");
            stop_child(child);
            goto out_release;
        }
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && cli__flag_bool(a, "child-exit-code"))
        ret = 2;
    else if (!WIFEXITED(st) && cli__flag_bool(a, "child-exit-code"))
        ret = 2;
    else
        ret = 0;
    if (l.verbose)
        fprintf(c->err, "Child terminated, releasing lock\n");
out_release:
    release_and_destroy(&l);
out:
    cn_free(cargv);
    cn_buf_free(&key);
    cn_buf_free(&cmd);
    return ret;
}
