/* health/script.c: script checks (agent/checks/check.go CheckMonitor): the
 * argv runs as a child process (no shell) in a new session, so its process
 * group is its own; stdout and stderr go to one pipe, of which the first
 * HEALTH_OUTPUT_MAX bytes are kept. Exit 0 is passing, 1 warning, anything
 * else critical. At the timeout the whole group gets SIGKILL. The result is
 * reported once the process has exited and the pipe is at EOF. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "health/health_int.h"

struct script_probe {
    uv_process_t proc;
    uv_pipe_t out;
    struct health_check *c; /* NULL once abandoned */
    struct cn_buf buf;
    char rbuf[4096];
    int pending; /* handles not closed yet (process, pipe) */
    bool exited, eof, timed_out;
    int64_t status;
    int term_signal;
};

static void report(struct script_probe *p)
{
    struct health_check *c = p->c;
    if (!c || !p->exited || !p->eof)
        return;
    p->c = NULL;
    c->probe = NULL;
    uv_timer_stop(&c->timer);
    char head[200];
    const char *st;
    if (p->timed_out) {
        char d[64];
        cn_dur_format((int64_t)c->timeout_ms * 1000000, d, sizeof(d)); /* Go's Duration */
        snprintf(head, sizeof(head), "Timed out (%s) running check", d);
        health__done(c, "critical", head);
        return;
    }
    st = p->status == 0 ? "passing" : p->status == 1 ? "warning" : "critical";
    if (cn_buf_cstr(&p->buf)) {
        health__done(c, st, "out of memory");
        return;
    }
    health__done(c, st, p->buf.p ? p->buf.p : "");
}

static void on_closed(uv_handle_t *h)
{
    struct script_probe *p = h->data;
    if (--p->pending == 0) {
        cn_buf_free(&p->buf);
        cn_free(p);
    }
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
    struct script_probe *p = proc->data;
    p->exited = true;
    p->status = status;
    p->term_signal = sig;
    if (p->c)
        report(p);
    uv_close((uv_handle_t *)&p->proc, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct script_probe *p = h->data;
    *b = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct script_probe *p = s->data;
    if (n > 0) {
        size_t room = HEALTH_OUTPUT_MAX > p->buf.len ? HEALTH_OUTPUT_MAX - p->buf.len : 0;
        size_t take = (size_t)n < room ? (size_t)n : room;
        if (take)
            cn_buf_append(&p->buf, b->base, take);
        return;
    }
    if (n < 0) {
        p->eof = true;
        uv_close((uv_handle_t *)&p->out, on_closed);
        if (p->c)
            report(p);
    }
}

void health__script_probe(struct health_check *c)
{
    struct script_probe *p = cn_calloc(1, sizeof(*p));
    if (!p) {
        health__done(c, "critical", "out of memory");
        return;
    }
    p->c = c;
    /* One pipe for stdout and stderr: the child gets the write end twice. */
    uv_file fds[2];
    int prc = uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
    if (prc) {
        cn_free(p);
        char msg[200];
        snprintf(msg, sizeof(msg), "Check failed to start: %s", uv_strerror(prc));
        health__done(c, "critical", msg);
        return;
    }
    uv_pipe_init(c->h->loop, &p->out, 0);
    uv_pipe_open(&p->out, fds[0]);
    p->out.data = p;
    p->proc.data = p;
    p->pending = 1; /* the pipe */
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    o.file = c->args[0];
    o.args = c->args;
    o.exit_cb = on_exit_cb;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_DETACHED; /* setsid: its own process group, killed whole */
    int rc = uv_spawn(c->h->loop, &p->proc, &o);
    close(fds[1]); /* the child holds its copies; EOF comes when it (and its group) is done */
    if (rc) {
        p->c = NULL;
        uv_close((uv_handle_t *)&p->out, on_closed);
        char msg[300];
        snprintf(msg, sizeof(msg), "Check failed to start: %s: %s", c->args[0], uv_strerror(rc));
        health__done(c, "critical", msg);
        return;
    }
    p->pending++;
    c->probe = p;
    uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
    health__arm_deadline(c);
}

static void kill_group(struct script_probe *p)
{
    if (!p->exited && p->proc.pid > 0)
        kill(-p->proc.pid, SIGKILL);
}

void health__script_abort(struct health_check *c)
{
    struct script_probe *p = c->probe;
    c->probe = NULL;
    if (p) {
        p->c = NULL;
        kill_group(p); /* the exit and EOF callbacks free p */
    }
    c->in_flight = false;
    c->h->in_flight--;
}

void health__script_timeout(struct health_check *c)
{
    struct script_probe *p = c->probe;
    if (!p)
        return;
    p->timed_out = true;
    cn_warn("health", "check script %s timed out after %llu ms; killing its process group",
            c->args[0], (unsigned long long)c->timeout_ms);
    kill_group(p); /* reported once it exited and its output is closed */
}
