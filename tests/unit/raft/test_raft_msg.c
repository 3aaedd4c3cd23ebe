/* Unit tests for src/raft/msg.c: round trip of every message shape,
 * truncation at every length, flipped bytes and garbage never crash or
 * over-read, and decode never trusts a length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "raft/raft.h"

static void roundtrip(const struct raft_msg *m)
{
    size_t len;
    assert_int_equal(raft_msg_encode(m, NULL, 0, &len), CN_ETOOBIG);
    assert_int_equal(len, raft_msg_encoded_size(m));
    uint8_t *buf = malloc(len);
    assert_int_equal(raft_msg_encode(m, buf, len - 0, &len), 0);
    struct raft_msg d;
    void *owned;
    assert_int_equal(raft_msg_decode(buf, len, &d, &owned), 0);
    assert_int_equal(d.type, m->type);
    assert_int_equal(d.from, m->from);
    assert_int_equal(d.to, m->to);
    assert_int_equal(d.term, m->term);
    assert_int_equal(d.index, m->index);
    assert_int_equal(d.log_term, m->log_term);
    assert_int_equal(d.commit, m->commit);
    assert_int_equal(d.reject, m->reject);
    assert_int_equal(d.reject_hint, m->reject_hint);
    assert_int_equal(d.hint_term, m->hint_term);
    assert_int_equal(d.context, m->context);
    assert_int_equal(d.n_entries, m->n_entries);
    for (size_t i = 0; i < m->n_entries; i++) {
        assert_int_equal(d.entries[i].term, m->entries[i].term);
        assert_int_equal(d.entries[i].index, m->entries[i].index);
        assert_int_equal(d.entries[i].type, m->entries[i].type);
        assert_int_equal(d.entries[i].data.len, m->entries[i].data.len);
        if (m->entries[i].data.len)
            assert_memory_equal(d.entries[i].data.base, m->entries[i].data.base,
                                m->entries[i].data.len);
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        assert_int_equal(d.snap.index, m->snap.index);
        assert_int_equal(d.snap.term, m->snap.term);
        assert_memory_equal(&d.snap.conf, &m->snap.conf, sizeof(d.snap.conf));
        assert_int_equal(d.snap_data.len, m->snap_data.len);
        assert_memory_equal(d.snap_data.base, m->snap_data.base, m->snap_data.len);
    }
    /* The input buffer may go away: the decoded message is self-contained. */
    memset(buf, 0xAB, len);
    if (d.n_entries && d.entries[0].data.len)
        assert_memory_equal(d.entries[0].data.base, m->entries[0].data.base, 1);
    cn_free(owned);
    /* Every truncation is rejected, and nothing is allocated then. */
    assert_int_equal(raft_msg_encode(m, buf, len, &len), 0);
    for (size_t k = 0; k < len; k++) {
        owned = (void *)1;
        assert_int_equal(raft_msg_decode(buf, k, &d, &owned), CN_ECORRUPT);
        assert_null(owned);
    }
    /* Flip every byte: decodes or is rejected, never over-reads (ASan). */
    for (size_t k = 0; k < len; k++) {
        buf[k] ^= 0x5A;
        if (raft_msg_decode(buf, len, &d, &owned) == 0)
            cn_free(owned);
        buf[k] ^= 0x5A;
    }
    free(buf);
}

static void test_append(void **state)
{
    (void)state;
    struct raft_entry e[3] = {
        {.term = 3, .index = 10, .type = RAFT_ENTRY_NORMAL, .data = {"hello", 5}},
        {.term = 3, .index = 11, .type = RAFT_ENTRY_NORMAL},
        {.term = 4, .index = 12, .type = RAFT_ENTRY_CONF, .data = {"\x01\x00", 2}},
    };
    struct raft_msg m = {.type = RAFT_MSG_APPEND,
                         .from = 1,
                         .to = 2,
                         .term = 4,
                         .index = 9,
                         .log_term = 3,
                         .commit = 8,
                         .entries = e,
                         .n_entries = 3};
    roundtrip(&m);
    struct raft_msg r = {.type = RAFT_MSG_APPEND_RESP,
                         .from = 2,
                         .to = 1,
                         .term = 4,
                         .index = 9,
                         .reject = true,
                         .reject_hint = 5,
                         .hint_term = 2};
    roundtrip(&r);
    struct raft_msg h = {.type = RAFT_MSG_HEARTBEAT,
                         .from = 1,
                         .to = 3,
                         .term = 4,
                         .commit = UINT64_MAX,
                         .context = 77};
    roundtrip(&h);
}

static void test_vote_and_snapshot(void **state)
{
    (void)state;
    struct raft_msg v = {.type = RAFT_MSG_PREVOTE,
                         .from = 1,
                         .to = 2,
                         .term = 9,
                         .index = 100,
                         .log_term = 8,
                         .context = RAFT_CTX_TRANSFER};
    roundtrip(&v);
    struct raft_msg s = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 9};
    s.snap.index = 50;
    s.snap.term = 7;
    s.snap.conf.n = 2;
    s.snap.conf.servers[0].id = 1;
    s.snap.conf.servers[1].id = 2;
    s.snap.conf.servers[1].role = RAFT_LEARNER;
    strcpy(s.snap.conf.servers[1].addr, "127.0.0.1:8300");
    s.snap_data.base = "state machine bytes";
    s.snap_data.len = 19;
    roundtrip(&s);
    struct raft_msg t = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 9};
    roundtrip(&t);
}

static void test_garbage(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct raft_msg d;
    void *owned;
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(x % sizeof(buf));
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        if (len > 1) {
            buf[0] = 1; /* get past the version check */
            buf[1] = (uint8_t)(1 + round % 10);
        }
        if (raft_msg_decode(buf, len, &d, &owned) == 0)
            cn_free(owned);
    }
    /* A huge entry count with few bytes is refused before allocating. */
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1};
    size_t len;
    assert_int_equal(raft_msg_encode(&m, buf, sizeof(buf), &len), 0);
    memset(buf + len - 4, 0xFF, 4);
    assert_int_equal(raft_msg_decode(buf, len, &d, &owned), CN_ECORRUPT);
    /* Bad version, bad type, bad reject flag. */
    assert_int_equal(raft_msg_encode(&m, buf, sizeof(buf), &len), 0);
    buf[0] = 9;
    assert_int_equal(raft_msg_decode(buf, len, &d, &owned), CN_ECORRUPT);
    buf[0] = 1;
    buf[1] = RAFT_MSG__COUNT;
    assert_int_equal(raft_msg_decode(buf, len, &d, &owned), CN_ECORRUPT);
    buf[1] = RAFT_MSG_APPEND;
    buf[2 + 48] = 2;
    assert_int_equal(raft_msg_decode(buf, len, &d, &owned), CN_ECORRUPT);
    struct raft_msg bad = {.type = 0};
    assert_int_equal(raft_msg_encode(&bad, buf, sizeof(buf), &len), CN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_vote_and_snapshot),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
