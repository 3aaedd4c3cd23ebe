/* The forwarding protocol's codec (server/fwd_codec.h): round trips of every
 * kind, golden bytes that freeze the layout, the frozen error codes and
 * their mapping to CN_E*, strict rejection of truncated, trailing and
 * unknown input, and the proposal envelope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "server/fwd_codec.h"

static struct srv_fwd_req *req_new(enum srv_fwd_kind kind)
{
    struct srv_fwd_req *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->kind = kind;
    return m;
}

static void enc_req(const struct srv_fwd_req *m, struct cn_buf *b)
{
    cn_buf_reset(b);
    assert_int_equal(srv_fwd_req_encode(m, b), 0);
}

static struct srv_fwd_req *dec_req_ok(const struct cn_buf *b)
{
    struct srv_fwd_req *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    char err[160];
    int rc = srv_fwd_req_decode(b->p, b->len, m, err, sizeof(err));
    if (rc)
        fail_msg("decode: %s", err);
    return m;
}

static struct srv_fwd_req *sample_info(void)
{
    struct srv_fwd_req *m = req_new(SRV_FWD_INFO);
    m->u.info.want_reply = true;
    m->u.info.self = (struct srv_fwd_peer){.id = 7, .has_log = true};
    strcpy(m->u.info.self.node, "n1");
    strcpy(m->u.info.self.uuid, "b0b6c1a4-0000-4000-8000-000000000001");
    strcpy(m->u.info.self.addr, "127.0.0.1:8300");
    m->u.info.n = 2;
    m->u.info.peers[0].id = 8;
    strcpy(m->u.info.peers[0].node, "n2");
    strcpy(m->u.info.peers[0].addr, "127.0.0.1:8301");
    m->u.info.peers[1].id = 9;
    return m;
}

static const char CMD[] = "\x01\x01some-command";

static struct srv_fwd_req *sample_propose(void)
{
    struct srv_fwd_req *m = req_new(SRV_FWD_PROPOSE);
    m->req_id = 0x1122334455667788ULL;
    m->u.propose.term = 5;
    m->u.propose.epoch = 42;
    m->u.propose.floor = 40;
    m->u.propose.cmd = CMD;
    m->u.propose.cmd_len = sizeof(CMD) - 1;
    return m;
}

static struct srv_fwd_req *sample_read(void)
{
    struct srv_fwd_req *m = req_new(SRV_FWD_READ);
    m->req_id = 3;
    m->u.read.mode = SRV_FWD_READ_CONSISTENT;
    return m;
}

static struct srv_fwd_req *sample_op(void)
{
    struct srv_fwd_req *m = req_new(SRV_FWD_OP);
    m->req_id = 4;
    m->u.op.op = SRV_FWD_OP_TRANSFER;
    m->u.op.id = 99;
    strcpy(m->u.op.addr, "10.0.0.1:8300");
    return m;
}

static void test_req_round_trip(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    struct srv_fwd_req *m = sample_info(), *d;
    enc_req(m, &b);
    d = dec_req_ok(&b);
    assert_int_equal(d->kind, SRV_FWD_INFO);
    assert_true(d->u.info.want_reply);
    assert_int_equal(d->u.info.self.id, 7);
    assert_string_equal(d->u.info.self.node, "n1");
    assert_string_equal(d->u.info.self.uuid, m->u.info.self.uuid);
    assert_string_equal(d->u.info.self.addr, "127.0.0.1:8300");
    assert_true(d->u.info.self.has_log);
    assert_int_equal(d->u.info.n, 2);
    assert_int_equal(d->u.info.peers[0].id, 8);
    assert_string_equal(d->u.info.peers[0].addr, "127.0.0.1:8301");
    assert_false(d->u.info.peers[0].has_log);
    assert_int_equal(d->u.info.peers[1].id, 9);
    assert_string_equal(d->u.info.peers[1].node, "");
    free(m), free(d);

    m = sample_propose();
    enc_req(m, &b);
    d = dec_req_ok(&b);
    assert_int_equal(d->kind, SRV_FWD_PROPOSE);
    assert_true(d->req_id == m->req_id);
    assert_int_equal(d->u.propose.term, 5);
    assert_int_equal(d->u.propose.epoch, 42);
    assert_int_equal(d->u.propose.floor, 40);
    assert_int_equal(d->u.propose.cmd_len, sizeof(CMD) - 1);
    assert_memory_equal(d->u.propose.cmd, CMD, sizeof(CMD) - 1);
    /* the command is borrowed from the input */
    assert_true((const char *)d->u.propose.cmd >= b.p &&
                (const char *)d->u.propose.cmd < b.p + b.len);
    free(m), free(d);

    m = sample_read();
    enc_req(m, &b);
    d = dec_req_ok(&b);
    assert_int_equal(d->kind, SRV_FWD_READ);
    assert_int_equal(d->req_id, 3);
    assert_int_equal(d->u.read.mode, SRV_FWD_READ_CONSISTENT);
    free(m), free(d);

    m = sample_op();
    enc_req(m, &b);
    d = dec_req_ok(&b);
    assert_int_equal(d->kind, SRV_FWD_OP);
    assert_int_equal(d->req_id, 4);
    assert_int_equal(d->u.op.op, SRV_FWD_OP_TRANSFER);
    assert_int_equal(d->u.op.id, 99);
    assert_string_equal(d->u.op.addr, "10.0.0.1:8300");
    free(m), free(d);

    m = req_new(SRV_FWD_RENEW);
    m->req_id = 5;
    strcpy(m->u.renew.session, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
    enc_req(m, &b);
    d = dec_req_ok(&b);
    assert_int_equal(d->kind, SRV_FWD_RENEW);
    assert_int_equal(d->req_id, 5);
    assert_string_equal(d->u.renew.session, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
    free(m), free(d);
    cn_buf_free(&b);
}

/* RENEW (kind 5): version, kind, req_id, the session id as u32 length then
 * bytes; its answer is the code alone. An empty id is refused both ways. */
static void test_renew_bytes(void **state)
{
    (void)state;
    struct srv_fwd_req *m = req_new(SRV_FWD_RENEW);
    m->req_id = 7;
    strcpy(m->u.renew.session, "ab");
    struct cn_buf b = CN_BUF_INIT;
    enc_req(m, &b);
    static const uint8_t want[] = {1, 5, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'a', 'b'};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));
    m->u.renew.session[0] = '\0';
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_req_encode(m, &b), CN_EINVAL);
    free(m);
    static const uint8_t empty[] = {1, 5, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    struct srv_fwd_req *d = calloc(1, sizeof(*d));
    char err[160];
    assert_int_equal(srv_fwd_req_decode(empty, sizeof(empty), d, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "empty session id"));
    static const uint8_t trailing[] = {1, 5, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'a', 0};
    assert_int_equal(srv_fwd_req_decode(trailing, sizeof(trailing), d, err, sizeof(err)),
                     CN_EPROTO);
    free(d);

    struct srv_fwd_resp r = {.kind = SRV_FWD_RENEW, .req_id = 7, .code = SRV_FWD_NOTFOUND};
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), 0);
    static const uint8_t rwant[] = {1, 5, 7, 0, 0, 0, 0, 0, 0, 0, SRV_FWD_NOTFOUND};
    assert_int_equal(b.len, sizeof(rwant));
    assert_memory_equal(b.p, rwant, sizeof(rwant));
    struct srv_fwd_resp out;
    assert_int_equal(srv_fwd_resp_decode(b.p, b.len, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, SRV_FWD_RENEW);
    assert_int_equal(out.code, SRV_FWD_NOTFOUND);
    cn_buf_free(&b);
}

/* ASK (kind 6): version, kind, req_id, the question as u32 length then bytes;
 * its answer is the code then the answer's bytes (u32 length), which only
 * OK may carry, at most SRV_FWD_ANSWER_MAX. */
static void test_ask_bytes(void **state)
{
    (void)state;
    struct srv_fwd_req *m = req_new(SRV_FWD_ASK);
    m->req_id = 9;
    strcpy(m->u.ask.what, "q");
    struct cn_buf b = CN_BUF_INIT;
    enc_req(m, &b);
    static const uint8_t want[] = {1, 6, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'q'};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));
    struct srv_fwd_req *d = dec_req_ok(&b);
    assert_int_equal(d->kind, SRV_FWD_ASK);
    assert_int_equal(d->req_id, 9);
    assert_string_equal(d->u.ask.what, "q");
    m->u.ask.what[0] = '\0';
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_req_encode(m, &b), CN_EINVAL);
    free(m);
    char err[160];
    static const uint8_t empty[] = {1, 6, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(srv_fwd_req_decode(empty, sizeof(empty), d, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "empty question"));
    uint8_t longq[14 + SRV_FWD_ASK_MAX] = {1, 6, 9, 0, 0, 0, 0, 0, 0, 0, SRV_FWD_ASK_MAX, 0, 0, 0};
    memset(longq + 14, 'x', SRV_FWD_ASK_MAX);
    assert_int_equal(srv_fwd_req_decode(longq, sizeof(longq), d, err, sizeof(err)), CN_EPROTO);
    free(d);

    struct srv_fwd_resp r = {.kind = SRV_FWD_ASK, .req_id = 9, .code = SRV_FWD_OK};
    r.answer = "{}";
    r.answer_len = 2;
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), 0);
    static const uint8_t rwant[] = {1, 6, 9, 0, 0, 0, 0, 0, 0, 0, SRV_FWD_OK, 2, 0, 0, 0, '{', '}'};
    assert_int_equal(b.len, sizeof(rwant));
    assert_memory_equal(b.p, rwant, sizeof(rwant));
    struct srv_fwd_resp out;
    assert_int_equal(srv_fwd_resp_decode(b.p, b.len, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, SRV_FWD_ASK);
    assert_int_equal(out.answer_len, 2);
    assert_memory_equal(out.answer, "{}", 2);
    /* an error carries no answer, either way */
    r.code = SRV_FWD_NOTFOUND;
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), CN_EINVAL);
    static const uint8_t bad[] = {1, 6, 9, 0, 0, 0, 0, 0, 0, 0, SRV_FWD_NOTFOUND, 1, 0, 0, 0, 'x'};
    assert_int_equal(srv_fwd_resp_decode(bad, sizeof(bad), &out, err, sizeof(err)), CN_EPROTO);
    static const uint8_t none[] = {1, 6, 9, 0, 0, 0, 0, 0, 0, 0, SRV_FWD_NOTFOUND, 0, 0, 0, 0};
    assert_int_equal(srv_fwd_resp_decode(none, sizeof(none), &out, err, sizeof(err)), 0);
    assert_int_equal(out.code, SRV_FWD_NOTFOUND);
    /* over the limit */
    r.code = SRV_FWD_OK;
    r.answer_len = SRV_FWD_ANSWER_MAX + 1;
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), CN_EINVAL);
    cn_buf_free(&b);
}

static void test_resp_round_trip(void **state)
{
    (void)state;
    struct srv_fwd_resp in[] = {
        {.kind = SRV_FWD_PROPOSE, .req_id = 1, .code = SRV_FWD_OK, .index = 10, .term = 2},
        {.kind = SRV_FWD_PROPOSE, .req_id = 2, .code = SRV_FWD_NOT_LEADER, .term = 3},
        {.kind = SRV_FWD_READ, .req_id = 3, .code = SRV_FWD_OK, .index = 11},
        {.kind = SRV_FWD_OP, .req_id = 4, .code = SRV_FWD_NOTFOUND, .msg = "no such server"},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct cn_buf b = CN_BUF_INIT;
        assert_int_equal(srv_fwd_resp_encode(&in[i], &b), 0);
        struct srv_fwd_resp out;
        char err[160];
        assert_int_equal(srv_fwd_resp_decode(b.p, b.len, &out, err, sizeof(err)), 0);
        assert_int_equal(out.kind, in[i].kind);
        assert_int_equal(out.req_id, in[i].req_id);
        assert_int_equal(out.code, in[i].code);
        assert_int_equal(out.index, in[i].index);
        assert_int_equal(out.term, in[i].term);
        assert_string_equal(out.msg, in[i].msg);
        cn_buf_free(&b);
    }
}

/* The layout is frozen: these bytes are what version 1 sends. */
static void test_golden_bytes(void **state)
{
    (void)state;
    struct srv_fwd_req *m = req_new(SRV_FWD_PROPOSE);
    m->req_id = 0x0102030405060708ULL;
    m->u.propose.term = 2;
    m->u.propose.epoch = 3;
    m->u.propose.floor = 1;
    m->u.propose.cmd = "ab";
    m->u.propose.cmd_len = 2;
    struct cn_buf b = CN_BUF_INIT;
    enc_req(m, &b);
    static const uint8_t want[] = {1, 2,                      /* version, kind */
                                   8, 7, 6, 5, 4,   3,  2, 1, /* req_id */
                                   2, 0, 0, 0, 0,   0,  0, 0, /* term */
                                   3, 0, 0, 0, 0,   0,  0, 0, /* epoch */
                                   1, 0, 0, 0, 0,   0,  0, 0, /* floor */
                                   2, 0, 0, 0, 'a', 'b'};     /* command */
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));
    free(m);

    struct srv_fwd_resp r = {
        .kind = SRV_FWD_PROPOSE, .req_id = 9, .code = SRV_FWD_NOT_LEADER, .index = 0, .term = 6};
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), 0);
    static const uint8_t want_r[] = {1, 2, 9, 0, 0, 0, 0, 0, 0, 0, /* version, kind, req_id */
                                     1,                            /* code NOT_LEADER */
                                     0, 0, 0, 0, 0, 0, 0, 0,       /* index */
                                     6, 0, 0, 0, 0, 0, 0, 0};      /* term */
    assert_int_equal(b.len, sizeof(want_r));
    assert_memory_equal(b.p, want_r, sizeof(want_r));
    cn_buf_free(&b);
}

static void test_codes_frozen(void **state)
{
    (void)state;
    /* the numbers on the wire */
    assert_int_equal(SRV_FWD_OK, 0);
    assert_int_equal(SRV_FWD_NOT_LEADER, 1);
    assert_int_equal(SRV_FWD_BUSY, 2);
    assert_int_equal(SRV_FWD_NOMEM, 3);
    assert_int_equal(SRV_FWD_INVAL, 4);
    assert_int_equal(SRV_FWD_NOTFOUND, 5);
    assert_int_equal(SRV_FWD_CONFLICT, 6);
    assert_int_equal(SRV_FWD_TOOBIG, 7);
    assert_int_equal(SRV_FWD_IO, 8);
    assert_int_equal(SRV_FWD_CORRUPT, 9);
    assert_int_equal(SRV_FWD_EXIST, 10);
    assert_int_equal(SRV_FWD_SHUTDOWN, 11);
    assert_int_equal(SRV_FWD_PROTO, 12);
    assert_int_equal(SRV_FWD_AGAIN, 13);
    assert_int_equal(SRV_FWD_RANGE, 14);
    /* every CN_E* survives the trip */
    int errs[] = {0,          CN_ENOMEM, CN_EINVAL,   CN_ENOTFOUND, CN_ECONFLICT,
                  CN_ETOOBIG, CN_EIO,    CN_ECORRUPT, CN_EEXIST,    CN_ESHUTDOWN,
                  CN_EPROTO,  CN_EAGAIN, CN_ERANGE};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
        assert_int_equal(srv_fwd_err_from_code(srv_fwd_code_from_err(errs[i])), errs[i]);
    assert_int_equal(srv_fwd_code_from_err(CN_EAGAIN), SRV_FWD_AGAIN);
    assert_int_equal(srv_fwd_err_from_code(SRV_FWD_NOT_LEADER), CN_EAGAIN);
    assert_int_equal(srv_fwd_err_from_code(SRV_FWD_BUSY), CN_EAGAIN);
    assert_int_equal(srv_fwd_code_from_err(-999), SRV_FWD_IO);
    assert_int_equal(srv_fwd_err_from_code((enum srv_fwd_code)15), CN_EPROTO);
    assert_int_equal(srv_fwd_err_from_code((enum srv_fwd_code)255), CN_EPROTO);
}

static void expect_req_error(const void *p, size_t len, const char *needle)
{
    struct srv_fwd_req *m = calloc(1, sizeof(*m));
    char err[160];
    assert_int_equal(srv_fwd_req_decode(p, len, m, err, sizeof(err)), CN_EPROTO);
    if (needle && !strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    free(m);
}

static void test_req_strict(void **state)
{
    (void)state;
    struct srv_fwd_req *(*samples[])(void) = {sample_info, sample_propose, sample_read, sample_op};
    struct cn_buf b = CN_BUF_INIT;
    for (size_t k = 0; k < 4; k++) {
        struct srv_fwd_req *m = samples[k]();
        enc_req(m, &b);
        /* every proper prefix is truncated */
        for (size_t n = 0; n < b.len; n++)
            expect_req_error(b.p, n, "truncated");
        /* a trailing byte */
        assert_int_equal(cn_buf_putc(&b, 0), 0);
        expect_req_error(b.p, b.len, "1 trailing bytes");
        free(m);
    }
    /* version and kind */
    struct srv_fwd_req *m = sample_read();
    enc_req(m, &b);
    b.p[0] = 2;
    expect_req_error(b.p, b.len, "version 2, we speak 1");
    b.p[0] = 1;
    b.p[1] = 9;
    expect_req_error(b.p, b.len, "unknown request kind 9");
    b.p[1] = SRV_FWD_READ;
    b.p[10] = 7; /* the mode */
    expect_req_error(b.p, b.len, "at byte 10: unknown read mode 7");
    free(m);
    m = sample_op();
    enc_req(m, &b);
    b.p[10] = 3;
    expect_req_error(b.p, b.len, "unknown operation 3");
    free(m);
    /* a bool that is not 0 or 1 */
    m = sample_info();
    enc_req(m, &b);
    b.p[2] = 2;
    expect_req_error(b.p, b.len, "want_reply is 2");
    free(m);
    /* a NUL inside a string; a string longer than its field */
    m = sample_op();
    strcpy(m->u.op.addr, "ab");
    enc_req(m, &b);
    b.p[b.len - 1] = 0;
    expect_req_error(b.p, b.len, "NUL");
    cn_buf_reset(&b);
    uint8_t head[] = {1, SRV_FWD_OP, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(cn_buf_append(&b, head, sizeof(head)), 0);
    char big[SRV_FWD_ADDR_MAX];
    memset(big, 'x', sizeof(big));
    uint8_t len4[4] = {sizeof(big), 0, 0, 0};
    assert_int_equal(cn_buf_append(&b, len4, 4), 0);
    assert_int_equal(cn_buf_append(&b, big, sizeof(big)), 0);
    expect_req_error(b.p, b.len, "address is 64 bytes (at most 63)");
    free(m);
    /* too many peers */
    m = sample_info();
    m->u.info.n = 0;
    enc_req(m, &b);
    b.p[b.len - 4] = SRV_FWD_MAX_PEERS + 1;
    expect_req_error(b.p, b.len, "65 peers (at most 64)");
    /* empty input */
    expect_req_error("", 0, "truncated version");
    free(m);
    cn_buf_free(&b);
}

static void test_resp_strict(void **state)
{
    (void)state;
    struct srv_fwd_resp r = {.kind = SRV_FWD_OP, .req_id = 1, .code = 0, .msg = "hi"};
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(srv_fwd_resp_encode(&r, &b), 0);
    struct srv_fwd_resp out;
    char err[160];
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(srv_fwd_resp_decode(b.p, n, &out, err, sizeof(err)), CN_EPROTO);
        assert_non_null(strstr(err, "truncated"));
    }
    b.p[10] = SRV_FWD_CODE_MAX + 1;
    assert_int_equal(srv_fwd_resp_decode(b.p, b.len, &out, err, sizeof(err)), CN_EPROTO);
    assert_string_equal(err, "at byte 10: unknown code 15");
    b.p[10] = 0;
    b.p[1] = SRV_FWD_INFO; /* INFO has no answer */
    assert_int_equal(srv_fwd_resp_decode(b.p, b.len, &out, err, sizeof(err)), CN_EPROTO);
    assert_string_equal(err, "at byte 1: unknown answer kind 1");
    b.p[1] = SRV_FWD_OP;
    assert_int_equal(cn_buf_putc(&b, 'z'), 0);
    assert_int_equal(srv_fwd_resp_decode(b.p, b.len, &out, NULL, 0), CN_EPROTO);
    cn_buf_free(&b);
}

static void test_encode_refuses(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    struct srv_fwd_req *m = sample_info();
    m->u.info.n = SRV_FWD_MAX_PEERS + 1;
    assert_int_equal(srv_fwd_req_encode(m, &b), CN_EINVAL);
    free(m);
    m = sample_op();
    memset(m->u.op.addr, 'x', sizeof(m->u.op.addr)); /* no NUL */
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_req_encode(m, &b), CN_EINVAL);
    m->kind = (enum srv_fwd_kind)9;
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_req_encode(m, &b), CN_EINVAL);
    free(m);
    struct srv_fwd_resp r = {.kind = SRV_FWD_INFO};
    cn_buf_reset(&b);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), CN_EINVAL);
    r.kind = SRV_FWD_READ;
    r.code = (enum srv_fwd_code)(SRV_FWD_CODE_MAX + 1);
    assert_int_equal(srv_fwd_resp_encode(&r, &b), CN_EINVAL);
    cn_buf_free(&b);
}

static void test_envelope(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    struct srv_env e = {.origin = 0xabcdef, .req_id = 77}, d = {0};
    assert_int_equal(srv_env_encode(&e, "\x01\x01xyz", 5, &b), 0);
    assert_int_equal(b.len, SRV_ENV_LEN + 5);
    assert_int_equal((uint8_t)b.p[0], SRV_ENV_MAGIC);
    const void *cmd;
    size_t n;
    assert_int_equal(srv_env_decode(b.p, b.len, &d, &cmd, &n), 1);
    assert_int_equal(d.origin, 0xabcdef);
    assert_int_equal(d.req_id, 77);
    assert_int_equal(n, 5);
    assert_memory_equal(cmd, "\x01\x01xyz", 5);
    /* a plain state command (type byte first) and an empty entry pass through */
    assert_int_equal(srv_env_decode("\x01\x01xyz", 5, &d, &cmd, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(srv_env_decode("", 0, &d, &cmd, &n), 0);
    assert_int_equal(n, 0);
    /* truncated, or another version */
    assert_int_equal(srv_env_decode(b.p, SRV_ENV_LEN - 1, &d, &cmd, &n), CN_EPROTO);
    b.p[1] = 2;
    assert_int_equal(srv_env_decode(b.p, b.len, &d, &cmd, &n), CN_EPROTO);
    cn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_round_trip), cmocka_unit_test(test_resp_round_trip),
        cmocka_unit_test(test_golden_bytes),   cmocka_unit_test(test_renew_bytes),
        cmocka_unit_test(test_ask_bytes),      cmocka_unit_test(test_codes_frozen),
        cmocka_unit_test(test_req_strict),     cmocka_unit_test(test_resp_strict),
        cmocka_unit_test(test_encode_refuses), cmocka_unit_test(test_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
