/* tests/unit/connect/test_leaf_renew.c: a leaf's renewal point
 * (connect/renew.c), as Consul's agent/leafcert: between 60% and 90% of its
 * lifetime, the point chosen by the random value given; the generator is
 * deterministic for a seed and spreads the points over the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "connect/renew.h"

static void test_window_bounds(void **st)
{
    (void)st;
    /* a 72h leaf signed at 1000: 60% is 43.2h, 90% is 64.8h */
    int64_t life = 72 * 3600, at = 1000;
    assert_int_equal(connect_leaf_renew_at(at, at + life, 0), at + life * 6 / 10);
    int64_t span = life * 9 / 10 - life * 6 / 10;
    assert_int_equal(connect_leaf_renew_at(at, at + life, (uint64_t)span), at + life * 9 / 10);
    assert_int_equal(connect_leaf_renew_at(at, at + life, (uint64_t)span + 1), at + life * 6 / 10);
    assert_int_equal(connect_leaf_renew_at(at, at + life, 12345), at + life * 6 / 10 + 12345);
    /* a 10 s test leaf: between 6 and 9 s */
    for (uint64_t r = 0; r < 10; r++) {
        int64_t p = connect_leaf_renew_at(0, 10, r);
        assert_true(p >= 6 && p <= 9);
    }
    /* no lifetime: at once */
    assert_int_equal(connect_leaf_renew_at(50, 50, 7), 50);
    assert_int_equal(connect_leaf_renew_at(50, 40, 7), 50);
}

static void test_generator_spreads(void **st)
{
    (void)st;
    uint64_t a = 42, b = 42;
    int64_t life = 3600, lo = life, hi = 0;
    int below_mid = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = connect_rand_next(&a);
        assert_int_equal(x, connect_rand_next(&b)); /* the same seed, the same points */
        int64_t p = connect_leaf_renew_at(0, life, x);
        assert_true(p >= 2160 && p <= 3240);
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
        below_mid += p < 2700;
    }
    /* spread over the window, not stuck at one point (Consul's jitter) */
    assert_true(lo < 2200);
    assert_true(hi > 3200);
    assert_true(below_mid > 400 && below_mid < 600);
    uint64_t z = 0; /* a zero state still moves */
    assert_int_not_equal(connect_rand_next(&z), 0);
    assert_int_not_equal(z, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_bounds),
        cmocka_unit_test(test_generator_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
