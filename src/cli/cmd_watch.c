/* cli/cmd_watch.c: `cairn watch -type=... [HANDLER]`, Consul's `consul watch`
 * (api/watch): a blocking query loop on one view; every time its
 * X-Consul-Index moves, the view's JSON is printed (one document per line
 * group) or handed to HANDLER on stdin (run through the shell, one at a
 * time). Blocking queries pass the last index, so a change made between two
 * rounds is seen by the next one; an index that goes backwards (a restarted
 * or restored server) fires too, and the next round blocks on it. Errors (agent down, no
 * leader) back off exponentially with jitter, from 1 s to 30 s, and the loop
 * goes on: a watch survives agent restarts.
 *
 * Types: key (-key), keyprefix (-prefix), services, nodes, service
 * (-service, -tag, -passing), checks (-service or -state), event (-name). The
 * agent runs the `watches` of its config files as children running this
 * command (agent/watches.c). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "base/buf.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "cli/cli_int.h"

const struct cli_flag cli__watch_flags[] = {
    {"type", CLI_STR, "string",
     "Specifies the watch type: key, keyprefix, services, nodes, service, checks or event."},
    {"key", CLI_STR, "string", "Specifies the key to watch. Only for 'key' type."},
    {"prefix", CLI_STR, "string", "Specifies the key prefix to watch. Only for 'keyprefix' type."},
    {"service", CLI_STR, "string", "Specifies the service to watch ('service', 'checks')."},
    {"tag", CLI_LIST, "value", "Specifies the service tag(s) to filter on ('service')."},
    {"passing", CLI_BOOL, NULL, "Only passing instances ('service')."},
    {"state", CLI_STR, "string", "Specifies the states to watch ('checks')."},
    {"name", CLI_STR, "string", "Specifies an event name to watch ('event')."},
    {"wait", CLI_STR, "duration", "cairn: the blocking wait of each round (30s)."},
    {"http-handler", CLI_STR, "url",
     "cairn: POST each change to this URL instead of running a handler (a config-file watch's "
     "http_handler_config)."},
    {"http-handler-method", CLI_STR, "method", "cairn: method of -http-handler (POST)."},
    {"http-handler-header", CLI_MAP, "name=value",
     "cairn: a header of -http-handler (repeatable)."},
    {"http-handler-timeout", CLI_STR, "duration", "cairn: timeout of -http-handler (10s)."},
    {"http-handler-tls-skip-verify", CLI_BOOL, NULL, "cairn: do not verify -http-handler's TLS."},
    {NULL, 0, NULL, NULL},
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void sleep_ms(uint64_t ms)
{
    while (ms && !stop) {
        uint64_t s = ms > 100 ? 100 : ms;
        struct timespec ts = {0, (long)s * 1000000L};
        nanosleep(&ts, NULL);
        ms -= s;
    }
}

/* The view's path and query; 0 or 1 after printing why. */
static int view(struct cli_ctx *c, const struct cli_args *a, struct cn_buf *path, struct cn_buf *q,
                int *kind)
{
    const char *type = cli__flag_str(a, "type", "");
    const char *svc = cli__flag_str(a, "service", "");
    int rc = 0;
    *kind = 0;
    if (!strcmp(type, "key")) {
        const char *k = cli__flag_str(a, "key", "");
        if (!*k) {
            fprintf(c->err, "Error: Must specify a single key to watch\n");
            return 1;
        }
        *kind = 1; /* a single key: the object, or null */
        rc = cn_buf_puts(path, "/v1/kv/") || cli__url_escape(path, k, 1);
    } else if (!strcmp(type, "keyprefix")) {
        *kind = 2; /* 404 is [] */
        rc = cn_buf_puts(path, "/v1/kv/") ||
             cli__url_escape(path, cli__flag_str(a, "prefix", ""), 1) || cn_buf_puts(q, "recurse&");
    } else if (!strcmp(type, "services")) {
        rc = cn_buf_puts(path, "/v1/catalog/services");
    } else if (!strcmp(type, "nodes")) {
        rc = cn_buf_puts(path, "/v1/catalog/nodes");
    } else if (!strcmp(type, "service")) {
        if (!*svc) {
            fprintf(c->err, "Error: Must specify a service to watch\n");
            return 1;
        }
        rc = cn_buf_puts(path, "/v1/health/service/") || cli__url_escape(path, svc, 0);
        const struct cli_flag_val *t = cli__flag(a, "tag");
        for (size_t i = 0; !rc && t && i < t->nlist; i++)
            rc = cli__query_param(q, "tag", t->list[i]) || cn_buf_putc(q, '&');
        if (!rc && cli__flag_bool(a, "passing"))
            rc = cn_buf_puts(q, "passing&");
    } else if (!strcmp(type, "checks")) {
        const char *st = cli__flag_str(a, "state", "");
        if (*svc && *st) {
            fprintf(c->err, "Error: Cannot specify both service and state\n");
            return 1;
        }
        if (*svc)
            rc = cn_buf_puts(path, "/v1/health/checks/") || cli__url_escape(path, svc, 0);
        else
            rc = cn_buf_puts(path, "/v1/health/state/") ||
                 cli__url_escape(path, *st ? st : "any", 0);
    } else if (!strcmp(type, "event")) {
        /* /v1/event/list: its index is the last event's ID folded to 64
         * bits, so any change of it (not only growth) fires. */
        const char *ev = cli__flag_str(a, "name", "");
        rc = cn_buf_puts(path, "/v1/event/list");
        if (!rc && *ev)
            rc = cli__query_param(q, "name", ev) || cn_buf_putc(q, '&');
    } else if (!*type) {
        fprintf(c->err, "Error: Watch type must be specified\n");
        return 1;
    } else {
        fprintf(c->err, "Error: Unsupported watch type: %s\n", type);
        return 1;
    }
    if (rc || cn_buf_cstr(path) || cn_buf_cstr(q)) {
        fprintf(c->err, "Error! out of memory\n");
        return 1;
    }
    return 0;
}

/* Run the handler with data on stdin; its exit status is reported, not fatal. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static void run_handler(struct cli_ctx *c, const char *cmd, const char *data, size_t len)
{
    int fds[2];
    if (pipe(fds) < 0) {
        fprintf(c->err, "Error: handler: %s\n", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        fprintf(c->err, "Error: handler: %s\n", strerror(errno));
        return;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fds[1], data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the handler did not read it all */
        off += (size_t)w;
    }
    close(fds[1]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(c->err, "Warning: handler exited with status %d\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* Consul's HTTP watch handler (api/watch/funcs.go makeHTTPHandler): the
 * view's JSON as the body, X-Consul-Index set; a failure is reported, not
 * fatal. */
static void run_http_handler(struct cli_ctx *c, const struct cli_args *a, uint64_t index,
                             const char *data, size_t len)
{
    CURL *h = curl_easy_init();
    if (!h) {
        fprintf(c->err, "Error: http handler: out of memory\n");
        return;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char ix[64];
    snprintf(ix, sizeof(ix), "X-Consul-Index: %" PRIu64, index);
    hdrs = curl_slist_append(hdrs, ix);
    const struct cli_flag_val *hv = cli__flag(a, "http-handler-header");
    for (size_t i = 0; hv && i < hv->nlist; i++) {
        const char *eq = strchr(hv->list[i], '=');
        char line[1024];
        snprintf(line, sizeof(line), "%.*s: %s", (int)(eq - hv->list[i]), hv->list[i], eq + 1);
        hdrs = curl_slist_append(hdrs, line);
    }
    int64_t ns = 0;
    if (cn_dur_parse(cli__flag_str(a, "http-handler-timeout", "10s"), &ns) || ns <= 0)
        ns = 10000 * CN_NS_PER_MS;
    curl_easy_setopt(h, CURLOPT_URL, cli__flag_str(a, "http-handler", ""));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cli__flag_str(a, "http-handler-method", "POST"));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(ns / 1000000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (cli__flag_bool(a, "http-handler-tls-skip-verify")) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK)
        fprintf(c->err, "Warning: http handler: %s\n", curl_easy_strerror(rc));
    else if (code < 200 || code > 299)
        fprintf(c->err, "Warning: http handler: unsuccessful response status %ld\n", code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
}

static uint64_t jitter(uint64_t ms)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = 0;
    return ms / 2 + r % (ms / 2 + 1);
}

int cli__run_watch(struct cli_ctx *c, const struct cli_args *a)
{
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT, handler = CN_BUF_INIT;
    int kind, ret = 1;
    if (view(c, a, &path, &q, &kind))
        goto out;
    for (size_t i = 0; i < a->npos; i++)
        if ((i && cn_buf_putc(&handler, ' ')) || cn_buf_puts(&handler, a->pos[i]))
            goto out;
    if (cn_buf_cstr(&handler))
        goto out;
    const char *wait = cli__flag_str(a, "wait", "30s");
    /* Run by an agent for a config-file watch (agent/watches.c): die with it. */
    const char *parent = getenv("CAIRN_WATCH_PARENT");
    if (parent && *parent) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if ((long)getppid() != strtol(parent, NULL, 10))
            goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    uint64_t index = 0, backoff = 0;
    int fired = 0;
    struct cn_buf last = CN_BUF_INIT; /* the last document fired */
    while (!stop) {
        char qs[1200], err[1024];
        snprintf(qs, sizeof(qs), "%sindex=%" PRIu64 "&wait=%s", q.p, index, wait);
        struct cli_resp r = {0};
        int rc = cli__http(c, "GET", path.p, qs, NULL, 0, &r, err, sizeof(err));
        bool ok = rc == 0 && r.has_index && (r.code == 200 || (r.code == 404 && kind));
        if (!ok) {
            /* agent down or restarting, no leader, ...: back off, keep going */
            if (rc)
                fprintf(c->err, "Watch error: %s\n", err);
            else
                fprintf(c->err, "Watch error: Unexpected response code: %ld (%s)\n", r.code,
                        r.body.p ? r.body.p : "");
            cli__resp_free(&r);
            backoff = backoff ? (backoff * 2 > 30000 ? 30000 : backoff * 2) : 1000;
            sleep_ms(jitter(backoff));
            continue;
        }
        backoff = 0;
        /* Any move fires, backwards included (a restarted or restored
         * server): the next round blocks on the new index. */
        uint64_t ni = r.index;
        if (!fired || ni != index) {
            const char *doc = r.body.p;
            size_t len = r.body.len;
            if (r.code == 404)
                doc = kind == 1 ? "null" : "[]", len = strlen(doc);
            struct cn_buf out = CN_BUF_INIT;
            if (kind == 1 && r.code == 200) {
                /* a single key: the object, not a one-element array */
                char jerr[128];
                struct json_object *o = cn_json_parse(doc, len, jerr, sizeof(jerr));
                struct json_object *e = o && json_object_is_type(o, json_type_array)
                                            ? json_object_array_get_idx(o, 0)
                                            : NULL;
                const char *s = e ? json_object_to_json_string_ext(
                                        e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                  : "null";
                cn_buf_puts(&out, s);
                json_object_put(o);
            } else {
                cn_buf_append(&out, doc, len);
            }
            cn_buf_putc(&out, '\n');
            /* the index moved but the view did not (e.g. another key
             * changed the table index of a missing key): nothing to fire */
            bool same = fired && out.len == last.len && !memcmp(out.p, last.p, out.len);
            if (same) {
            } else if (cli__flag_isset(a, "http-handler")) {
                run_http_handler(c, a, ni, out.p, out.len);
            } else if (handler.len) {
                run_handler(c, handler.p, out.p, out.len);
            } else {
                fwrite(out.p, 1, out.len, c->out);
                fflush(c->out);
            }
            if (!same) {
                cn_buf_reset(&last);
                cn_buf_append(&last, out.p, out.len);
            }
            cn_buf_free(&out);
            fired = 1;
        }
        index = ni;
        cli__resp_free(&r);
    }
    cn_buf_free(&last);
    ret = 0;
out:
    cn_buf_free(&path);
    cn_buf_free(&q);
    cn_buf_free(&handler);
    return ret;
}
