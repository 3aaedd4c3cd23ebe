/* config/hcl.c: the HCL subset and strict JSON into one tree, positions,
 * errors with line:column, and the round-trip property (HCL -> tree -> JSON
 * text -> tree, tree -> HCL text -> tree) over fixed and random trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "config/hcl.h"

static struct json_object *hcl(const char *s)
{
    char err[256];
    struct json_object *t = cfg_parse(s, strlen(s), CFG_FMT_HCL, err, sizeof(err));
    if (!t)
        fail_msg("parse failed: %s\ninput:\n%s", err, s);
    return t;
}

static void assert_tree(const char *hcl_text, const char *json_text)
{
    struct json_object *t = hcl(hcl_text);
    struct json_object *want = json_tokener_parse(json_text);
    assert_non_null(want);
    if (!json_object_equal(t, want))
        fail_msg("tree %s\nwant %s", json_object_to_json_string(t), json_text);
    json_object_put(t);
    json_object_put(want);
}

/* The error of parsing s, which must fail. */
static const char *error_of(const char *s, enum cfg_format fmt)
{
    static char err[256];
    struct json_object *t = cfg_parse(s, strlen(s), fmt, err, sizeof(err));
    if (t)
        fail_msg("parsed, should not have: %s", s);
    return err;
}

static void test_consul_shapes(void **state)
{
    (void)state;
    assert_tree("datacenter = \"dc1\"\nnode_name = \"consul\"\n",
                "{\"datacenter\":\"dc1\",\"node_name\":\"consul\"}");
    assert_tree("ports {\n  http = 8500\n  dns = -1\n}\n",
                "{\"ports\":{\"http\":8500,\"dns\":-1}}");
    assert_tree("ports = { http = 8500, dns = 8600 }", "{\"ports\":{\"http\":8500,\"dns\":8600}}");
    assert_tree("server = true\nbootstrap_expect = 3\nui_config { enabled = false }\n",
                "{\"server\":true,\"bootstrap_expect\":3,\"ui_config\":{\"enabled\":false}}");
    assert_tree("retry_join = [\"10.0.0.1\", \"10.0.0.2\",\n]\n",
                "{\"retry_join\":[\"10.0.0.1\",\"10.0.0.2\"]}");
    /* repeated blocks become a list, in order; one stays an object */
    assert_tree("service { name = \"a\" }\nservice { name = \"b\" }\nservice { name = \"c\" }\n",
                "{\"service\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]}");
    assert_tree("service {\n  name = \"web\"\n  check { ttl = \"10s\" }\n}\n",
                "{\"service\":{\"name\":\"web\",\"check\":{\"ttl\":\"10s\"}}}");
    /* an attribute set twice: the last wins */
    assert_tree("a = 1\na = 2\n", "{\"a\":2}");
    /* labels */
    assert_tree("service \"web\" { port = 80 }\n", "{\"service\":{\"web\":{\"port\":80}}}");
    assert_tree("a \"b\" \"c\" { d = 1 }\n", "{\"a\":{\"b\":{\"c\":{\"d\":1}}}}");
    /* lists of objects, floats, quoted keys, bare keys with - and . */
    assert_tree("checks = [{ id = \"x\", interval = \"10s\" }, { id = \"y\" }]\n",
                "{\"checks\":[{\"id\":\"x\",\"interval\":\"10s\"},{\"id\":\"y\"}]}");
    assert_tree("\"quoted key\" = 1.5\nx-y.z = 1e3\n", "{\"quoted key\":1.5,\"x-y.z\":1000.0}");
    assert_tree("", "{}");
}

static void test_comments_heredocs_escapes(void **state)
{
    (void)state;
    assert_tree("# hash\n// slashes\n/* block\n comment */ a = 1 # trailing\n", "{\"a\":1}");
    assert_tree("s = <<EOF\nline 1\n  line 2\nEOF\n", "{\"s\":\"line 1\\n  line 2\\n\"}");
    assert_tree("s = <<-EOT\n    indented\n      more\n    EOT\n",
                "{\"s\":\"indented\\n  more\\n\"}");
    assert_tree("s = <<EOF\nEOF\n", "{\"s\":\"\"}");
    assert_tree("s = \"q\\\" b\\\\ n\\n t\\t u\\u00e9 U\\U0001F600\"\n",
                "{\"s\":\"q\\\" b\\\\ n\\n t\\t u\\u00e9 U\\ud83d\\ude00\"}");
    assert_tree("s = \"${node.name} kept\"", "{\"s\":\"${node.name} kept\"}");
}

static void test_positions(void **state)
{
    (void)state;
    struct json_object *t = hcl("a = 1\nports {\n  http = \"x\"\n}\nlist = [1,\n  2]\n");
    struct json_object *ports, *http, *list;
    assert_true(json_object_object_get_ex(t, "ports", &ports));
    assert_true(json_object_object_get_ex(ports, "http", &http));
    struct cfg_pos p = cfg_pos_of(http);
    assert_int_equal(p.line, 3);
    assert_int_equal(p.col, 10);
    p = cfg_pos_of(ports);
    assert_int_equal(p.line, 2);
    assert_int_equal(p.col, 7);
    assert_true(cfg_is_block(ports));
    assert_true(json_object_object_get_ex(t, "list", &list));
    p = cfg_pos_of(json_object_array_get_idx(list, 1));
    assert_int_equal(p.line, 6);
    assert_int_equal(p.col, 3);
    assert_false(cfg_is_block(list));
    json_object_put(t);
    char err[128];
    const char *js = "{\n  \"a\": {\"b\": [true]}\n}";
    t = cfg_parse(js, strlen(js), CFG_FMT_JSON, err, sizeof(err));
    assert_non_null(t);
    struct json_object *a;
    assert_true(json_object_object_get_ex(t, "a", &a));
    p = cfg_pos_of(a);
    assert_int_equal(p.line, 2);
    assert_int_equal(p.col, 8);
    json_object_put(t);
}

static void test_errors_point_at_the_text(void **state)
{
    (void)state;
    assert_string_equal(error_of("a = \"open\n", CFG_FMT_HCL), "1:5: unterminated string");
    assert_string_equal(error_of("a = 1\nb 2\n", CFG_FMT_HCL),
                        "2:3: expected '=' or '{', got \"2\"");
    assert_string_equal(error_of("a = 1\nb = }\n", CFG_FMT_HCL),
                        "2:5: expected a value, got \"}\"");
    assert_string_equal(error_of("/* open\n", CFG_FMT_HCL), "1:1: unterminated /* comment");
    assert_string_equal(error_of("a = \"\\q\"", CFG_FMT_HCL),
                        "1:6: invalid escape sequence in string");
    assert_string_equal(error_of("a = \"\\u0000\"", CFG_FMT_HCL),
                        "1:6: escape \\u produces a NUL byte (not allowed)");
    assert_string_equal(error_of("ports {\n http = 1\n", CFG_FMT_HCL),
                        "3:1: expected '}', got end of file");
    assert_string_equal(error_of("a = 012", CFG_FMT_HCL), "1:5: invalid number \"012\"");
    assert_string_equal(error_of("a = 99999999999999999999", CFG_FMT_HCL),
                        "1:5: integer out of range \"99999999999999999999\"");
    assert_string_equal(error_of("a = 1e999", CFG_FMT_HCL), "1:5: number out of range \"1e999\"");
    assert_string_equal(error_of("s = <<EOF\nnever closed\n", CFG_FMT_HCL),
                        "1:5: heredoc: no closing marker \"EOF\"");
    assert_string_equal(error_of("a = [1 2]", CFG_FMT_HCL), "1:8: expected ',' or ']', got \"2\"");
    assert_string_equal(error_of("a = @", CFG_FMT_HCL), "1:5: expected a value, got \"@\"");
    char nul[] = "a = 1\nb\0= 2";
    char err[128];
    assert_null(cfg_parse(nul, sizeof(nul) - 1, CFG_FMT_HCL, err, sizeof(err)));
    assert_string_equal(err, "2:2: NUL byte in the file");
    /* nesting is bounded */
    struct cn_buf deep = CN_BUF_INIT;
    cn_buf_puts(&deep, "a = ");
    for (int i = 0; i < 200; i++)
        cn_buf_putc(&deep, '[');
    cn_buf_cstr(&deep);
    assert_null(cfg_parse(deep.p, deep.len, CFG_FMT_HCL, err, sizeof(err)));
    assert_non_null(strstr(err, "nested deeper than 64"));
    cn_buf_free(&deep);
}

static void test_json_is_strict(void **state)
{
    (void)state;
    assert_string_equal(error_of("{\"a\": 1,}", CFG_FMT_JSON),
                        "1:9: expected a quoted key, got \"}\"");
    assert_string_equal(error_of("{a: 1}", CFG_FMT_JSON), "1:2: expected a quoted key, got \"a\"");
    assert_string_equal(error_of("{\"a\" = 1}", CFG_FMT_JSON), "1:6: expected ':', got \"=\"");
    assert_string_equal(error_of("# c\n{}", CFG_FMT_JSON),
                        "1:1: expected '{' (a JSON config file is one object), got \"#\"");
    assert_string_equal(error_of("[1]", CFG_FMT_JSON),
                        "1:1: expected '{' (a JSON config file is one object), got \"[\"");
    assert_string_equal(error_of("{\"a\": [1,]}", CFG_FMT_JSON),
                        "1:10: expected a value after ',', got \"]\"");
    assert_string_equal(error_of("{} {}", CFG_FMT_JSON), "1:4: expected end of file, got \"{\"");
    assert_string_equal(error_of("{\"a\": 1 \"b\": 2}", CFG_FMT_JSON),
                        "1:9: expected ',' or '}', got \"\"b\"\"");
    char err[64];
    struct json_object *t =
        cfg_parse("{\"a\": null, \"b\": [1.5, -2, \"x\"]}", 32, CFG_FMT_JSON, err, sizeof(err));
    assert_non_null(t);
    struct json_object *a = (struct json_object *)1;
    assert_true(json_object_object_get_ex(t, "a", &a));
    assert_null(a);
    json_object_put(t);
}

/* ---- round trip ------------------------------------------------------------------- */

static void round_trip(struct json_object *t)
{
    char err[256];
    /* tree -> JSON text -> tree */
    const char *js = json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN);
    struct json_object *j = cfg_parse(js, strlen(js), CFG_FMT_JSON, err, sizeof(err));
    if (!j)
        fail_msg("JSON form does not parse: %s\n%s", err, js);
    if (!json_object_equal(t, j))
        fail_msg("JSON round trip differs:\n%s\n%s", js, json_object_to_json_string(j));
    json_object_put(j);
    /* tree -> HCL text -> tree */
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cfg_format_hcl(t, &b), 0);
    cn_buf_cstr(&b);
    struct json_object *h = cfg_parse(b.p, b.len, CFG_FMT_HCL, err, sizeof(err));
    if (!h)
        fail_msg("HCL form does not parse: %s\n%s", err, b.p);
    if (!json_object_equal(t, h))
        fail_msg("HCL round trip differs:\n%s\n%s", b.p, json_object_to_json_string(h));
    json_object_put(h);
    cn_buf_free(&b);
}

static const char *const shapes[] = {
    "datacenter = \"dc1\"\ndata_dir = \"/opt/consul\"\nencrypt = \"x\"\nserver = true\n"
    "bootstrap_expect = 3\nclient_addr = \"0.0.0.0\"\nui_config { enabled = true }\n"
    "retry_join = [\"10.0.0.1\", \"10.0.0.2\"]\nperformance { raft_multiplier = 1 }\n",
    "service {\n  name = \"web\"\n  port = 80\n  tags = [\"rails\"]\n  meta { version = \"4\" }\n"
    "  checks = [\n    { id = \"http\", http = \"http://localhost:80/health\", interval = \"10s\","
    " timeout = \"1s\" },\n    { args = [\"/bin/check\", \"-v\"], interval = \"30s\" }\n  ]\n}\n",
    "watches = [{ type = \"checks\", handler_type = \"script\", args = [\"/usr/bin/h\"] }]\n"
    "limits { http_max_conns_per_client = 200 }\nlog_level = \"INFO\"\nnode_name = \"n\\\"1\"\n"
    "x = -0.25\ny = <<EOF\nmulti\nline\nEOF\n",
};

static void test_round_trip_consul_shapes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct json_object *t = hcl(shapes[i]);
        round_trip(t);
        json_object_put(t);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct json_object *random_string(void)
{
    static const char *const pieces[] = {"a",    "Z", "_",  " ",  "\"", "\\", "\n", "\t",   "é",
                                         "${x}", "#", "//", "/*", "=",  "{",  "]",  "\x01", "😀"};
    char buf[64] = "";
    size_t n = rnd() % 6;
    for (size_t i = 0; i < n; i++)
        strcat(buf, pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))]);
    return json_object_new_string(buf);
}

static struct json_object *random_value(int depth)
{
    switch (rnd() % (depth > 3 ? 4 : 6)) {
    case 0:
        return json_object_new_int64((int64_t)(rnd() % 2000001) - 1000000);
    case 1:
        return json_object_new_double((double)(int64_t)(rnd() % 20001 - 10000) / 64.0);
    case 2:
        return json_object_new_boolean(rnd() & 1);
    case 3:
        return random_string();
    case 4: {
        struct json_object *a = json_object_new_array();
        size_t n = rnd() % 4;
        for (size_t i = 0; i < n; i++)
            json_object_array_add(a, random_value(depth + 1));
        return a;
    }
    default: {
        struct json_object *o = json_object_new_object();
        size_t n = rnd() % 4;
        for (size_t i = 0; i < n; i++) {
            char key[32];
            struct json_object *k = random_string();
            snprintf(key, sizeof(key), "%s%zu", json_object_get_string(k), i);
            json_object_put(k);
            json_object_object_add(o, key, random_value(depth + 1));
        }
        return o;
    }
    }
}

static void test_round_trip_random_trees(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        struct json_object *t = json_object_new_object();
        size_t n = rnd() % 5;
        for (size_t k = 0; k < n; k++) {
            char key[16];
            snprintf(key, sizeof(key), "k%zu", k);
            json_object_object_add(t, key, random_value(0));
        }
        round_trip(t);
        json_object_put(t);
    }
}

static void test_format_of_path(void **state)
{
    (void)state;
    assert_int_equal(cfg_format_of_path("/etc/consul.d/consul.hcl"), CFG_FMT_HCL);
    assert_int_equal(cfg_format_of_path("a.json"), CFG_FMT_JSON);
    assert_int_equal(cfg_format_of_path("a.conf"), CFG_FMT_AUTO);
    assert_int_equal(cfg_format_of_path("hcl"), CFG_FMT_AUTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consul_shapes),
        cmocka_unit_test(test_comments_heredocs_escapes),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_errors_point_at_the_text),
        cmocka_unit_test(test_json_is_strict),
        cmocka_unit_test(test_round_trip_consul_shapes),
        cmocka_unit_test(test_round_trip_random_trees),
        cmocka_unit_test(test_format_of_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
