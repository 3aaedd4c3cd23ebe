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
 * Semaphores (-n > 1) are refused: not implemented yet. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
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
#include "cli/cli_int.h"

#define LOCK_FLAG_VALUE "3304740253564472344" /* api.LockFlagValue 0x2ddccbc058a50c18 */
#define POLL "500ms"
#define KILL_GRACE_MS 5000

const struct cli_flag cli__lock_flags[] = {
    {"n", CLI_U64, "int",
     "Optional limit on the number of concurrent lock holders (1 = a lock; "
     "more is a semaphore, not implemented yet)."},
    {"name", CLI_STR, "string", "Optional name to associate with the lock session."},
    {"timeout", CLI_STR, "duration", "Maximum amount of time to wait to acquire the lock."},
    {"monitor-retry", CLI_U64, "int",
     "Number of times to retry if the agent returns an error while monitoring the lock (3)."},
    {"child-exit-code", CLI_BOOL, NULL, "Exit 2 if the child process exited with an error."},
    {"shell", CLI_BOOL, NULL, "Use a shell to run the command (true; false is not supported)."},
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
    char key_path[1200]; /* /v1/kv/PREFIX/.lock, escaped */
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

static void release_and_destroy(struct lk *l)
{
    char q[160], path[128], err[512];
    struct cli_resp r = {0};
    snprintf(q, sizeof(q), "release=%s&flags=" LOCK_FLAG_VALUE, l->sid);
    cli__http(l->c, "PUT", l->key_path, q, NULL, 0, &r, err, sizeof(err));
    cli__resp_free(&r);
    snprintf(path, sizeof(path), "/v1/session/destroy/%s", l->sid);
    cli__http(l->c, "PUT", path, "", NULL, 0, &r, err, sizeof(err));
    cli__resp_free(&r);
}

static pid_t spawn(const char *cmd)
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
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
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
    if (cli__flag_isset(a, "n") && cli__flag_u64(a, "n") != 1) {
        fprintf(c->err, "Semaphores (-n > 1) are not implemented in cairn yet\n");
        return 1;
    }
    if (cli__flag_isset(a, "shell") && !cli__flag_bool(a, "shell")) {
        fprintf(c->err, "-shell=false is not implemented in cairn yet\n");
        return 1;
    }
    struct lk l;
    memset(&l, 0, sizeof(l));
    l.c = c;
    l.verbose = cli__flag_bool(a, "verbose");
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
    if (session_create(&l, cli__flag_str(a, "name", "Consul lock"), ttl, delay))
        goto out;
    l.last_renew = now_ms();

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
    child = spawn(cmd.p);
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
        if (r == 0)
            r = read_key(&l, &mine, &unlocked);
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
    cn_buf_free(&key);
    cn_buf_free(&cmd);
    return ret;
}
