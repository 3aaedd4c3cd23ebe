/* Unit tests for Go's ServeMux path cleaning (http/path.c): the cases of
 * Go's path.Clean and net/http's cleanPath, and the redirect's Location. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "http/http.h"

static void clean_is(const char *in, const char *want)
{
    char out[256];
    size_t n = http_path_clean(in, strlen(in), out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_clean(void **state)
{
    (void)state;
    clean_is("", "/");
    clean_is("/", "/");
    clean_is("/abc", "/abc");
    clean_is("/a/b/c", "/a/b/c");
    clean_is("/abc/", "/abc/");
    clean_is("abc", "/abc");
    clean_is("/a//b", "/a/b");
    clean_is("//abc", "/abc");
    clean_is("//", "/");
    clean_is("/abc//", "/abc/");
    clean_is("/abc/.", "/abc");
    clean_is("/abc/./def", "/abc/def");
    clean_is("/./", "/");
    clean_is("/a/./", "/a/");
    clean_is("/abc/..", "/");
    clean_is("/abc/../def", "/def");
    clean_is("/../abc", "/abc");
    clean_is("/..", "/");
    clean_is("/abc/def/../../..", "/");
    clean_is("/abc/def/../../../ghi/jkl/../../../mno", "/mno");
    clean_is("/a/b/../c/", "/a/c/");
    clean_is("/a/.../b", "/a/.../b"); /* "..." and "..b" are names */
    clean_is("/a/..b", "/a/..b");
    clean_is("/v1/kv/a%2Fb", "/v1/kv/a%2Fb");
}

static struct cn_buf redirect(int method, const char *mstr, const char *path, const char *target,
                              int want_rc)
{
    struct http_req r = {.method = (enum http_method)method,
                         .method_str = mstr,
                         .path = path,
                         .path_len = strlen(path),
                         .raw_target = target};
    struct cn_buf loc = CN_BUF_INIT;
    assert_int_equal(http_path_redirect(&r, &loc), want_rc);
    return loc;
}

static void test_redirect(void **state)
{
    (void)state;
    struct cn_buf b = redirect(HTTP_M_GET, "GET", "/v1/kv/a", "/v1/kv/a", 0);
    assert_int_equal(b.len, 0);
    b = redirect(HTTP_M_PUT, "PUT", "/v1/kv//a", "/v1/kv//a?flags=3&cas=0", 1);
    assert_string_equal(b.p, "/v1/kv/a?flags=3&cas=0");
    cn_buf_free(&b);
    /* the decoded path is cleaned and escaped again (Go's EscapedPath) */
    b = redirect(HTTP_M_GET, "GET", "/v1/kv//a b?(c)!", "/v1/kv//a%20b%3F(c)!", 1);
    assert_string_equal(b.p, "/v1/kv/a%20b%3F%28c%29%21");
    cn_buf_free(&b);
    b = redirect(HTTP_M_GET, "GET", "/v1/kv/./x:y@z$&+,;=~", "/v1/kv/./x:y@z$&+,;=~?", 1);
    assert_string_equal(b.p, "/v1/kv/x:y@z$&+,;=~"); /* a bare "?" goes */
    cn_buf_free(&b);
    b = redirect(HTTP_M_GET, "GET", "/ui/../v1/status/leader", "/ui/../v1/status/leader", 1);
    assert_string_equal(b.p, "/v1/status/leader");
    cn_buf_free(&b);
    /* query bytes outside printable ASCII are escaped (Go's hexEscapeNonASCII) */
    b = redirect(HTTP_M_GET, "GET", "/a//b", "/a//b?k=\xd0\x35", 1);
    assert_string_equal(b.p, "/a/b?k=%D05");
    cn_buf_free(&b);
    /* CONNECT keeps its target */
    b = redirect(HTTP_M_OTHER, "CONNECT", "//x", "//x", 0);
    assert_int_equal(b.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_redirect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
