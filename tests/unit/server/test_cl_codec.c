/* The client-agent protocol's codec (server/cl_codec.h): round trips of
 * every kind, golden bytes freezing the layout, strict rejection of
 * truncated, trailing, out-of-range and malformed input, node dumps. */
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
#include "server/cl_codec.h"
#include "server/fwd_codec.h"

static struct srv_cl_req rq, rq2;
static struct srv_cl_resp rs, rs2;

static void http_req(void)
{
    memset(&rq, 0, sizeof(rq));
    rq.kind = SRV_CL_HTTP;
    rq.id = 0x0102030405060708ull;
    rq.method = "PUT";
    rq.method_len = 3;
    rq.target = "/v1/kv/a?cas=0";
    rq.target_len = strlen(rq.target);
    rq.hdrs[0] = (struct srv_cl_hdr){"X-Consul-Token", "t", 14, 1};
    rq.nhdrs = 1;
    rq.body = "v";
    rq.body_len = 1;
}

static void test_http_round_trip(void **st)
{
    (void)st;
    http_req();
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(srv_cl_req_encode(&rq, &b), 0);
    char err[160];
    assert_int_equal(srv_cl_req_decode(b.p, b.len, &rq2, err, sizeof(err)), 0);
    assert_int_equal(rq2.kind, SRV_CL_HTTP);
    assert_true(rq2.id == rq.id);
    assert_int_equal(rq2.method_len, 3);
    assert_memory_equal(rq2.method, "PUT", 3);
    assert_memory_equal(rq2.target, rq.target, rq.target_len);
    assert_int_equal(rq2.nhdrs, 1);
    assert_memory_equal(rq2.hdrs[0].name, "X-Consul-Token", 14);
    assert_int_equal(rq2.body_len, 1);
    /* golden: version, kind, id, then u32-length fields */
    static const uint8_t head[] = {1, 1, 8, 7, 6, 5, 4, 3, 2, 1, 3, 0, 0, 0, 'P', 'U', 'T'};
    assert_memory_equal(b.p, head, sizeof(head));
    /* every truncation and a trailing byte are refused, with a reason */
    for (size_t n = 0; n < b.len; n++) {
        err[0] = 0;
        assert_int_equal(srv_cl_req_decode(b.p, n, &rq2, err, sizeof(err)), CN_EPROTO);
        assert_true(err[0]);
    }
    cn_buf_append(&b, "x", 1);
    assert_int_equal(srv_cl_req_decode(b.p, b.len, &rq2, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "trailing"));
    /* another version */
    b.p[0] = 2;
    assert_int_equal(srv_cl_req_decode(b.p, b.len - 1, &rq2, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "version 2"));
    cn_buf_free(&b);
}

static void test_bad_fields(void **st)
{
    (void)st;
    struct cn_buf b = CN_BUF_INIT;
    http_req();
    rq.hdrs[0].value = "a\r\nb";
    rq.hdrs[0].value_len = 4;
    assert_int_equal(srv_cl_req_encode(&rq, &b), CN_EINVAL);
    http_req();
    rq.target = "v1/kv";
    rq.target_len = 5;
    assert_int_equal(srv_cl_req_encode(&rq, &b), CN_EINVAL);
    http_req();
    rq.nhdrs = SRV_CL_MAX_HDRS + 1;
    assert_int_equal(srv_cl_req_encode(&rq, &b), CN_EINVAL);
    memset(&rs, 0, sizeof(rs));
    rs.kind = SRV_CL_HTTP;
    rs.status = 99;
    assert_int_equal(srv_cl_resp_encode(&rs, &b), CN_EINVAL);
    rs.kind = SRV_CL_CANCEL; /* requests only */
    rs.status = 200;
    assert_int_equal(srv_cl_resp_encode(&rs, &b), CN_EINVAL);
    /* a lower-case method on the wire */
    cn_buf_reset(&b);
    http_req();
    assert_int_equal(srv_cl_req_encode(&rq, &b), 0);
    b.p[14] = 'p';
    char err[160];
    assert_int_equal(srv_cl_req_decode(b.p, b.len, &rq2, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "upper-case"));
    /* an unknown kind */
    b.p[1] = 9;
    assert_int_equal(srv_cl_req_decode(b.p, b.len, &rq2, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "unknown request kind 9"));
    cn_buf_free(&b);
}

static void test_answers_and_dump(void **st)
{
    (void)st;
    struct cn_buf b = CN_BUF_INIT, body = CN_BUF_INIT;
    memset(&rs, 0, sizeof(rs));
    rs.kind = SRV_CL_HTTP;
    rs.id = 7;
    rs.status = 404;
    rs.has_ctype = true;
    rs.ctype = "text/plain";
    rs.ctype_len = 10;
    rs.hdrs[0] = (struct srv_cl_hdr){"X-Consul-Index", "12", 14, 2};
    rs.nhdrs = 1;
    assert_int_equal(srv_cl_resp_encode(&rs, &b), 0);
    char err[160];
    assert_int_equal(srv_cl_resp_decode(b.p, b.len, &rs2, err, sizeof(err)), 0);
    assert_int_equal(rs2.status, 404);
    assert_true(rs2.has_ctype);
    assert_memory_equal(rs2.hdrs[0].value, "12", 2);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(srv_cl_resp_decode(b.p, n, &rs2, err, sizeof(err)), CN_EPROTO);
    /* DUMP: two commands, walked back */
    assert_int_equal(srv_cl_dump_add(&body, "abc", 3), 0);
    assert_int_equal(srv_cl_dump_add(&body, "de", 2), 0);
    memset(&rs, 0, sizeof(rs));
    rs.kind = SRV_CL_DUMP;
    rs.id = 8;
    rs.index = 99;
    rs.nodes = 1000;
    rs.body = body.p;
    rs.body_len = body.len;
    cn_buf_reset(&b);
    assert_int_equal(srv_cl_resp_encode(&rs, &b), 0);
    assert_int_equal(srv_cl_resp_decode(b.p, b.len, &rs2, err, sizeof(err)), 0);
    assert_true(rs2.nodes == 1000 && rs2.index == 99);
    size_t off = 0, n;
    const void *c;
    assert_int_equal(srv_cl_dump_next(rs2.body, rs2.body_len, &off, &c, &n), 1);
    assert_int_equal(n, 3);
    assert_int_equal(srv_cl_dump_next(rs2.body, rs2.body_len, &off, &c, &n), 1);
    assert_memory_equal(c, "de", 2);
    assert_int_equal(srv_cl_dump_next(rs2.body, rs2.body_len, &off, &c, &n), 0);
    /* a truncated command inside a dump is refused */
    b.p[b.len - 5] = 0x7f;
    assert_int_equal(srv_cl_resp_decode(b.p, b.len, &rs2, err, sizeof(err)), CN_EPROTO);
    /* PROPOSE answer with a frozen code; an unknown code refused */
    memset(&rs, 0, sizeof(rs));
    rs.kind = SRV_CL_PROPOSE;
    rs.code = SRV_FWD_AGAIN;
    rs.body = "No cluster leader";
    rs.body_len = strlen(rs.body);
    cn_buf_reset(&b);
    assert_int_equal(srv_cl_resp_encode(&rs, &b), 0);
    assert_int_equal(srv_cl_resp_decode(b.p, b.len, &rs2, err, sizeof(err)), 0);
    assert_int_equal(srv_fwd_err_from_code(rs2.code), CN_EAGAIN);
    b.p[10] = SRV_FWD_CODE_MAX + 1;
    assert_int_equal(srv_cl_resp_decode(b.p, b.len, &rs2, err, sizeof(err)), CN_EPROTO);
    /* CANCEL and DUMP requests */
    memset(&rq, 0, sizeof(rq));
    rq.kind = SRV_CL_CANCEL;
    rq.id = 5;
    cn_buf_reset(&b);
    assert_int_equal(srv_cl_req_encode(&rq, &b), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(srv_cl_req_decode(b.p, b.len, &rq2, err, sizeof(err)), 0);
    rq.kind = SRV_CL_DUMP;
    rq.target = "node-1";
    rq.target_len = 6;
    cn_buf_reset(&b);
    assert_int_equal(srv_cl_req_encode(&rq, &b), 0);
    assert_int_equal(srv_cl_req_decode(b.p, b.len, &rq2, err, sizeof(err)), 0);
    assert_memory_equal(rq2.target, "node-1", 6);
    cn_buf_free(&b);
    cn_buf_free(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_round_trip),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_answers_and_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
