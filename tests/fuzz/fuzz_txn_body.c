/* libFuzzer target for the /v1/txn body decoder (api/txn.h). Checks, beyond
 * "no crash, no leak": a successful decode is internally consistent (every
 * kept op has a key string, values match their lengths, per-op errors point
 * at kept ops, the write count matches the verbs). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/txn.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small limits so the fuzzer reaches the limit paths too. */
    static const struct api_txn_limits lim = {
        .max_req_len = 64 * 1024, .max_value_size = 64, .max_ops = 8};
    struct api_txn t;
    char err[256];
    int rc = api_txn_decode((const char *)data, size, &lim, &t, err, sizeof(err));
    if (rc == 0) {
        size_t writes = 0;
        if (t.nops > lim.max_ops)
            abort();
        for (size_t i = 0; i < t.nops; i++) {
            const struct api_txn_op *op = &t.ops[i];
            if (op->kind != API_TXN_KIND_KV) {
                /* a catalog op: never mixed with KV, its strings set */
                if (t.ncat != t.nops || !op->cat.node.name || !op->verb_str)
                    abort();
                writes += op->cat_verb_ok && op->cat.verb != STATE_CAT_GET;
                continue;
            }
            if (!op->kv.key || !op->verb_str || op->verb > API_TXN_UNKNOWN)
                abort();
            if ((op->kv.value == NULL) != (op->kv.value_len == 0))
                abort();
            if (op->kv.value_len > lim.max_value_size)
                abort();
            /* Touch every byte so ASan checks the value's bounds. */
            volatile uint8_t sum = 0;
            for (size_t k = 0; k < op->kv.value_len; k++)
                sum ^= ((const uint8_t *)op->kv.value)[k];
            (void)sum;
            writes += api_txn_verb_writes(op->verb);
        }
        if (writes != t.nwrites)
            abort();
        for (size_t i = 0; i < t.nerrors; i++)
            if (t.errors[i].op_index >= t.nops ||
                !memchr(t.errors[i].what, 0, sizeof(t.errors[i].what)))
                abort();
    } else if (rc != CN_EINVAL && rc != CN_ETOOBIG && rc != CN_ENOMEM) {
        abort();
    } else if (t.ops || t.nops || t.nerrors || !memchr(err, 0, sizeof(err)) || !err[0]) {
        abort();
    }
    api_txn_free(&t);
    return 0;
}
