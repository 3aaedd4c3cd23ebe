/* The snapshot archive codec (base/snaparch.c): round trips, the streamed
 * writer equals the one-shot one, and every truncation, every flipped bit
 * and foreign formats are refused with the part and offset named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/snaparch.h"

static const char META[] = "{\"ID\":\"2-10-1\",\"Index\":10,\"Term\":2,\"Tables\":{\"KV\":3}}";

static void make(struct cn_buf *b, const char *state)
{
    cn_buf_init(b);
    assert_int_equal(snaparch_write(b, META, strlen(META), state, strlen(state)), 0);
}

static void test_round_trip(void **st)
{
    (void)st;
    struct cn_buf b;
    make(&b, "CNST state bytes");
    assert_int_equal(b.len, SNAPARCH_OVERHEAD + strlen(META) + 16);
    struct snaparch a;
    char err[256];
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), 0);
    assert_int_equal(a.index, 10);
    assert_int_equal(a.term, 2);
    assert_string_equal(a.id, "2-10-1");
    assert_int_equal(a.state_len, 16);
    assert_memory_equal(a.state, "CNST state bytes", 16);
    assert_int_equal(a.meta_len, strlen(META));
    assert_ptr_equal(b.p + a.state_off, a.state);
    cn_buf_free(&b);
}

static void test_streamed_equals_one_shot(void **st)
{
    (void)st;
    char state[5000];
    for (size_t i = 0; i < sizeof(state); i++)
        state[i] = (char)('a' + i % 26);
    struct cn_buf one, two;
    cn_buf_init(&one);
    cn_buf_init(&two);
    assert_int_equal(snaparch_write(&one, META, strlen(META), state, sizeof(state)), 0);
    struct snaparch_w w;
    assert_int_equal(snaparch_w_begin(&w, &two, META, strlen(META), sizeof(state)), 0);
    for (size_t off = 0; off < sizeof(state); off += 777) {
        size_t n = sizeof(state) - off < 777 ? sizeof(state) - off : 777;
        assert_int_equal(cn_buf_append(&two, state + off, n), 0);
        snaparch_w_state(&w, state + off, n);
    }
    assert_int_equal(snaparch_w_end(&w, &two), 0);
    assert_int_equal(one.len, two.len);
    assert_memory_equal(one.p, two.p, one.len);
    /* A stream shorter than announced is refused. */
    struct cn_buf three;
    cn_buf_init(&three);
    assert_int_equal(snaparch_w_begin(&w, &three, META, strlen(META), 10), 0);
    snaparch_w_state(&w, state, 5);
    assert_int_equal(snaparch_w_end(&w, &three), CN_EINVAL);
    cn_buf_free(&one);
    cn_buf_free(&two);
    cn_buf_free(&three);
}

static void test_every_truncation_and_flip(void **st)
{
    (void)st;
    struct cn_buf b;
    make(&b, "CNST some state");
    struct snaparch a;
    char err[256];
    for (size_t n = 0; n < b.len; n++) {
        err[0] = '\0';
        assert_int_equal(snaparch_read(b.p, n, &a, err, sizeof(err)), CN_ECORRUPT);
        assert_non_null(strstr(err, "snapshot archive: "));
        assert_non_null(strstr(err, "offset"));
    }
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.p[i] ^= (char)(1 << bit);
            assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
            b.p[i] ^= (char)(1 << bit);
        }
    }
    /* Trailing bytes. */
    assert_int_equal(cn_buf_append(&b, "x", 1), 0);
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "after the trailer"));
    cn_buf_free(&b);
}

static void test_names_the_part(void **st)
{
    (void)st;
    struct cn_buf b;
    make(&b, "CNST the state");
    struct snaparch a;
    char err[256];
    b.p[SNAPARCH_HEAD_LEN + SNAPARCH_PART_HDR + 3] ^= 1; /* inside meta.json */
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "part meta.json at offset 12"));
    b.p[SNAPARCH_HEAD_LEN + SNAPARCH_PART_HDR + 3] ^= 1;
    b.p[b.len - 8 - 32 - 32 - 2] ^= 1; /* inside state.bin */
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "part state.bin"));
    b.p[b.len - 8 - 32 - 32 - 2] ^= 1;
    b.p[b.len - 1] ^= 1; /* the whole-file checksum */
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "whole-file SHA-256 mismatch"));
    cn_buf_free(&b);
}

static void test_foreign(void **st)
{
    (void)st;
    struct snaparch a;
    char err[256];
    static const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    assert_int_equal(snaparch_read(gz, sizeof(gz), &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "gzip"));
    assert_non_null(strstr(err, "Consul"));
    assert_int_equal(snaparch_read("CNS1xxxxxxxx", 12, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "raw cairn Raft snapshot"));
    assert_int_equal(snaparch_read("", 0, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "empty"));
    /* A newer version. */
    struct cn_buf b;
    make(&b, "CNST x");
    b.p[8] = 2;
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "unsupported archive version 2"));
    cn_buf_free(&b);
    /* Meta without Index. */
    cn_buf_init(&b);
    assert_int_equal(snaparch_write(&b, "{\"ID\":\"x\",\"Term\":1}", 19, "CNST", 4), 0);
    assert_int_equal(snaparch_read(b.p, b.len, &a, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "Index, Term or ID"));
    cn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_streamed_equals_one_shot),
        cmocka_unit_test(test_every_truncation_and_flip),
        cmocka_unit_test(test_names_the_part),
        cmocka_unit_test(test_foreign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
