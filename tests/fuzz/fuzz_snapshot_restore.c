/* fuzz_snapshot_restore: arbitrary bytes as a state snapshot, both as given
 * and with the trailing CRC32C fixed up so the decoder itself is exercised.
 * A snapshot that restores must re-encode to the same bytes (the format is
 * canonical; an older version re-encodes as the current one) and the restored state must take
 * commands. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc.h"
#include "base/enc.h"
#include "base/err.h"
#include "state/state.h"

static void one(const uint8_t *p, size_t n)
{
    struct state *s = state_new();
    if (!s)
        abort();
    char err[160];
    int rc = state_snapshot_restore(s, p, n, err, sizeof(err));
    if (rc == 0 && state_last_index(s) < (UINT64_C(1) << 54)) {
        struct cn_buf b = CN_BUF_INIT;
        /* Versions 1 (no sessions), 2 (no prepared queries, checks without
         * their agent-only definition), 3 (no intentions, Connect CA or
         * ACL tables), 4 (no coordinates), 5 (no config entries) and 6
         * (upstreams without their Config) restore and are re-encoded as
         * the current version (7); only the current one must round-trip
         * exactly. */
        if (state_snapshot_encode(s, &b) || (p[4] == 7 && (b.len != n || memcmp(b.p, p, n))))
            abort();
        cn_buf_reset(&b);
        struct state_kv_op ops[] = {
            {.verb = STATE_KV_GET_TREE, .key = ""},
            {.verb = STATE_KV_DELETE_TREE, .key = ""},
            {.verb = STATE_KV_SET, .key = "x", .value = "y", .value_len = 1},
        };
        state_cmd_kv_txn(&b, ops, 3);
        struct state_result res;
        state_result_init(&res);
        if (state_apply(s, state_last_index(s) + 1, b.p, b.len, &res) != 0)
            abort();
        state_result_free(&res);
        cn_buf_reset(&b);
        state_cmd_kv_reap(&b, UINT64_MAX >> 9);
        if (state_apply(s, state_last_index(s) + 1, b.p, b.len, NULL) != 0)
            abort();
        if (state_kv_count(s) != 1 || state_kv_prefix_index(s, "") != state_last_index(s) - 1)
            abort();
        cn_buf_free(&b);
    } else if (rc == 0) {
        /* restored, but too close to the index limit to apply more */
    } else if (rc != CN_ECORRUPT && rc != CN_ENOMEM) {
        abort();
    } else if (rc == CN_ECORRUPT && err[0] == '\0') {
        abort();
    }
    state_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    if (size >= 9) {
        uint8_t *c = malloc(size);
        if (!c)
            return 0;
        memcpy(c, data, size);
        cn_put_u32(c + size - 4, cn_crc32c(0, c, size - 4));
        one(c, size);
        free(c);
    }
    return 0;
}
