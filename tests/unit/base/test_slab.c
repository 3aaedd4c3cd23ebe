/* base/slab.c: slots of every size class are aligned, distinct and keep
 * their bytes; a freed slot is reused by its class; churn at a bounded live
 * count maps no more than the bound slab.h states; injected allocation
 * failures fail; ASan sees freed slots as poisoned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/mem.h"
#include "base/slab.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

static void test_slot_sizes(void **st)
{
    (void)st;
    assert_int_equal(cn_slab_slot(1), 8);
    assert_int_equal(cn_slab_slot(8), 8);
    assert_int_equal(cn_slab_slot(9), 16);
    assert_int_equal(cn_slab_slot(325), 328); /* a 32-byte key, 256-byte value KV record */
    assert_int_equal(cn_slab_slot(CN_SLAB_MAX), CN_SLAB_MAX);
}

/* Every size 1..CN_SLAB_MAX, several slots each: 8-byte aligned, within
 * no other slot, bytes intact until freed; all accounted, all released. */
static void test_many_sizes(void **st)
{
    (void)st;
    struct cn_slab s;
    cn_slab_init(&s);
    enum { PER = 5 };
    static unsigned char *p[CN_SLAB_MAX + 1][PER];
    size_t want = 0;
    for (size_t n = 1; n <= CN_SLAB_MAX; n++)
        for (int j = 0; j < PER; j++) {
            p[n][j] = cn_slab_alloc(&s, n);
            assert_non_null(p[n][j]);
            assert_int_equal((uintptr_t)p[n][j] % 8, 0);
            memset(p[n][j], (int)((n * 7 + (size_t)j) & 0xff), cn_slab_slot(n));
            want += cn_slab_slot(n);
        }
    assert_int_equal(s.live, CN_SLAB_MAX * PER);
    assert_int_equal(s.live_bytes, want);
    assert_true(s.mapped >= want);
    /* overlapping slots would have overwritten each other's pattern */
    for (size_t n = 1; n <= CN_SLAB_MAX; n++)
        for (int j = 0; j < PER; j++)
            for (size_t b = 0; b < cn_slab_slot(n); b++)
                assert_int_equal(p[n][j][b], (n * 7 + (size_t)j) & 0xff);
    for (size_t n = 1; n <= CN_SLAB_MAX; n++)
        for (int j = 0; j < PER; j++)
            cn_slab_free(&s, p[n][j], n);
    assert_int_equal(s.live, 0);
    assert_int_equal(s.live_bytes, 0);
    cn_slab_destroy(&s);
    assert_int_equal(s.mapped, 0);
}

/* A freed slot is the next one its class hands out (any request of the same
 * slot size), and another class never gets it. */
static void test_reuse(void **st)
{
    (void)st;
    struct cn_slab s;
    cn_slab_init(&s);
    void *a = cn_slab_alloc(&s, 100), *b = cn_slab_alloc(&s, 100);
    assert_ptr_not_equal(a, b);
    cn_slab_free(&s, a, 100);
    void *c = cn_slab_alloc(&s, 200); /* another class */
    assert_ptr_not_equal(c, a);
    void *d = cn_slab_alloc(&s, 97); /* same 104-byte slot */
    assert_ptr_equal(d, a);
    size_t mapped = s.mapped;
    /* a class's whole population freed and allocated again: nothing new mapped */
    enum { N = 20000 };
    void **v = calloc(N, sizeof(*v));
    assert_non_null(v);
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = cn_slab_alloc(&s, 325));
    mapped = s.mapped;
    for (int i = 0; i < N; i++)
        cn_slab_free(&s, v[i], 325);
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = cn_slab_alloc(&s, 321 + (size_t)(i % 8)));
    assert_int_equal(s.mapped, mapped);
    for (int i = 0; i < N; i++)
        cn_slab_free(&s, v[i], 321 + (size_t)(i % 8));
    cn_slab_free(&s, b, 100);
    cn_slab_free(&s, c, 200);
    cn_slab_free(&s, d, 100);
    free(v);
    cn_slab_destroy(&s);
}

/* Fragmentation bound: random churn over many sizes with at most L slots
 * live per class maps at most, per class, its peak of live slots plus its
 * last chunk (no more than what it had already mapped or 4 KiB, never over
 * 2 MiB) plus 16-byte chunk headers (slab.h). Checked as a total. */
static void test_fragmentation_bound(void **st)
{
    (void)st;
    struct cn_slab s;
    cn_slab_init(&s);
    enum { CLASSES = 24, L = 3000, ROUNDS = 200000 };
    static void *live[CLASSES][L];
    static size_t nlive[CLASSES], peak[CLASSES];
    memset(nlive, 0, sizeof(nlive));
    memset(peak, 0, sizeof(peak));
    srand(11);
    for (long r = 0; r < ROUNDS; r++) {
        int c = rand() % CLASSES;
        size_t size = 40 + (size_t)c * 40; /* 40..960 bytes */
        if (nlive[c] < L && (nlive[c] == 0 || rand() % 2)) {
            live[c][nlive[c]] = cn_slab_alloc(&s, size);
            assert_non_null(live[c][nlive[c]]);
            if (++nlive[c] > peak[c])
                peak[c] = nlive[c];
        } else {
            size_t k = (size_t)rand() % nlive[c]; /* free from anywhere: holes */
            cn_slab_free(&s, live[c][k], size);
            live[c][k] = live[c][--nlive[c]];
        }
    }
    size_t bound = 0;
    for (int c = 0; c < CLASSES; c++) {
        size_t slot = cn_slab_slot(40 + (size_t)c * 40), peak_bytes = peak[c] * slot;
        size_t last = peak_bytes > 4096 ? peak_bytes : 4096;
        if (last > ((size_t)2 << 20))
            last = (size_t)2 << 20;
        bound += peak_bytes + last + 2 * 4096; /* + headers and carving tails */
    }
    assert_true(s.mapped <= bound);
    for (int c = 0; c < CLASSES; c++)
        for (size_t k = 0; k < nlive[c]; k++)
            cn_slab_free(&s, live[c][k], 40 + (size_t)c * 40);
    cn_slab_destroy(&s);
}

/* cn_mem_fail_after counts slab allocations like any other. */
static void test_fail_injection(void **st)
{
    (void)st;
    struct cn_slab s;
    cn_slab_init(&s);
    cn_mem_fail_after(1);
    void *a = cn_slab_alloc(&s, 64);
    assert_non_null(a);
    assert_null(cn_slab_alloc(&s, 64));
    assert_null(cn_slab_alloc(&s, 500));
    cn_mem_fail_after(-1);
    assert_int_equal(s.live, 1);
    cn_slab_free(&s, a, 64);
    cn_slab_destroy(&s);
}

/* Under ASan a freed slot, and the uncarved rest of a chunk, are poisoned:
 * a use after cn_slab_free is reported as for malloc. */
static void test_asan_poison(void **st)
{
    (void)st;
#if defined(__SANITIZE_ADDRESS__)
    struct cn_slab s;
    cn_slab_init(&s);
    char *a = cn_slab_alloc(&s, 48);
    char *b = cn_slab_alloc(&s, 48);
    assert_int_equal(__asan_address_is_poisoned(a), 0);
    assert_int_equal(__asan_address_is_poisoned(a + 47), 0);
    assert_int_equal(__asan_address_is_poisoned(b + 48), 1); /* not carved yet */
    cn_slab_free(&s, a, 48);
    assert_int_equal(__asan_address_is_poisoned(a), 1);
    assert_int_equal(__asan_address_is_poisoned(a + 40), 1);
    char *c = cn_slab_alloc(&s, 48);
    assert_ptr_equal(c, a);
    assert_int_equal(__asan_address_is_poisoned(c + 47), 0);
    cn_slab_free(&s, b, 48);
    cn_slab_free(&s, c, 48);
    cn_slab_destroy(&s);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_sizes),     cmocka_unit_test(test_many_sizes),
        cmocka_unit_test(test_reuse),          cmocka_unit_test(test_fragmentation_bound),
        cmocka_unit_test(test_fail_injection), cmocka_unit_test(test_asan_poison),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
