/* tests/unit/client/test_session.c: libcairn's session and lock parsers
 * (client/session.c cairn__session_parse_id, client/kv.c
 * cairn__kv_parse_session) and the argument checks done before any request
 * (Consul: website/content/api-docs/session.mdx, TTL between 10s and 24h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cairn/client.h"
#include "client/client_int.h"

static void test_parse_id(void **st)
{
    (void)st;
    char id[CAIRN_SESSION_ID_LEN];
    assert_int_equal(
        cairn__session_parse_id("{\"ID\":\"adf4238a-882b-9ddc-4a9d-5b6758e4159e\"}", id), 0);
    assert_string_equal(id, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
    assert_int_equal(cairn__session_parse_id("{\"ID\":\"\"}", id), -EPROTO);
    assert_int_equal(cairn__session_parse_id("{\"ID\":7}", id), -EPROTO);
    assert_int_equal(cairn__session_parse_id("[]", id), -EPROTO);
    assert_int_equal(cairn__session_parse_id("", id), -EPROTO);
    /* longer than an id: refused, not truncated */
    assert_int_equal(
        cairn__session_parse_id("{\"ID\":\"0123456789012345678901234567890123456789\"}", id),
        -EPROTO);
    assert_int_equal(cairn__session_parse_id("{\"ID\":\"a\\u0000b\"}", id), -EPROTO);
}

static void test_parse_holder(void **st)
{
    (void)st;
    char sid[CAIRN_SESSION_ID_LEN];
    uint64_t mi = 0;
    assert_int_equal(
        cairn__kv_parse_session(
            "[{\"Key\":\"k\",\"Session\":\"s-1\",\"ModifyIndex\":12,\"Value\":null}]", sid, &mi),
        0);
    assert_string_equal(sid, "s-1");
    assert_int_equal(mi, 12);
    /* free key: no Session field */
    assert_int_equal(cairn__kv_parse_session("[{\"Key\":\"k\",\"ModifyIndex\":13}]", sid, &mi), 0);
    assert_string_equal(sid, "");
    assert_int_equal(mi, 13);
    assert_int_equal(cairn__kv_parse_session("[]", sid, NULL), -EPROTO);
    assert_int_equal(cairn__kv_parse_session("[3]", sid, NULL), -EPROTO);
    assert_int_equal(cairn__kv_parse_session("{}", sid, NULL), -EPROTO);
    assert_int_equal(cairn__kv_parse_session(
                         "[{\"Session\":\"0123456789012345678901234567890123456789\"}]", sid, NULL),
                     -EPROTO);
}

static void test_bad_arguments(void **st)
{
    (void)st;
    struct cairn_client_opts co = {.addr = "127.0.0.1:1"};
    int err = 0;
    struct cairn_client *c = cairn_client_new(&co, &err);
    assert_non_null(c);
    char id[CAIRN_SESSION_ID_LEN];
    struct cairn_session_opts so = {.ttl_ms = 9999};
    assert_int_equal(cairn_session_create(c, &so, id), -EINVAL); /* under 10s */
    so.ttl_ms = 86400001;
    assert_int_equal(cairn_session_create(c, &so, id), -EINVAL); /* over 24h */
    so.ttl_ms = 10000;
    so.lock_delay_ms = -5;
    assert_int_equal(cairn_session_create(c, &so, id), -EINVAL);
    so.lock_delay_ms = 0;
    so.nnode_checks = 1;
    assert_int_equal(cairn_session_create(c, &so, id), -EINVAL);
    assert_int_equal(cairn_session_renew(c, ""), -EINVAL);
    assert_int_equal(cairn_session_destroy(c, NULL), -EINVAL);
    assert_int_equal(cairn_kv_acquire(c, "k", "", NULL, 0), -EINVAL);
    assert_int_equal(cairn_kv_acquire(c, "", "s", NULL, 0), -EINVAL);
    assert_int_equal(cairn_kv_release(c, "k", NULL), -EINVAL);
    /* the agent is unreachable: a transport error, not a verdict */
    assert_int_equal(cairn_session_renew(c, "s"), -EIO);
    assert_int_equal(cairn_kv_acquire(c, "k", "s", "v", 1), -EIO);
    cairn_client_free(c);
    assert_null(cairn_session_keeper_start(&co, "s", 0, NULL, NULL, &err));
    assert_int_equal(err, -EINVAL);
    struct cairn_election_opts eo = {.ttl_ms = 5000};
    assert_null(cairn_election_start(&co, "k", &eo, &err)); /* under Consul's 10s */
    assert_int_equal(err, -EINVAL);
    eo.ttl_ms = 0;
    assert_null(cairn_election_start(&co, "", &eo, &err));
    assert_int_equal(err, -EINVAL);
}

/* An election against an unreachable agent: resign joins at once, with no
 * callback. */
static int calls;
static void elected(struct cairn_election *e, const char *s, void *a)
{
    (void)e, (void)s, (void)a;
    calls++;
}

static void test_resign_unreachable(void **st)
{
    (void)st;
    struct cairn_client_opts co = {.addr = "127.0.0.1:1"};
    struct cairn_election_opts eo = {.elected = elected, .retry_ms = 10};
    int err = 0;
    struct cairn_election *e = cairn_election_start(&co, "k", &eo, &err);
    assert_non_null(e);
    assert_int_equal(cairn_election_is_leader(e), 0);
    cairn_election_resign(e);
    assert_int_equal(calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_parse_holder),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_resign_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
