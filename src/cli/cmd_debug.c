/* cli/cmd_debug.c: `cairn debug`, Consul's `consul debug`
 * (https://developer.hashicorp.com/consul/commands/debug): the agent's
 * self, host, members, Raft configuration, metrics every interval and its
 * log at debug level for the duration, in OUTPUT.tar.gz holding a directory
 * OUTPUT/ as Consul lays it out (agent.json, host.json, members.json,
 * metrics.json, cairn.log, index.json; raft.json is cairn's). The log is
 * followed by a second connection on its own thread while the main thread
 * takes the interval captures. pprof profiles are Go's: not captured. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/dur.h"
#include "base/err.h"
#include "cli/cli_int.h"

const struct cli_flag cli__debug_flags[] = {
    {"duration", CLI_STR, "duration", "The total time to record information. The default is 2m."},
    {"interval", CLI_STR, "duration", "The time between metrics captures. The default is 30s."},
    {"output", CLI_STR, "path",
     "The path of the archive to create, without .tar.gz. The default is "
     "cairn-debug-<unix time>."},
    {"capture", CLI_LIST, "target",
     "One of agent, host, members, metrics, logs or raft (repeatable). The default is all "
     "of them."},
    {NULL, 0, NULL, NULL},
};

static const char *const targets[] = {"agent", "host", "members", "metrics", "logs", "raft"};

struct logcap {
    struct cli_ctx ctx;
    long ms;
    char *buf;
    size_t len;
    int rc;
    long code;
};

static void *log_thread(void *arg)
{
    struct logcap *l = arg;
    FILE *f = open_memstream(&l->buf, &l->len);
    if (!f) {
        l->rc = CN_ENOMEM;
        return NULL;
    }
    struct cli_resp r = {0};
    r.sink = f;
    r.timeout_ms = l->ms;
    char err[256];
    l->rc = cli__http(&l->ctx, "GET", "/v1/agent/monitor", "loglevel=debug", NULL, 0, &r, err,
                      sizeof(err));
    /* The stream ends by our timeout (an "error" to curl): its status is
     * what the agent answered. */
    l->code = r.code;
    cli__resp_free(&r);
    fclose(f);
    cli__ctx_close(&l->ctx);
    return NULL;
}

static bool wanted(const struct cli_args *a, const char *t)
{
    const struct cli_flag_val *v = cli__flag(a, "capture");
    if (!v || !v->nlist)
        return true;
    for (size_t i = 0; i < v->nlist; i++)
        if (!strcmp(v->list[i], t))
            return true;
    return false;
}

/* GET path; a 2xx body into the tar as dir/name. 1 added, 0 not served
 * (404/405: noted), -1 failed (message printed). */
static int capture(struct cli_ctx *c, struct cn_buf *tar, const char *dir, const char *name,
                   const char *path, struct cn_buf *notes)
{
    struct cli_resp r = {0};
    char err[512], full[512];
    int rc = cli__http(c, "GET", path, "", NULL, 0, &r, err, sizeof(err));
    if (rc) {
        fprintf(c->err, "Error capturing %s: %s\n", path, err);
        cli__resp_free(&r);
        return -1;
    }
    if (r.code == 404 || r.code == 405) {
        cn_buf_printf(notes, "%s%s: not served by this agent (%ld), skipped",
                      notes->len ? "\",\"" : "", path, r.code);
        cli__resp_free(&r);
        return 0;
    }
    if (r.code / 100 != 2) {
        fprintf(c->err, "Error capturing %s: Unexpected response code: %ld (%s)\n", path, r.code,
                r.body.p ? r.body.p : "");
        cli__resp_free(&r);
        return -1;
    }
    snprintf(full, sizeof(full), "%s/%s", dir, name);
    rc = cli__tar_add(tar, full, r.body.p, r.body.len, false);
    cli__resp_free(&r);
    return rc ? -1 : 1;
}

int cli__run_debug(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Error: debug takes no arguments\n");
        return 1;
    }
    int64_t dur = 0, ivl = 0;
    const char *ds = cli__flag_str(a, "duration", "2m"), *is = cli__flag_str(a, "interval", "30s");
    if (cn_dur_parse(ds, &dur) || cn_dur_parse(is, &ivl) || ivl < 1000000000 || dur < ivl) {
        fprintf(c->err, "Error: -interval must be at least 1s and -duration at least -interval\n");
        return 1;
    }
    const struct cli_flag_val *cap = cli__flag(a, "capture");
    for (size_t i = 0; cap && i < cap->nlist; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof(targets) / sizeof(targets[0]); k++)
            ok = ok || !strcmp(cap->list[i], targets[k]);
        if (!ok) {
            fprintf(c->err, "Error: cannot capture %s: %s\n", cap->list[i],
                    !strcmp(cap->list[i], "pprof")
                        ? "pprof profiles are Go's runtime's; cairn has none"
                        : "the targets are agent, host, members, metrics, logs and raft");
            return 1;
        }
    }
    char out[400], dir[400], path[420];
    snprintf(out, sizeof(out), "%s", cli__flag_str(a, "output", ""));
    if (!out[0])
        snprintf(out, sizeof(out), "cairn-debug-%lld", (long long)time(NULL));
    const char *base = strrchr(out, '/');
    snprintf(dir, sizeof(dir), "%s", base ? base + 1 : out);
    snprintf(path, sizeof(path), "%s.tar.gz", out);
    if (access(path, F_OK) == 0) {
        fprintf(c->err, "Error: %s exists\n", path);
        return 1;
    }
    /* Is the agent there at all? */
    struct cli_resp r0 = {0};
    char err[512];
    if (cli__http(c, "GET", "/v1/agent/self", "", NULL, 0, &r0, err, sizeof(err)) ||
        r0.code != 200) {
        fprintf(c->err, "Error querying the agent: %s\n", r0.code ? "unexpected answer" : err);
        cli__resp_free(&r0);
        return 1;
    }
    cli__resp_free(&r0);
    fprintf(c->out, "==> Starting debugger and capturing static information...\n");

    struct cn_buf tar = CN_BUF_INIT, notes = CN_BUF_INIT, metrics = CN_BUF_INIT;
    int ret = 0;
    cli__tar_add(&tar, dir, NULL, 0, true);
    if (wanted(a, "agent") && capture(c, &tar, dir, "agent.json", "/v1/agent/self", &notes) < 0)
        ret = 1;
    if (!ret && wanted(a, "host") &&
        capture(c, &tar, dir, "host.json", "/v1/agent/host", &notes) < 0)
        ret = 1;
    if (!ret && wanted(a, "members") &&
        capture(c, &tar, dir, "members.json", "/v1/agent/members", &notes) < 0)
        ret = 1;
    if (!ret && wanted(a, "raft") &&
        capture(c, &tar, dir, "raft.json", "/v1/operator/raft/configuration?stale", &notes) < 0)
        ret = 1;

    struct logcap lc;
    memset(&lc, 0, sizeof(lc));
    pthread_t th;
    bool logs = !ret && wanted(a, "logs");
    if (logs) {
        lc.ctx = *c;
        lc.ctx.curl = NULL;
        lc.ms = (long)(dur / 1000000);
        if (pthread_create(&th, NULL, log_thread, &lc) != 0)
            logs = false;
    }
    if (!ret)
        fprintf(c->out, "==> Capturing for %s every %s; the archive will be %s\n", ds, is, path);
    /* Metrics every interval, as a JSON array of captures. */
    bool metrics_on = !ret && wanted(a, "metrics");
    int64_t t0 = (int64_t)time(NULL) * 1000;
    for (int64_t at = 0; !ret && at <= dur / 1000000; at += ivl / 1000000) {
        int64_t now = (int64_t)time(NULL) * 1000 - t0;
        if (at > now)
            usleep((useconds_t)((at - now) * 1000));
        if (!metrics_on)
            continue;
        struct cli_resp r = {0};
        if (cli__http(c, "GET", "/v1/agent/metrics", "", NULL, 0, &r, err, sizeof(err)) == 0 &&
            r.code == 200) {
            cn_buf_puts(&metrics, metrics.len ? ",\n" : "[\n");
            cn_buf_append(&metrics, r.body.p, r.body.len);
        } else if (r.code == 404 || r.code == 405) {
            cn_buf_printf(&notes, "%s/v1/agent/metrics: not served by this agent (%ld), skipped",
                          notes.len ? "\",\"" : "", r.code);
            metrics_on = false;
        }
        cli__resp_free(&r);
    }
    if (metrics.len) {
        cn_buf_puts(&metrics, "\n]\n");
        char full[512];
        snprintf(full, sizeof(full), "%s/metrics.json", dir);
        cli__tar_add(&tar, full, metrics.p, metrics.len, false);
    }
    if (logs) {
        pthread_join(th, NULL);
        char full[512];
        snprintf(full, sizeof(full), "%s/cairn.log", dir);
        if (lc.code == 200)
            cli__tar_add(&tar, full, lc.buf ? lc.buf : "", lc.len, false);
        else
            cn_buf_printf(&notes, "%s/v1/agent/monitor: answer %ld, no log captured",
                          notes.len ? "\",\"" : "", lc.code);
        free(lc.buf);
    }
    if (!ret) {
        struct cn_buf idx = CN_BUF_INIT;
        cn_buf_printf(&idx,
                      "{\n  \"Version\": 2,\n  \"AgentVersion\": \"%s\",\n  \"Interval\": \"%s\",\n"
                      "  \"Duration\": \"%s\",\n  \"Targets\": [",
                      CAIRN_VERSION, is, ds);
        bool first = true;
        for (size_t k = 0; k < sizeof(targets) / sizeof(targets[0]); k++)
            if (wanted(a, targets[k])) {
                cn_buf_printf(&idx, "%s\"%s\"", first ? "" : ", ", targets[k]);
                first = false;
            }
        cn_buf_printf(&idx, "],\n  \"Notes\": [%s%.*s%s]\n}\n", notes.len ? "\"" : "",
                      (int)notes.len, notes.p ? notes.p : "", notes.len ? "\"" : "");
        char full[512];
        snprintf(full, sizeof(full), "%s/index.json", dir);
        cli__tar_add(&tar, full, idx.p, idx.len, false);
        cn_buf_free(&idx);
        if (cli__tar_gz_write(&tar, path, err, sizeof(err))) {
            fprintf(c->err, "Error writing the archive: %s\n", err);
            ret = 1;
        } else {
            fprintf(c->out, "Saved debug archive: %s\n", path);
        }
    }
    cn_buf_free(&tar);
    cn_buf_free(&notes);
    cn_buf_free(&metrics);
    return ret;
}
