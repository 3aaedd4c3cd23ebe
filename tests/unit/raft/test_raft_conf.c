/* Unit tests for src/raft/conf.c: encoding round trip, every truncation and
 * corruption rejected, single-server changes and their refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "raft/raft_int.h"

static struct raft_conf sample(void)
{
    struct raft_conf c;
    memset(&c, 0, sizeof(c));
    c.n = 3;
    for (size_t i = 0; i < 3; i++) {
        c.servers[i].id = 10 + i;
        c.servers[i].role = i == 2 ? RAFT_LEARNER : RAFT_VOTER;
    }
    strcpy(c.servers[0].addr, "10.0.0.1:8300");
    strcpy(c.servers[1].addr, "");
    memset(c.servers[2].addr, 'a', 63);
    return c;
}

static void test_roundtrip_and_truncation(void **state)
{
    (void)state;
    struct raft_conf c = sample(), d;
    uint8_t buf[2048];
    size_t len;
    assert_int_equal(raft_conf_encode(&c, NULL, 0, &len), CN_ETOOBIG);
    size_t need = len;
    assert_int_equal(raft_conf_encode(&c, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, need);
    assert_int_equal(raft_conf_decode(buf, len, &d), 0);
    assert_memory_equal(&c, &d, sizeof(c));
    for (size_t k = 0; k < len; k++)
        assert_int_equal(raft_conf_decode(buf, k, &d), CN_ECORRUPT);
    /* Trailing garbage. */
    buf[len] = 0;
    assert_int_equal(raft_conf_decode(buf, len + 1, &d), CN_ECORRUPT);
    /* Empty configuration (a joining server's). */
    struct raft_conf e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(raft_conf_encode(&e, buf, sizeof(buf), &len), 0);
    assert_int_equal(raft_conf_decode(buf, len, &d), 0);
    assert_int_equal(d.n, 0);
}

static void test_corrupt(void **state)
{
    (void)state;
    struct raft_conf c = sample(), d;
    uint8_t buf[2048], bad[2048];
    size_t len;
    assert_int_equal(raft_conf_encode(&c, buf, sizeof(buf), &len), 0);
    memcpy(bad, buf, len);
    bad[0] = 2; /* version */
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    memcpy(bad, buf, len);
    bad[1] = 17; /* too many servers */
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    memcpy(bad, buf, len);
    memset(bad + 2, 0, 8); /* id 0 */
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    memcpy(bad, buf, len);
    bad[10] = 7; /* role */
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    memcpy(bad, buf, len);
    bad[11] = 200; /* addr length past the end */
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    memcpy(bad, buf, len);
    bad[12] = 0; /* NUL inside addr */
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    /* Duplicate id: second server's id = first's. */
    memcpy(bad, buf, len);
    size_t second = 2 + 8 + 1 + 1 + strlen(c.servers[0].addr);
    memcpy(bad + second, bad + 2, 8);
    assert_int_equal(raft_conf_decode(bad, len, &d), CN_ECORRUPT);
    /* Garbage of every small length never crashes. */
    for (size_t k = 0; k < 64; k++) {
        for (size_t i = 0; i < k; i++)
            bad[i] = (uint8_t)(i * 37 + k);
        (void)raft_conf_decode(bad, k, &d);
    }
}

static void test_changes(void **state)
{
    (void)state;
    struct raft_conf c = sample(), o;
    assert_int_equal(raft__conf_voters(&c), 2);
    assert_true(raft__conf_is_voter(&c, 10));
    assert_false(raft__conf_is_voter(&c, 12));
    assert_false(raft__conf_is_voter(&c, 99));
    assert_int_equal(raft__conf_change(&c, RAFT_CC_ADD_LEARNER, 10, "x", &o), CN_EEXIST);
    assert_int_equal(raft__conf_change(&c, RAFT_CC_ADD_LEARNER, 0, "x", &o), CN_EINVAL);
    assert_int_equal(raft__conf_change(&c, RAFT_CC_ADD_LEARNER, 20, "h:1", &o), 0);
    assert_int_equal(o.n, 4);
    assert_int_equal(raft_conf_find(&o, 20)->role, RAFT_LEARNER);
    assert_string_equal(raft_conf_find(&o, 20)->addr, "h:1");
    assert_int_equal(raft__conf_change(&c, RAFT_CC_PROMOTE, 10, NULL, &o), CN_EINVAL);
    assert_int_equal(raft__conf_change(&c, RAFT_CC_PROMOTE, 99, NULL, &o), CN_ENOTFOUND);
    assert_int_equal(raft__conf_change(&c, RAFT_CC_PROMOTE, 12, NULL, &o), 0);
    assert_int_equal(raft__conf_voters(&o), 3);
    assert_int_equal(raft__conf_change(&c, RAFT_CC_REMOVE, 10, NULL, &o), 0);
    assert_int_equal(o.n, 2);
    assert_null(raft_conf_find(&o, 10));
    assert_non_null(raft_conf_find(&o, 12));
    struct raft_conf one = o;
    assert_int_equal(raft__conf_change(&one, RAFT_CC_REMOVE, 11, NULL, &o), CN_EINVAL);
    char longaddr[80];
    memset(longaddr, 'x', 79);
    longaddr[79] = 0;
    assert_int_equal(raft__conf_change(&c, RAFT_CC_ADD_LEARNER, 30, longaddr, &o), CN_EINVAL);
    struct raft_conf full;
    memset(&full, 0, sizeof(full));
    full.n = RAFT_MAX_SERVERS;
    for (size_t i = 0; i < RAFT_MAX_SERVERS; i++)
        full.servers[i].id = i + 1;
    assert_int_equal(raft__conf_change(&full, RAFT_CC_ADD_LEARNER, 99, NULL, &o), CN_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_truncation),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
