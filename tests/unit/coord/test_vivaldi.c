/* tests/unit/coord/test_vivaldi.c: Serf's coordinate semantics (coord/coord.h):
 * DistanceTo with heights and adjustments, input validation and the reset,
 * the latency filter, the wire form, and convergence on a synthetic latency
 * matrix (points on a plane plus access-link heights). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "coord/coord.h"

static struct coord_config cfg(void)
{
    struct coord_config c;
    coord_config_default(&c);
    return c;
}

static void test_defaults(void **state)
{
    (void)state;
    struct coord_config c = cfg();
    assert_true(c.error_max == 1.5 && c.ce == 0.25 && c.cc == 0.25);
    assert_int_equal(c.adjustment_window, 20);
    assert_int_equal(c.latency_filter, 3);
    assert_true(c.height_min == 10.0e-6 && c.gravity_rho == 150.0);
    struct coord k;
    coord_init(&k, &c);
    assert_true(k.error == 1.5 && k.height == 10.0e-6 && k.adjustment == 0);
    for (int i = 0; i < COORD_DIM; i++)
        assert_true(k.vec[i] == 0);
    assert_true(coord_valid(&k));
}

static void test_distance(void **state)
{
    (void)state;
    struct coord a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.vec[0] = 3.0;
    b.vec[1] = 4.0; /* |a - b| = 5 */
    a.height = 0.25;
    b.height = 0.5;
    assert_true(fabs(coord_raw_distance(&a, &b) - 5.75) < 1e-12);
    assert_true(fabs(coord_distance(&a, &b) - 5.75) < 1e-12);
    a.adjustment = 0.1;
    b.adjustment = -0.3;
    assert_true(fabs(coord_distance(&a, &b) - 5.55) < 1e-12);
    assert_true(fabs(coord_raw_distance(&a, &b) - 5.75) < 1e-12);
    /* adjustments that would make it non-positive are ignored */
    a.adjustment = -10;
    assert_true(fabs(coord_distance(&a, &b) - 5.75) < 1e-12);
    /* symmetric */
    assert_true(coord_distance(&a, &b) == coord_distance(&b, &a));
}

static void test_rejects_bad_input(void **state)
{
    (void)state;
    struct coord_config c = cfg();
    struct coord_client *cl = coord_client_new(&c, 1);
    assert_non_null(cl);
    struct coord before = *coord_client_get(cl);
    struct coord o;
    coord_init(&o, &c);
    o.vec[3] = NAN;
    assert_int_equal(coord_client_update(cl, "x", &o, 1000000), CN_EINVAL);
    coord_init(&o, &c);
    o.height = INFINITY;
    assert_int_equal(coord_client_update(cl, "x", &o, 1000000), CN_EINVAL);
    coord_init(&o, &c);
    o.error = -INFINITY;
    assert_int_equal(coord_client_update(cl, "x", &o, 1000000), CN_EINVAL);
    coord_init(&o, &c);
    assert_int_equal(coord_client_update(cl, "x", &o, -1), CN_ERANGE);
    assert_int_equal(coord_client_update(cl, "x", &o, COORD_MAX_RTT_NS + 1), CN_ERANGE);
    assert_memory_equal(&before, coord_client_get(cl), sizeof(before));
    assert_int_equal(coord_client_filter_nodes(cl), 0);
    /* setting an invalid coordinate directly is refused too */
    o.adjustment = NAN;
    assert_int_equal(coord_client_set(cl, &o), CN_EINVAL);
    assert_memory_equal(&before, coord_client_get(cl), sizeof(before));
    /* zero and the maximum are accepted */
    coord_init(&o, &c);
    assert_int_equal(coord_client_update(cl, "x", &o, 0), 0);
    assert_int_equal(coord_client_update(cl, "x", &o, COORD_MAX_RTT_NS), 0);
    assert_true(coord_valid(coord_client_get(cl)));
    assert_int_equal(coord_client_resets(cl), 0);
    coord_client_free(cl);
}

/* A result that is no longer valid (overflow) resets to a new coordinate. */
static void test_reset_on_poison(void **state)
{
    (void)state;
    struct coord_config c = cfg();
    struct coord_client *cl = coord_client_new(&c, 7);
    struct coord o;
    coord_init(&o, &c);
    o.vec[0] = 1e300;
    o.error = 1e-9;
    assert_int_equal(coord_client_update(cl, "far", &o, 1000000), 0);
    assert_int_equal(coord_client_resets(cl), 1);
    struct coord fresh;
    coord_init(&fresh, &c);
    assert_memory_equal(&fresh, coord_client_get(cl), sizeof(fresh));
    coord_client_free(cl);
}

/* The latency filter hands Vivaldi the median of the last 3 samples: one
 * spike after two normal samples moves nothing differently. */
static void test_latency_filter(void **state)
{
    (void)state;
    struct coord_config c = cfg();
    struct coord_client *a = coord_client_new(&c, 42), *b = coord_client_new(&c, 42);
    struct coord o;
    coord_init(&o, &c);
    o.vec[0] = 0.01;
    o.error = 0.2;
    int64_t ms = 1000000;
    assert_int_equal(coord_client_update(a, "o", &o, 10 * ms), 0);
    assert_int_equal(coord_client_update(b, "o", &o, 10 * ms), 0);
    assert_int_equal(coord_client_update(a, "o", &o, 10 * ms), 0);
    assert_int_equal(coord_client_update(b, "o", &o, 10 * ms), 0);
    assert_int_equal(coord_client_update(a, "o", &o, 10 * ms), 0);
    assert_int_equal(coord_client_update(b, "o", &o, 900 * ms), 0);
    assert_memory_equal(coord_client_get(a), coord_client_get(b), sizeof(struct coord));
    /* the filter is per node, and forgotten on request */
    assert_int_equal(coord_client_update(a, "p", &o, 10 * ms), 0);
    assert_int_equal(coord_client_filter_nodes(a), 2);
    coord_client_forget(a, "o");
    coord_client_forget(a, "nobody");
    assert_int_equal(coord_client_filter_nodes(a), 1);
    coord_client_free(a);
    coord_client_free(b);
}

static void test_wire(void **state)
{
    (void)state;
    struct coord k, back;
    for (int i = 0; i < COORD_DIM; i++)
        k.vec[i] = (i - 3) * 0.00125;
    k.error = 0.3;
    k.adjustment = -0.0001;
    k.height = NAN; /* any bits travel; validity is the receiver's */
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(coord_wire_put(&b, &k), 0);
    assert_int_equal(b.len, COORD_WIRE_LEN);
    assert_int_equal(coord_wire_get(b.p, b.len, &back), 0);
    assert_memory_equal(&k, &back, sizeof(k));
    assert_false(coord_valid(&back));
    assert_int_equal(coord_wire_get(b.p, b.len - 1, &back), CN_ECORRUPT);
    b.p[0] = 2;
    assert_int_equal(coord_wire_get(b.p, b.len, &back), CN_ECORRUPT);
    b.p[0] = COORD_WIRE_VERSION;
    b.p[1] = 3;
    assert_int_equal(coord_wire_get(b.p, b.len, &back), CN_ECORRUPT);
    cn_buf_free(&b);
}

/* ---- convergence -------------------------------------------------------- */

#define NN 25

static uint64_t rs = 12345;
static double urand(void)
{
    rs = rs * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

/* Points on a 100 ms x 100 ms plane, each with an access link of 1-5 ms
 * (the height), every node probing a random other each round. After the
 * rounds the median relative error over all pairs is under 3%, the 90th
 * percentile under 10%, and no
 * pair is off by more than 25% (seen: 0.5%, 2.5%, 7.5%). */
static void test_converges_plane_with_heights(void **state)
{
    (void)state;
    double x[NN], y[NN], h[NN];
    for (int i = 0; i < NN; i++) {
        x[i] = urand() * 0.1;
        y[i] = urand() * 0.1;
        h[i] = 0.001 + urand() * 0.004;
    }
    struct coord_config c = cfg();
    struct coord_client *cl[NN];
    char names[NN][8];
    for (int i = 0; i < NN; i++) {
        cl[i] = coord_client_new(&c, (uint64_t)i + 1);
        assert_non_null(cl[i]);
        snprintf(names[i], sizeof(names[i]), "n%d", i);
    }
    for (int round = 0; round < 1000; round++)
        for (int i = 0; i < NN; i++) {
            int j = (int)(urand() * NN);
            if (j == i)
                continue;
            double rtt = hypot(x[i] - x[j], y[i] - y[j]) + h[i] + h[j];
            struct coord other = *coord_client_get(cl[j]);
            assert_int_equal(coord_client_update(cl[i], names[j], &other, (int64_t)(rtt * 1e9)), 0);
        }
    double errs[NN * NN];
    int n = 0;
    double worst = 0;
    for (int i = 0; i < NN; i++)
        for (int j = i + 1; j < NN; j++) {
            double truth = hypot(x[i] - x[j], y[i] - y[j]) + h[i] + h[j];
            double est = coord_distance(coord_client_get(cl[i]), coord_client_get(cl[j]));
            double e = fabs(est - truth) / truth;
            errs[n++] = e;
            worst = e > worst ? e : worst;
        }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && errs[j - 1] > errs[j]; j--) {
            double t = errs[j];
            errs[j] = errs[j - 1];
            errs[j - 1] = t;
        }
    printf("vivaldi: %d pairs, median relative error %.3f, p90 %.3f, worst %.3f\n", n, errs[n / 2],
           errs[n * 9 / 10], worst);
    assert_true(errs[n / 2] < 0.03);
    assert_true(errs[n * 9 / 10] < 0.10);
    assert_true(worst < 0.25);
    for (int i = 0; i < NN; i++) {
        assert_true(coord_client_get(cl[i])->error < 0.5);
        assert_int_equal(coord_client_resets(cl[i]), 0);
        coord_client_free(cl[i]);
    }
}

/* Two nodes at the same spot get pushed apart (the random direction). */
static void test_coincident(void **state)
{
    (void)state;
    struct coord_config c = cfg();
    struct coord_client *a = coord_client_new(&c, 3);
    struct coord o;
    coord_init(&o, &c);
    assert_int_equal(coord_client_update(a, "o", &o, 20000000), 0);
    assert_true(coord_distance(coord_client_get(a), &o) > 0.001);
    coord_client_free(a);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct coord_config c = cfg();
    c.latency_filter = 0;
    assert_null(coord_client_new(&c, 1));
    c = cfg();
    c.adjustment_window = COORD_ADJ_WINDOW_MAX + 1;
    assert_null(coord_client_new(&c, 1));
    c = cfg();
    c.gravity_rho = 0;
    assert_null(coord_client_new(&c, 1));
    c = cfg();
    c.adjustment_window = 0; /* no adjustment: allowed */
    struct coord_client *cl = coord_client_new(&c, 1);
    assert_non_null(cl);
    struct coord o;
    coord_init(&o, &c);
    o.vec[0] = 0.01;
    assert_int_equal(coord_client_update(cl, "o", &o, 10000000), 0);
    assert_true(coord_client_get(cl)->adjustment == 0);
    coord_client_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_reset_on_poison),
        cmocka_unit_test(test_latency_filter),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_converges_plane_with_heights),
        cmocka_unit_test(test_coincident),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
