/* libFuzzer target for a config entry body (api/config_entry.c,
 * api/config_defaults.c: PUT /v1/config). Beyond "no crash, no leak": every
 * refusal carries a message. A service-intentions entry that decodes has a
 * name and one or more distinct, non-empty sources with an action allow or
 * deny; it encodes as an INTENTION_ENTRY command that a fresh state applies,
 * after which the entry's view (the intentions of that destination) has
 * exactly those sources and the entry's ModifyIndex is the command's index.
 * A proxy-defaults or service-defaults entry that decodes has a name
 * ("global" for proxy-defaults) and canonical JSON that decodes again to the
 * same bytes (a stored entry reads back as written); it encodes as a
 * CONFIG_ENTRY command that a fresh state applies, holding exactly those
 * bytes at the command's index, and a proxy of that service resolves. The
 * input is also tried as a kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "local/local.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
    const char *dst;
    size_t n;
};

static int count_cb(void *arg, const struct state_intention *x)
{
    struct count *c = arg;
    c->n += strcmp(x->destination, c->dst) == 0;
    return 0;
}

static void defaults_checks(struct api_config_entry *e)
{
    if (!e->name || !*e->name || !e->data.len || e->n ||
        (!strcmp(e->kind, API_CONFIG_PROXY_DEFAULTS) && strcmp(e->name, "global") != 0))
        abort();
    /* the canonical form decodes to itself */
    char err[700];
    struct api_config_entry again;
    int rc = api__config_entry_decode(e->data.p, e->data.len, &again, err, sizeof(err));
    if (rc == 0) {
        if (again.data.len != e->data.len || memcmp(again.data.p, e->data.p, e->data.len) ||
            strcmp(again.name, e->name) || strcmp(again.kind, e->kind))
            abort();
        api__config_entry_clear(&again);
    } else if (rc != CN_ENOMEM) {
        abort();
    }
    struct cn_buf cmd = CN_BUF_INIT;
    struct state *st = state_new();
    if (st &&
        !state_cmd_config_entry(&cmd, e->kind, e->name, false, true, 0, e->data.p, e->data.len)) {
        struct state_result res;
        state_result_init(&res);
        rc = state_apply(st, 1, cmd.p, cmd.len, &res);
        if (rc == 0) {
            const struct state_config_entry *got = state_config_entry_get(st, e->kind, e->name);
            if (!res.ok || !got || got->len != e->data.len ||
                memcmp(got->data, e->data.p, got->len) || got->modify_index != 1)
                abort();
            /* the entry as a destination's and as an upstream's defaults */
            struct state_upstream up = {
                .dest_name = e->name, .local_bind_port = 1, .config = (char *)"{\"own\":1}"};
            struct state_service v = {
                .kind = (char *)STATE_KIND_CONNECT_PROXY,
                .proxy = {.dest_name = e->name, .config = (char *)"{}", .ups = &up, .nups = 1}};
            struct local_merged out = {0};
            rc = api__config_resolve_proxy(st, &v, &out);
            if (rc && rc != CN_ENOMEM)
                abort();
            if (!rc && (out.nups != 1 || (out.ups[0] && !strstr(out.ups[0], "\"own\":1"))))
                abort(); /* the upstream's own key stays */
            local_merged_free(&out);
        } else if (rc != CN_ENOMEM) {
            abort();
        }
        state_result_free(&res);
    }
    state_free(st);
    cn_buf_free(&cmd);
    api__config_entry_clear(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[700];
    struct api_config_entry e;
    err[0] = 0;
    int rc = api__config_entry_decode((const char *)data, size, &e, err, sizeof(err));
    if (rc) {
        if ((rc != CN_EINVAL && rc != CN_ENOMEM) || !err[0])
            abort();
    } else if (strcmp(e.kind, API_CONFIG_INTENTIONS) != 0) {
        defaults_checks(&e);
    } else {
        if (!e.name || !*e.name || e.n == 0 || e.n > STATE_IXN_ENTRY_MAX)
            abort();
        for (size_t i = 0; i < e.n; i++) {
            if (!*e.src[i].source ||
                (strcmp(e.src[i].action, "allow") && strcmp(e.src[i].action, "deny")))
                abort();
            for (size_t j = 0; j < i; j++)
                if (!strcmp(e.src[i].source, e.src[j].source))
                    abort();
        }
        struct cn_buf cmd = CN_BUF_INIT;
        struct state *st = state_new();
        if (st && !state_cmd_intention_entry(&cmd, e.name, false, true, 0, 1, e.src, e.n)) {
            struct state_result res;
            state_result_init(&res);
            rc = state_apply(st, 1, cmd.p, cmd.len, &res);
            if (rc == 0) {
                uint64_t ci, mi;
                struct count c = {e.name, 0};
                state_intentions_foreach(st, count_cb, &c);
                state_intention_entry_index(st, e.name, &ci, &mi);
                if (!res.ok || c.n != e.n || mi != 1 || ci != 1)
                    abort();
            } else if (rc != CN_ENOMEM) {
                abort();
            }
            state_result_free(&res);
        }
        state_free(st);
        cn_buf_free(&cmd);
        api__config_entry_clear(&e);
    }
    char *s = cn_strndup((const char *)data, size);
    if (s) {
        err[0] = 0;
        if (api__config_kind_check(s, err, sizeof(err)) && !err[0])
            abort();
        cn_free(s);
    }
    return 0;
}
