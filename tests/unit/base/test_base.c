/* Unit tests for base/: durations, JSON writer, base64, strict JSON parsing
 * and key matching, binary encoding, buffers, allocation-failure injection. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/regex.h"
#include "base/text.h"
#include "base/assert.h"
#include "base/buf.h"
#include "base/crc.h"
#include "base/dur.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/mem.h"

static void test_dur_parse_go_syntax(void **state)
{
    (void)state;
    struct {
        const char *in;
        int64_t ns;
    } ok[] = {
        {"10s", 10 * CN_NS_PER_S},
        {"10.0s", 10 * CN_NS_PER_S},
        {"0.001s", CN_NS_PER_MS},
        {"2.9873s", 2987300000},
        {"120000ms", 120 * CN_NS_PER_S},
        {"1m30s", 90 * CN_NS_PER_S},
        {"1.5h", 5400 * CN_NS_PER_S},
        {"300us", 300000},
        {"300\xc2\xb5s", 300000},
        {"5ns", 5},
        {"0", 0},
        {"-1s", -CN_NS_PER_S},
        {".5s", CN_NS_PER_S / 2},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ns = 12345;
        assert_int_equal(cn_dur_parse(ok[i].in, &ns), 0);
        assert_true(ns == ok[i].ns);
    }
    const char *bad[] = {"", "10", "s", "1x", "1.s.", "--1s", "1s2", "99999999999999999999h", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns = 7;
        assert_int_equal(cn_dur_parse(bad[i], &ns), CN_EINVAL);
        assert_true(ns == 7);
    }
}

static void test_dur_format_like_go(void **state)
{
    (void)state;
    char b[64];
    struct {
        int64_t ns;
        const char *out;
    } cases[] = {
        {0, "0s"},
        {10 * CN_NS_PER_S, "10s"},
        {90 * CN_NS_PER_S, "1m30s"},
        {1500 * CN_NS_PER_MS, "1.5s"},
        {CN_NS_PER_MS, "1ms"},
        {3723500000000LL, "1h2m3.5s"},
        {7200 * CN_NS_PER_S, "2h0m0s"},
        {5, "5ns"},
        {-CN_NS_PER_S, "-1s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cn_dur_format(cases[i].ns, b, sizeof(b));
        assert_string_equal(b, cases[i].out);
    }
}

static void test_jsonw_compact_and_escapes(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "K", "a\"b\\c\n<&>\x01");
    cn_jsonw_ku64(&w, "U", UINT64_MAX);
    cn_jsonw_ki64(&w, "I", -42);
    cn_jsonw_key(&w, "A");
    cn_jsonw_arr_open(&w);
    cn_jsonw_bool(&w, 1);
    cn_jsonw_null(&w);
    cn_jsonw_base64(&w, "test", 4);
    cn_jsonw_arr_close(&w);
    cn_jsonw_key(&w, "E");
    cn_jsonw_arr_open(&w);
    cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    assert_int_equal(w.err, 0);
    cn_buf_cstr(&b);
    assert_string_equal(b.p, "{\"K\":\"a\\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u0001\","
                             "\"U\":18446744073709551615,\"I\":-42,"
                             "\"A\":[true,null,\"dGVzdA==\"],\"E\":[]}");
    cn_buf_free(&b);
}

/* Go's encoding/json (encodeState.string): each byte that does not start a
 * valid UTF-8 sequence (utf8.DecodeRune: no overlong forms, surrogates or
 * code points past U+10FFFF) becomes one \ufffd; U+2028/U+2029 are escaped;
 * valid multi-byte characters pass through as they are. */
static void test_jsonw_utf8_like_go(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
        {"\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"a\xff"
         "b",
         "\"a\\ufffdb\""},
        {"\xc3", "\"\\ufffd\""},                                  /* truncated */
        {"\xc3\x28", "\"\\ufffd(\""},                             /* bad continuation */
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},                       /* overlong '/' */
        {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},            /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},            /* a surrogate */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* > U+10FFFF */
        {"\xe2\x80\xa8x\xe2\x80\xa9", "\"\\u2028x\\u2029\""},
        {"\xe2\x80\xa7", "\"\xe2\x80\xa7\""},
        {"<\xfe>", "\"\\u003c\\ufffd\\u003e\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        cn_jsonw_init(&w, &b, 0);
        cn_jsonw_str(&w, cases[i].in);
        assert_int_equal(w.err, 0);
        assert_int_equal(cn_buf_cstr(&b), 0);
        assert_string_equal(b.p, cases[i].out);
        cn_buf_free(&b);
    }
}

static void test_jsonw_pretty(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 1);
    cn_jsonw_obj_open(&w);
    cn_jsonw_ku64(&w, "a", 1);
    cn_jsonw_key(&w, "b");
    cn_jsonw_arr_open(&w);
    cn_jsonw_str(&w, "x");
    cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    cn_buf_cstr(&b);
    assert_string_equal(b.p, "{\n    \"a\": 1,\n    \"b\": [\n        \"x\"\n    ]\n}");
    cn_buf_free(&b);
}

static void test_base64_round_trip_and_errors(void **state)
{
    (void)state;
    const char *vec[][2] = {{"", ""},
                            {"f", "Zg=="},
                            {"fo", "Zm8="},
                            {"foo", "Zm9v"},
                            {"foob", "Zm9vYg=="},
                            {"fooba", "Zm9vYmE="},
                            {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 7; i++) {
        struct cn_buf e = CN_BUF_INIT, d = CN_BUF_INIT;
        assert_int_equal(cn_base64_encode(&e, vec[i][0], strlen(vec[i][0])), 0);
        assert_int_equal(e.len, strlen(vec[i][1]));
        assert_memory_equal(e.p ? e.p : "", vec[i][1], e.len);
        assert_int_equal(cn_base64_decode(&d, vec[i][1], strlen(vec[i][1])), 0);
        assert_int_equal(d.len, strlen(vec[i][0]));
        if (d.len)
            assert_memory_equal(d.p, vec[i][0], d.len);
        cn_buf_free(&e);
        cn_buf_free(&d);
    }
    struct cn_buf d = CN_BUF_INIT;
    assert_int_equal(cn_base64_decode(&d, "Zm9v!", 5), CN_EINVAL);
    assert_int_equal(cn_base64_decode(&d, "Z", 1), CN_EINVAL);
    assert_int_equal(d.len, 0);
    cn_buf_free(&d);
}

static void test_json_parse_strict(void **state)
{
    (void)state;
    char err[128];
    struct json_object *o = cn_json_parse("{\"a\":1} ", 8, err, sizeof(err));
    assert_non_null(o);
    json_object_put(o);
    o = cn_json_parse("12", 2, err, sizeof(err));
    assert_non_null(o);
    json_object_put(o);
    assert_null(cn_json_parse("{\"a\":1} x", 9, err, sizeof(err)));
    assert_non_null(strstr(err, "offset 8"));
    assert_null(cn_json_parse("{\"a\":", 5, err, sizeof(err)));
    assert_null(cn_json_parse("", 0, err, sizeof(err)));
    assert_null(cn_json_parse("{'a':1}", 7, err, sizeof(err)));
    assert_null(cn_json_parse("[1,]", 4, err, sizeof(err)));
}

static void test_json_keys_case_and_snake(void **state)
{
    (void)state;
    assert_true(cn_json_key_eq("service_id", "ServiceID"));
    assert_true(cn_json_key_eq("serviceid", "ServiceID"));
    assert_true(
        cn_json_key_eq("DeregisterCriticalServiceAfter", "deregister_critical_service_after"));
    assert_false(cn_json_key_eq("ServiceIDs", "ServiceID"));
    assert_false(cn_json_key_eq("Name", "Names"));
    char err[64];
    const char *doc = "{\"name\":\"web\",\"port\":80,\"enable_tag_override\":true,"
                      "\"ttl\":\"10s\",\"Neg\":-1,\"Str\":5}";
    struct json_object *o = cn_json_parse(doc, strlen(doc), err, sizeof(err));
    assert_non_null(o);
    const char *s = NULL;
    assert_int_equal(cn_json_get_str(o, "Name", &s), 1);
    assert_string_equal(s, "web");
    uint64_t u = 0;
    assert_int_equal(cn_json_get_u64(o, "Port", &u), 1);
    assert_true(u == 80);
    int b = 0;
    assert_int_equal(cn_json_get_bool(o, "EnableTagOverride", &b), 1);
    assert_true(b);
    int64_t ns = 0;
    assert_int_equal(cn_json_get_dur(o, "TTL", &ns), 1);
    assert_true(ns == 10 * CN_NS_PER_S);
    assert_int_equal(cn_json_get_u64(o, "Neg", &u), CN_EINVAL);
    assert_int_equal(cn_json_get_str(o, "Str", &s), CN_EINVAL);
    assert_int_equal(cn_json_get_str(o, "Missing", &s), 0);
    json_object_put(o);
}

static void test_enc_dec_bounds(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_enc_u8(&b, 7), 0);
    assert_int_equal(cn_enc_u32(&b, 0xdeadbeef), 0);
    assert_int_equal(cn_enc_u64(&b, UINT64_MAX - 1), 0);
    assert_int_equal(cn_enc_str(&b, "hello"), 0);
    struct cn_dec d;
    cn_dec_init(&d, b.p, b.len);
    assert_int_equal(cn_dec_u8(&d), 7);
    assert_true(cn_dec_u32(&d) == 0xdeadbeef);
    assert_true(cn_dec_u64(&d) == UINT64_MAX - 1);
    char *s = cn_dec_strdup(&d);
    assert_string_equal(s, "hello");
    cn_free(s);
    assert_true(cn_dec_done(&d));
    /* Every truncation is detected, never read past the end. */
    for (size_t cut = 0; cut < b.len; cut++) {
        cn_dec_init(&d, b.p, cut);
        cn_dec_u8(&d);
        cn_dec_u32(&d);
        cn_dec_u64(&d);
        s = cn_dec_strdup(&d);
        assert_null(s);
        assert_int_equal(d.err, CN_ECORRUPT);
    }
    cn_buf_free(&b);
}

static void test_buf_oom_keeps_contents(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_puts(&b, "abc"), 0);
    char big[4096];
    memset(big, 'x', sizeof(big));
    cn_mem_fail_after(0);
    assert_int_equal(cn_buf_append(&b, big, sizeof(big)), CN_ENOMEM);
    cn_mem_fail_after(-1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "abc", 3);
    assert_int_equal(cn_buf_printf(&b, "%d-%s", 42, "z"), 0);
    cn_buf_cstr(&b);
    assert_string_equal(b.p, "abc42-z");
    cn_buf_free(&b);
}

static void test_crc32c_known_vector(void **state)
{
    (void)state;
    /* RFC 3720 B.4: CRC32C("123456789") = 0xE3069283 */
    assert_true(cn_crc32c(0, "123456789", 9) == 0xE3069283u);
    uint32_t c = cn_crc32c(0, "1234", 4);
    assert_true(cn_crc32c(c, "56789", 5) == 0xE3069283u);
}

/* Run fn in a child with stderr on a pipe: its exit status and what it printed. */
static int run_child(void (*fn)(void), char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static int side_effects;
static void invariant_fails(void)
{
    uint64_t commit = 7, next = 5;
    CN_INVARIANT(next >= commit);
}
static void invariant_holds(void)
{
    CN_INVARIANT(1 + 1 == 2);
}
static void assert_fails(void)
{
    CN_ASSERT(side_effects == 42);
}

static void test_invariant_aborts_with_location(void **state)
{
    (void)state;
    char out[512];
    int st = run_child(invariant_fails, out, sizeof out);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(out, "test_base.c:"));
    assert_non_null(strstr(out, "invariant failed: next >= commit"));
    st = run_child(invariant_holds, out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_assert_checked_in_test_builds(void **state)
{
    (void)state;
    char out[512];
    int st = run_child(assert_fails, out, sizeof out);
    if (CN_ASSERT_ENABLED) {
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
        assert_non_null(strstr(out, "side_effects == 42"));
    } else {
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* Compiled out or not, the condition is evaluated at most once. */
    CN_ASSERT(++side_effects == 1 || !CN_ASSERT_ENABLED);
    assert_int_equal(side_effects, CN_ASSERT_ENABLED ? 1 : 0);
}

/* base/text.c: hex digits, UTF-8 of a code point at every length boundary,
 * strings packed one after another with their NULs. */
static void test_text_helpers(void **st)
{
    (void)st;
    assert_int_equal(cn_hexval('0'), 0);
    assert_int_equal(cn_hexval('9'), 9);
    assert_int_equal(cn_hexval('a'), 10);
    assert_int_equal(cn_hexval('F'), 15);
    assert_int_equal(cn_hexval('g'), -1);
    assert_int_equal(cn_hexval('/'), -1);
    char o[4];
    assert_int_equal(cn_utf8_put(o, 0x41), 1);
    assert_memory_equal(o, "A", 1);
    assert_int_equal(cn_utf8_put(o, 0x7FF), 2);
    assert_memory_equal(o, "\xDF\xBF", 2);
    assert_int_equal(cn_utf8_put(o, 0x800), 3);
    assert_memory_equal(o, "\xE0\xA0\x80", 3);
    assert_int_equal(cn_utf8_put(o, 0xFFFD), 3);
    assert_memory_equal(o, "\xEF\xBF\xBD", 3);
    assert_int_equal(cn_utf8_put(o, 0x10FFFF), 4);
    assert_memory_equal(o, "\xF4\x8F\xBF\xBF", 4);
    char buf[16], *at = buf;
    char *a = cn_str_pack(&at, "ab", 2), *b = cn_str_pack(&at, "xyz", 3);
    assert_ptr_equal(a, buf);
    assert_string_equal(a, "ab");
    assert_ptr_equal(b, buf + 3);
    assert_string_equal(b, "xyz");
    assert_ptr_equal(at, buf + 7);
}

/* cn_regcomp refuses what RE2 refuses and what glibc would expand beyond the
 * bound, and compiles the patterns people write. */
static void test_regex_bounds(void **state)
{
    (void)state;
    char why[128];
    regex_t re;
    const char *ok[] = {"^geo-db-(.*?)-([^\\-]+?)$",
                        "[a-z]{1000}",
                        "(ab){300}",
                        "a{2,1000}",
                        "[(){}]{1000}",
                        "a{",
                        "x{1,}",
                        "(a?){300}",
                        "[[:alpha:]]+\\.",
                        "\\(a{1000}\\)"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(cn_regex_check(ok[i], why, sizeof(why)), 0);
    }
    assert_int_equal(cn_regcomp(&re, "^web-([0-9]+)$", REG_EXTENDED, why, sizeof(why)), 0);
    regmatch_t m[2];
    assert_int_equal(regexec(&re, "web-42", 2, m, 0), 0);
    assert_int_equal(m[1].rm_so, 4);
    regfree(&re);

    struct {
        const char *pat, *why;
    } bad[] = {
        {"a{1001}", "invalid repeat count: `{1001}`"},
        {"a{1,1001}", "invalid repeat count: `{1,1001}`"},
        {"a{99999999999999999999}", "invalid repeat count: `{99999999999999999999}`"},
        {"(a{100}){100}", "expression too large"},
        {"a{10}{10}{10}{10}", "expression too large"},
        {"((a?){64}){64}", "expression too large"},
        {"(a)\\1", "invalid escape sequence: `\\1`"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cn_regcomp(&re, bad[i].pat, REG_EXTENDED, why, sizeof(why)), -1);
        assert_string_equal(why, bad[i].why);
    }
    /* A literal longer than the bound, and nesting deeper than RE2's. */
    char big[CN_REGEX_MAX_NODES + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(cn_regex_check(big, why, sizeof(why)), -1);
    assert_string_equal(why, "expression too large");
    char deep[2 * CN_REGEX_MAX_DEPTH + 3];
    memset(deep, '(', CN_REGEX_MAX_DEPTH + 1);
    memset(deep + CN_REGEX_MAX_DEPTH + 1, ')', CN_REGEX_MAX_DEPTH + 1);
    deep[sizeof(deep) - 1] = 0;
    assert_int_equal(cn_regex_check(deep, why, sizeof(why)), -1);
    assert_string_equal(why, "expression nests too deeply");
    /* regcomp's own errors come through with its words. */
    assert_int_equal(cn_regcomp(&re, "a(b", REG_EXTENDED, why, sizeof(why)), -1);
    assert_true(strlen(why) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dur_parse_go_syntax),
        cmocka_unit_test(test_dur_format_like_go),
        cmocka_unit_test(test_jsonw_utf8_like_go),
        cmocka_unit_test(test_jsonw_compact_and_escapes),
        cmocka_unit_test(test_jsonw_pretty),
        cmocka_unit_test(test_base64_round_trip_and_errors),
        cmocka_unit_test(test_json_parse_strict),
        cmocka_unit_test(test_json_keys_case_and_snake),
        cmocka_unit_test(test_enc_dec_bounds),
        cmocka_unit_test(test_buf_oom_keeps_contents),
        cmocka_unit_test(test_crc32c_known_vector),
        cmocka_unit_test(test_invariant_aborts_with_location),
        cmocka_unit_test(test_assert_checked_in_test_builds),
        cmocka_unit_test(test_text_helpers),
        cmocka_unit_test(test_regex_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
