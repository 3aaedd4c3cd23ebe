/* agent/filedefs.c: file-defined services and checks (see filedefs.h). */
#include "agent/filedefs.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/defs.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define RETRY_MS 2000

struct ids {
    char **v;
    size_t n;
};

struct agent_filedefs {
    uv_loop_t *loop;
    struct local *local;
    uv_timer_t retry;
    struct ids svcs, chks;                         /* what the files define now */
    struct agent_config_defs want_svcs, want_chks; /* borrowed for a retry: copies */
    size_t pending;
    bool failed; /* a write failed for a transient reason: retry */
    bool closing, timer_closed;
};

static void ids_free(struct ids *s)
{
    for (size_t i = 0; i < s->n; i++)
        cn_free(s->v[i]);
    cn_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* s sorted (ids_sort) */
static bool ids_has(const struct ids *s, const char *id)
{
    return s->n && bsearch(&id, s->v, s->n, sizeof(*s->v), cmp_id) != NULL;
}

static void ids_sort(struct ids *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_id);
}

static void ids_add(struct ids *s, const char *id)
{
    bool grow = (s->n & (s->n - 1)) == 0; /* capacity doubles at powers of two */
    char **nv = grow ? cn_realloc(s->v, (s->n ? 2 * s->n : 1) * sizeof(*nv)) : s->v;
    char *d = cn_strdup(id);
    if (!nv || !d) {
        if (nv)
            s->v = nv;
        cn_free(d);
        return;
    }
    s->v = nv;
    s->v[s->n++] = d;
}

static void defs_free(struct agent_config_defs *d)
{
    for (size_t i = 0; i < d->n; i++) {
        json_object_put(d->v[i].def);
        cn_free(d->v[i].file);
    }
    cn_free(d->v);
    d->v = NULL;
    d->n = 0;
}

static int defs_copy(struct agent_config_defs *dst, const struct agent_config_defs *src)
{
    defs_free(dst);
    if (!src->n)
        return 0;
    dst->v = cn_calloc(src->n, sizeof(*dst->v));
    if (!dst->v)
        return CN_ENOMEM;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].def = json_object_get(src->v[i].def);
        dst->v[i].file = cn_strdup(src->v[i].file);
        dst->n++;
        if (!dst->v[i].file)
            return CN_ENOMEM;
    }
    return 0;
}

static void maybe_free(struct agent_filedefs *f)
{
    if (f->closing && f->timer_closed && f->pending == 0) {
        ids_free(&f->svcs);
        ids_free(&f->chks);
        defs_free(&f->want_svcs);
        defs_free(&f->want_chks);
        cn_free(f);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct agent_filedefs *f = h->data;
    f->timer_closed = true;
    maybe_free(f);
}

static void apply_wanted(struct agent_filedefs *f);

static void on_retry(uv_timer_t *t)
{
    struct agent_filedefs *f = t->data;
    if (!f->closing)
        apply_wanted(f);
}

static void on_done(void *arg, int rc, const char *msg)
{
    struct agent_filedefs *f = arg;
    f->pending--;
    if (rc && rc != CN_ENOTFOUND && !f->closing) {
        cn_warn("agent", "config files: %s%s", msg, rc == CN_EINVAL ? "" : " (retrying in 2s)");
        if (rc != CN_EINVAL)
            f->failed = true;
    }
    if (f->pending == 0 && f->failed && !f->closing) {
        f->failed = false;
        uv_timer_start(&f->retry, on_retry, RETRY_MS, 0);
    }
    maybe_free(f);
}

struct agent_filedefs *agent_filedefs_new(uv_loop_t *loop, struct local *l)
{
    struct agent_filedefs *f = cn_calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->loop = loop;
    f->local = l;
    uv_timer_init(loop, &f->retry);
    f->retry.data = f;
    return f;
}

static void apply_wanted(struct agent_filedefs *f)
{
    struct ids svcs = {0}, chks = {0};
    char err[1024];
    f->pending++; /* held until every write below is started */
    for (size_t i = 0; i < f->want_svcs.n; i++) {
        struct local_svc_def def;
        if (agent_defs_service(&f->want_svcs.v[i], &def, err, sizeof(err))) {
            cn_error("agent", "%s", err);
            continue;
        }
        ids_add(&svcs, def.svc.id);
        f->pending++;
        local_add_service(f->local, &def, true, on_done, f);
    }
    for (size_t i = 0; i < f->want_chks.n; i++) {
        struct state_check chk;
        if (agent_defs_check(&f->want_chks.v[i], &chk, err, sizeof(err))) {
            cn_error("agent", "%s", err);
            continue;
        }
        ids_add(&chks, chk.check_id);
        f->pending++;
        local_add_check(f->local, &chk, on_done, f);
    }
    /* What the files defined before and no longer do. */
    ids_sort(&svcs);
    ids_sort(&chks);
    for (size_t i = 0; i < f->chks.n; i++) {
        if (!ids_has(&chks, f->chks.v[i])) {
            f->pending++;
            local_remove_check(f->local, f->chks.v[i], on_done, f);
        }
    }
    for (size_t i = 0; i < f->svcs.n; i++) {
        if (!ids_has(&svcs, f->svcs.v[i])) {
            f->pending++;
            local_remove_service(f->local, f->svcs.v[i], on_done, f);
        }
    }
    ids_free(&f->svcs);
    ids_free(&f->chks);
    f->svcs = svcs;
    f->chks = chks;
    on_done(f, 0, ""); /* releases the hold; schedules a retry if one failed */
}

void agent_filedefs_apply(struct agent_filedefs *f, const struct agent_config *cfg)
{
    if (!f || f->closing)
        return;
    uv_timer_stop(&f->retry);
    if (defs_copy(&f->want_svcs, &cfg->services) || defs_copy(&f->want_chks, &cfg->checks)) {
        cn_error("agent", "config files: out of memory");
        return;
    }
    apply_wanted(f);
}

void agent_filedefs_free(struct agent_filedefs *f)
{
    if (!f)
        return;
    f->closing = true;
    uv_close((uv_handle_t *)&f->retry, on_timer_closed);
}
