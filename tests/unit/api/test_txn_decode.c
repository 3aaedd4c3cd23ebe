/* Unit tests for the /v1/txn body decoder (api/txn.h): every verb, key case
 * rules, per-op errors, request-level errors and their texts, limits, and
 * out-of-memory at every allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/txn.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"

static const struct api_txn_limits LIM = {
    .max_req_len = 512 * 1024,
    .max_value_size = 512 * 1024,
    .max_ops = 128,
};

static char err[512];

static int decode(const char *body, struct api_txn *t)
{
    err[0] = '\0';
    return api_txn_decode(body, strlen(body), &LIM, t, err, sizeof(err));
}

static void test_every_verb(void **state)
{
    (void)state;
    static const struct {
        const char *verb;
        enum api_txn_verb v;
        bool writes;
        bool has_state_verb;
        enum state_kv_verb sv;
    } cases[] = {
        {"set", API_TXN_SET, true, true, STATE_KV_SET},
        {"cas", API_TXN_CAS, true, true, STATE_KV_CAS},
        {"lock", API_TXN_LOCK, true, true, STATE_KV_LOCK},
        {"unlock", API_TXN_UNLOCK, true, true, STATE_KV_UNLOCK},
        {"get", API_TXN_GET, false, true, STATE_KV_GET},
        {"get-or-empty", API_TXN_GET_OR_EMPTY, false, true, STATE_KV_GET_OR_EMPTY},
        {"get-tree", API_TXN_GET_TREE, false, true, STATE_KV_GET_TREE},
        {"check-index", API_TXN_CHECK_INDEX, false, true, STATE_KV_CHECK_INDEX},
        {"check-session", API_TXN_CHECK_SESSION, false, true, STATE_KV_CHECK_SESSION},
        {"check-not-exists", API_TXN_CHECK_NOT_EXISTS, false, true, STATE_KV_CHECK_NOT_EXISTS},
        {"delete", API_TXN_DELETE, true, true, STATE_KV_DELETE},
        {"delete-tree", API_TXN_DELETE_TREE, true, true, STATE_KV_DELETE_TREE},
        {"delete-cas", API_TXN_DELETE_CAS, true, true, STATE_KV_DELETE_CAS},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_putc(&b, '['), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cn_buf_printf(&b,
                                       "%s{\"KV\":{\"Verb\":\"%s\",\"Key\":\"k/%zu\","
                                       "\"Value\":\"aGVsbG8=\",\"Flags\":%zu,\"Index\":%zu,"
                                       "\"Session\":\"sess-%zu\"}}",
                                       i ? "," : "", cases[i].verb, i, i + 1, 100 + i, i),
                         0);
    }
    assert_int_equal(cn_buf_putc(&b, ']'), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);

    struct api_txn t;
    assert_int_equal(decode(b.p, &t), 0);
    assert_int_equal(t.nops, n);
    assert_int_equal(t.nerrors, 0);
    size_t writes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct api_txn_op *op = &t.ops[i];
        char key[16], sess[16];
        snprintf(key, sizeof(key), "k/%zu", i);
        snprintf(sess, sizeof(sess), "sess-%zu", i);
        assert_int_equal(op->verb, cases[i].v);
        assert_string_equal(op->verb_str, cases[i].verb);
        assert_string_equal(api_txn_verb_name(op->verb), cases[i].verb);
        assert_int_equal(api_txn_verb_writes(op->verb), cases[i].writes);
        if (cases[i].has_state_verb)
            assert_int_equal(op->kv.verb, cases[i].sv);
        assert_string_equal(op->kv.key, key);
        assert_string_equal(op->kv.session, sess);
        assert_int_equal(op->kv.flags, i + 1);
        assert_int_equal(op->kv.index, 100 + i);
        assert_int_equal(op->kv.value_len, 5);
        assert_memory_equal(op->kv.value, "hello", 5);
        writes += cases[i].writes;
    }
    assert_int_equal(t.nwrites, writes);
    api_txn_free(&t);
    cn_buf_free(&b);
}

static void test_keys_any_case(void **state)
{
    (void)state;
    struct api_txn t;
    assert_int_equal(decode("[{\"kv\":{\"verb\":\"set\",\"KEY\":\"a\",\"value\":\"dg==\","
                            "\"flags\":18446744073709551615,\"INDEX\":7,\"session\":\"s\"}},"
                            " {\"Kv\":{\"Verb\":\"get\",\"key\":\"b\"}}]",
                            &t),
                     0);
    assert_int_equal(t.nops, 2);
    assert_int_equal(t.ops[0].verb, API_TXN_SET);
    assert_string_equal(t.ops[0].kv.key, "a");
    assert_int_equal(t.ops[0].kv.value_len, 1);
    assert_memory_equal(t.ops[0].kv.value, "v", 1);
    assert_true(t.ops[0].kv.flags == UINT64_MAX); /* uint64 kept exact */
    assert_int_equal(t.ops[0].kv.index, 7);
    assert_string_equal(t.ops[0].kv.session, "s");
    assert_int_equal(t.ops[1].verb, API_TXN_GET);
    assert_string_equal(t.ops[1].kv.key, "b");
    assert_null(t.ops[1].kv.value);
    assert_null(t.ops[1].kv.session);
    assert_int_equal(t.nwrites, 1);
    api_txn_free(&t);
}

static void test_value_null_empty_and_padding(void **state)
{
    (void)state;
    struct api_txn t;
    assert_int_equal(decode("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":null}},"
                            "{\"KV\":{\"Verb\":\"set\",\"Key\":\"b\",\"Value\":\"\"}},"
                            "{\"KV\":{\"Verb\":\"set\",\"Key\":\"c\",\"Value\":\"YWI\"}}]",
                            &t),
                     0);
    assert_int_equal(t.nops, 3);
    assert_null(t.ops[0].kv.value);
    assert_int_equal(t.ops[0].kv.value_len, 0);
    assert_null(t.ops[1].kv.value);
    assert_int_equal(t.ops[1].kv.value_len, 0);
    assert_int_equal(t.ops[2].kv.value_len, 2);
    assert_memory_equal(t.ops[2].kv.value, "ab", 2);
    api_txn_free(&t);
}

static void test_bad_verb_is_per_op(void **state)
{
    (void)state;
    struct api_txn t;
    assert_int_equal(decode("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\"}},"
                            "{\"KV\":{\"Verb\":\"SET\",\"Key\":\"b\"}},"
                            "{\"KV\":{\"Key\":\"c\"}}]",
                            &t),
                     0);
    assert_int_equal(t.nops, 3);
    /* Verbs are case-sensitive, as in Consul. */
    assert_int_equal(t.ops[1].verb, API_TXN_UNKNOWN);
    assert_int_equal(t.nerrors, 2);
    assert_int_equal(t.errors[0].op_index, 1);
    assert_string_equal(t.errors[0].what, "unknown KV verb \"SET\"");
    assert_int_equal(t.errors[1].op_index, 2);
    assert_string_equal(t.errors[1].what, "unknown KV verb \"\"");
    api_txn_free(&t);
}

static void test_missing_key(void **state)
{
    (void)state;
    struct api_txn t;
    /* kvsPreApply: only delete-tree may omit the key; those errors mask the
     * unknown verb of op 3 (pre-checks run before dispatch). */
    assert_int_equal(decode("[{\"KV\":{\"Verb\":\"delete-tree\"}},"
                            "{\"KV\":{\"Verb\":\"get-tree\",\"Key\":\"\"}},"
                            "{\"KV\":{\"Verb\":\"set\",\"Key\":null}},"
                            "{\"KV\":{\"Verb\":\"nope\",\"Key\":\"x\"}}]",
                            &t),
                     0);
    assert_int_equal(t.nerrors, 2);
    assert_int_equal(t.errors[0].op_index, 1);
    assert_string_equal(t.errors[0].what, "Must provide key");
    assert_int_equal(t.errors[1].op_index, 2);
    api_txn_free(&t);
}

static void test_empty_ops_are_skipped(void **state)
{
    (void)state;
    struct api_txn t;
    /* Go leaves {} and {"KV":null} empty and convertOps drops them; OpIndex
     * counts the kept ops. */
    assert_int_equal(decode("[{}, {\"KV\":null}, {\"Other\":1},"
                            " {\"KV\":{\"Verb\":\"bad\",\"Key\":\"k\"}}]",
                            &t),
                     0);
    assert_int_equal(t.nops, 1);
    assert_int_equal(t.nerrors, 1);
    assert_int_equal(t.errors[0].op_index, 0);
    api_txn_free(&t);

    assert_int_equal(decode("[]", &t), 0);
    assert_int_equal(t.nops, 0);
    api_txn_free(&t);
    assert_int_equal(decode(" null ", &t), 0);
    assert_int_equal(t.nops, 0);
    api_txn_free(&t);
}

static void expect_400(const char *body, const char *text)
{
    struct api_txn t;
    assert_int_equal(decode(body, &t), CN_EINVAL);
    assert_int_equal(t.nops, 0);
    assert_null(t.ops);
    api_txn_free(&t); /* harmless after an error */
    if (strstr(err, text) == NULL)
        fail_msg("body %s: message \"%s\" lacks \"%s\"", body, err, text);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_400("", "Failed to parse body: EOF");
    expect_400("  \n", "Failed to parse body: EOF");
    expect_400("not json", "Failed to parse body: invalid JSON");
    expect_400("[", "Failed to parse body: invalid JSON");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\"}}] trailing", "invalid JSON");
    expect_400("[1, 2,]", "Failed to parse body");
    expect_400("{}", "cannot unmarshal object into Go value of type api.TxnOps");
    expect_400("{\"KV\":{}}", "cannot unmarshal object into Go value of type api.TxnOps");
    expect_400("\"x\"", "cannot unmarshal string into Go value of type api.TxnOps");
    expect_400("[42]", "cannot unmarshal number into Go value of type api.TxnOp");
    expect_400("[null]", "cannot unmarshal null");
    expect_400("[{\"KV\":\"x\"}]", "Go struct field TxnOp.KV of type api.KVTxnOp");
    expect_400("[{\"KV\":{\"Verb\":5}}]", "KVTxnOp.Verb of type string");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Flags\":\"x\"}}]",
               "KVTxnOp.Flags of type uint64");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Flags\":-1}}]",
               "KVTxnOp.Flags of type uint64");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Index\":1.5}}]",
               "KVTxnOp.Index of type uint64");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":7}}]",
               "KVTxnOp.Value of type []uint8");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\\u0000b\"}}]", "NUL");
}

static void test_bad_base64(void **state)
{
    (void)state;
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":\"%%%not base64\"}}]",
               "Failed to parse body: illegal base64 data");
    expect_400("[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":\"dg==\"}},"
               "{\"KV\":{\"Verb\":\"set\",\"Key\":\"b\",\"Value\":\"d\"}}]",
               "illegal base64 data in Value of key \"b\"");
    /* Found by fuzz_txn_body: a bad character after the decoder reserved
     * memory leaked it. */
    expect_400("[{\"KV\":{\"Verb\":\"cas\",\"Key\":\"k\",\"Value\":\"dg<=\"}}]",
               "illegal base64 data");
}

static void test_not_kv_ops(void **state)
{
    (void)state;
    /* Session ops are refused; KV mixed with catalog ops too. */
    expect_400("[{\"Session\":{\"Verb\":\"delete\"}}]",
               "Session operations in /v1/txn are not supported by cairn yet");
    expect_400("[{\"KV\":{\"Verb\":\"get\",\"Key\":\"a\"}},{\"service\":{}}]",
               "mixing KV and Node/Service/Check operations is not supported");
    expect_400("[{\"Check\":5}]", "cannot unmarshal number into Go struct field Check");
    expect_400("[{\"Service\":{\"Verb\":\"set\",\"Service\":{\"Tags\":[1]}}}]",
               "AgentService.Tags");
    expect_400("[{\"Service\":{\"Verb\":\"set\",\"Service\":{\"Kind\":\"connect-proxy\"}}}]",
               "not supported in catalog transactions");
    expect_400("[{\"Service\":{\"Verb\":\"set\",\"Service\":{\"Connect\":{\"Native\":true}}}}]",
               "Connect is not supported in catalog transactions");
}

/* Node, Service and Check ops (api-docs/txn.mdx): fields, verbs, writes. */
static void test_catalog_ops(void **state)
{
    (void)state;
    struct api_txn t;
    assert_int_equal(
        decode("[{\"Node\":{\"Verb\":\"cas\",\"Node\":{\"ID\":\"i\",\"Node\":\"n1\","
               "\"Address\":\"10.0.0.1\",\"Meta\":{\"a\":\"b\"},\"ModifyIndex\":7}}},"
               "{\"Service\":{\"Verb\":\"set\",\"Node\":\"n1\",\"Service\":{\"ID\":\"w1\","
               "\"Service\":\"web\",\"Tags\":[\"a\",\"b\"],\"Port\":80,"
               "\"EnableTagOverride\":true}}},"
               "{\"check\":{\"verb\":\"get\",\"check\":{\"node\":\"n1\",\"checkid\":\"c1\"}}},"
               "{\"Node\":{\"Verb\":\"nope\",\"Node\":{\"Node\":\"n1\"}}}]",
               &t),
        0);
    assert_int_equal(t.nops, 4);
    assert_int_equal(t.ncat, 4);
    assert_int_equal(t.nwrites, 2); /* cas, set; get and the unknown verb are not */
    assert_int_equal(t.ops[0].kind, API_TXN_KIND_NODE);
    assert_int_equal(t.ops[0].cat.verb, STATE_CAT_CAS);
    assert_int_equal(t.ops[0].cat.index, 7);
    assert_string_equal(t.ops[0].cat.node.name, "n1");
    assert_string_equal(t.ops[0].cat.node.meta.items[0].v, "b");
    assert_int_equal(t.ops[1].kind, API_TXN_KIND_SERVICE);
    assert_string_equal(t.ops[1].cat.node.name, "n1");
    assert_int_equal(t.ops[1].cat.service.ntags, 2);
    assert_int_equal(t.ops[1].cat.service.port, 80);
    assert_true(t.ops[1].cat.service.enable_tag_override);
    assert_int_equal(t.ops[2].kind, API_TXN_KIND_CHECK);
    assert_string_equal(t.ops[2].cat.check.check_id, "c1");
    assert_int_equal(t.nerrors, 1);
    assert_int_equal(t.errors[0].op_index, 3);
    assert_string_equal(t.errors[0].what, "unknown Node verb \"nope\"");
    api_txn_free(&t);
}

static char *many_ops(size_t n)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_putc(&b, '['), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            cn_buf_printf(&b, "%s{\"KV\":{\"Verb\":\"set\",\"Key\":\"k%zu\"}}", i ? "," : "", i),
            0);
    assert_int_equal(cn_buf_putc(&b, ']'), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    return b.p;
}

static void test_op_limit(void **state)
{
    (void)state;
    struct api_txn t;
    char *ok = many_ops(128);
    assert_int_equal(decode(ok, &t), 0);
    assert_int_equal(t.nops, 128);
    api_txn_free(&t);
    cn_free(ok);

    char *over = many_ops(129);
    assert_int_equal(decode(over, &t), CN_ETOOBIG);
    assert_string_equal(err, "Transaction contains too many operations (129 > 128)");
    api_txn_free(&t);
    cn_free(over);
}

static void test_size_limits(void **state)
{
    (void)state;
    struct api_txn_limits lim = {.max_req_len = 64, .max_value_size = 4, .max_ops = 128};
    struct api_txn t;
    const char *big = "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":\"aGVsbG8=\"}}]";
    /* Whole body over the limit. */
    assert_int_equal(api_txn_decode(big, strlen(big), &(struct api_txn_limits){10, 4, 128}, &t, err,
                                    sizeof(err)),
                     CN_ETOOBIG);
    assert_string_equal(err, "Request body too large, max size: 10 bytes");
    /* One value over kv_max_value_size: Consul's text, key quoted with %q. */
    const char *v = "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\\\"b\",\"Value\":\"aGVsbG8=\"}}]";
    assert_int_equal(api_txn_decode(v, strlen(v), &lim, &t, err, sizeof(err)), CN_ETOOBIG);
    assert_string_equal(err, "Value for key \"a\\\"b\" is too large (5 > 4 bytes)");
    /* Exactly at the limit is fine. */
    const char *at = "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":\"aGVsbA==\"}}]";
    assert_int_equal(api_txn_decode(at, strlen(at), &lim, &t, err, sizeof(err)), 0);
    assert_int_equal(t.ops[0].kv.value_len, 4);
    api_txn_free(&t);
}

static void test_goquote(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(api_goquote(&b, "a\"b\\c\n\t\x01\x7f\xc3\xa9"), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\t\\x01\\x7f\xc3\xa9\"");
    cn_buf_free(&b);
}

/* Out of memory at each allocation: a clean CN_ENOMEM, never a leak or a
 * half-filled result. */
static void test_oom(void **state)
{
    (void)state;
    const char *body = "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"a\",\"Value\":\"aGVsbG8=\"}},"
                       "{\"KV\":{\"Verb\":\"bad\",\"Key\":\"b\",\"Value\":\"dg==\"}},"
                       "{\"KV\":{\"Verb\":\"worse\",\"Key\":\"c\"}}]";
    bool succeeded = false;
    for (long n = 0; n < 64 && !succeeded; n++) {
        struct api_txn t;
        cn_mem_fail_after(n);
        int rc = api_txn_decode(body, strlen(body), &LIM, &t, err, sizeof(err));
        cn_mem_fail_after(-1);
        if (rc == 0) {
            succeeded = true;
            assert_int_equal(t.nops, 3);
            assert_int_equal(t.nerrors, 2);
        } else {
            assert_int_equal(rc, CN_ENOMEM);
            assert_null(t.ops);
            assert_int_equal(t.nerrors, 0);
        }
        api_txn_free(&t);
    }
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_verb),
        cmocka_unit_test(test_keys_any_case),
        cmocka_unit_test(test_value_null_empty_and_padding),
        cmocka_unit_test(test_bad_verb_is_per_op),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_empty_ops_are_skipped),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_not_kv_ops),
        cmocka_unit_test(test_catalog_ops),
        cmocka_unit_test(test_op_limit),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_goquote),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
