/* libFuzzer target for a config entry body (api/config_entry.c: PUT
 * /v1/config). Beyond "no crash, no leak": every refusal carries a message;
 * an entry that decodes has a name and one or more distinct, non-empty
 * sources with an action allow or deny; it encodes as an INTENTION_ENTRY
 * command that a fresh state applies, after which the entry's view (the
 * intentions of that destination) has exactly those sources and the entry's
 * ModifyIndex is the command's index. The input is also tried as a kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[700];
    struct api_config_entry e;
    err[0] = 0;
    int rc = api__config_entry_decode((const char *)data, size, &e, err, sizeof(err));
    if (rc) {
        if ((rc != CN_EINVAL && rc != CN_ENOMEM) || !err[0])
            abort();
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
