/* libFuzzer target for the primary's answer to ACL replication
 * (api_acl_repl_parse, api/acl_repl.h): another datacenter's bytes. Checks,
 * beyond "no crash, no leak": an accepted answer's objects are well formed;
 * its diff against itself is empty (or refused for a duplicate); and the
 * upserts a secondary would write, encoded as state command 22, apply to a
 * fresh state without a corrupt-entry error (what every server of the
 * secondary's Raft group runs). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/acl_repl.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t rank[8] = {0, 3, 1, 2, 4, 5, 6, 7};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_acl_repl_answer ans;
    int rc = api_acl_repl_parse(data, size, (size & 1) != 0, &ans);
    if (rc)
        return 0;
    for (size_t i = 0; i < ans.n; i++) {
        const struct acl_repl_obj *o = &ans.objs[i];
        if (o->kind < STATE_ACL_TOKEN || o->kind > STATE_ACL_ROLE || !o->id || !*o->id ||
            strlen(o->id) > 128 || !o->name || (!o->def && o->def_len))
            abort();
    }
    struct acl_repl_diff d;
    rc = acl_repl_diff(ans.objs, ans.n, ans.objs, ans.n, rank, &d);
    if (rc == 0 && (d.ndel || d.nset))
        abort();
    if (rc == 0) {
        acl_repl_diff_free(&d);
        rc = acl_repl_diff(NULL, 0, ans.objs, ans.n, rank, &d);
        if (rc)
            abort();
        struct state_acl *sets = cn_calloc(d.nset ? d.nset : 1, sizeof(*sets));
        if (sets) {
            for (size_t i = 0; i < d.nset; i++) {
                const struct acl_repl_obj *o = &ans.objs[d.set[i]];
                sets[i] = (struct state_acl){.kind = o->kind,
                                             .id = (char *)o->id,
                                             .name = (char *)o->name,
                                             .expires_unix_ns = o->expires_unix_ns,
                                             .def = (uint8_t *)o->def,
                                             .def_len = o->def_len};
            }
            struct cn_buf b = CN_BUF_INIT;
            struct state *s = state_new();
            if (s && !state_cmd_acl_replicate(&b, NULL, 0, sets, d.nset)) {
                int arc = state_apply(s, 1, b.p, b.len, NULL);
                if (arc == CN_ECORRUPT)
                    abort();
            }
            state_free(s);
            cn_buf_free(&b);
            cn_free(sets);
        }
        acl_repl_diff_free(&d);
    }
    api_acl_repl_answer_free(&ans);
    return 0;
}
