/* agent/watches.c: watch children (see watches.h). */
#include "agent/watches.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/defs.h"
#include "base/log.h"
#include "base/mem.h"

struct wproc {
    uv_process_t p;
    struct agent_watches *owner;
    bool running;
};

struct agent_watches {
    struct wproc *v;
    size_t n;
    size_t open; /* handles not closed yet */
    bool stopping;
};

static void maybe_free(struct agent_watches *w)
{
    if (w->stopping && w->open == 0) {
        cn_free(w->v);
        cn_free(w);
    }
}

static void on_close(uv_handle_t *h)
{
    struct wproc *wp = h->data;
    struct agent_watches *w = wp->owner;
    w->open--;
    maybe_free(w);
}

static void on_watch_exit(uv_process_t *p, int64_t status, int sig)
{
    struct wproc *wp = p->data;
    wp->running = false;
    if (!wp->owner->stopping)
        cn_warn("agent", "watch %zu exited (status %lld, signal %d)", (size_t)(wp - wp->owner->v),
                (long long)status, sig);
    uv_close((uv_handle_t *)p, on_close);
}

struct agent_watches *agent_watches_start(uv_loop_t *loop, const struct agent_config_defs *defs,
                                          const char *http_addr)
{
    struct agent_watches *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->v = defs->n ? cn_calloc(defs->n, sizeof(*w->v)) : NULL;
    if (defs->n && !w->v) {
        cn_free(w);
        return NULL;
    }
    char exe[4096];
    size_t exelen = sizeof(exe);
    if (uv_exepath(exe, &exelen)) {
        cn_error("agent", "watches: cannot find the cairn executable");
        w->stopping = true;
        maybe_free(w);
        return NULL;
    }
    /* The children read it to die with this process. */
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("CAIRN_WATCH_PARENT", pid, 1);
    for (size_t i = 0; i < defs->n; i++) {
        char **argv = NULL;
        char err[1024];
        if (agent_defs_watch_argv(&defs->v[i], http_addr, &argv, err, sizeof(err))) {
            cn_error("agent", "watch %zu: %s", i, err);
            continue;
        }
        char *full[40];
        size_t k = 0;
        full[k++] = exe;
        for (size_t j = 0; argv[j] && k < 39; j++)
            full[k++] = argv[j];
        full[k] = NULL;
        uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                         {.flags = UV_INHERIT_FD, .data.fd = 1},
                                         {.flags = UV_INHERIT_FD, .data.fd = 2}};
        uv_process_options_t o = {
            .file = exe, .args = full, .exit_cb = on_watch_exit, .stdio_count = 3, .stdio = stdio};
        struct wproc *wp = &w->v[w->n];
        wp->owner = w;
        wp->p.data = wp;
        int rc = uv_spawn(loop, &wp->p, &o);
        agent_defs_argv_free(argv);
        if (rc) {
            cn_error("agent", "watch %zu: cannot start: %s", i, uv_strerror(rc));
            /* uv_spawn initialised the handle: it must still be closed */
            w->n++;
            w->open++;
            uv_close((uv_handle_t *)&wp->p, on_close);
            continue;
        }
        wp->running = true;
        w->n++;
        w->open++;
        cn_info("agent", "watch %zu started (pid %d)", i, wp->p.pid);
    }
    return w;
}

void agent_watches_stop(struct agent_watches *w)
{
    if (!w)
        return;
    w->stopping = true;
    /* SIGKILL: the child may sit in a blocking query for its whole wait. */
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].running)
            uv_process_kill(&w->v[i].p, SIGKILL);
    maybe_free(w);
}
