/* Unit tests for cli dispatch and output helpers (cli/cli.c, cli/output.c):
 * help and usage exit codes, flag errors, version, table layouts, and a
 * connection-refused error that names the address. No agent needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/mem.h"
#include "cli/cli_int.h"

struct run {
    int code;
    char *out, *err;
    size_t out_len, err_len;
};

static struct run run_argv(int argc, char **argv)
{
    struct run r = {0};
    FILE *o = open_memstream(&r.out, &r.out_len);
    FILE *e = open_memstream(&r.err, &r.err_len);
    r.code = cli__main_io(argc, argv, o, e);
    fclose(o);
    fclose(e);
    return r;
}

#define RUN(...)                                                                                   \
    run_argv((int)(sizeof((char *[]){"cairn", __VA_ARGS__}) / sizeof(char *)),                     \
             (char *[]){"cairn", __VA_ARGS__})

static void done(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void test_top_level(void **state)
{
    (void)state;
    struct run r = run_argv(1, (char *[]){"cairn"});
    assert_int_equal(r.code, 127);
    assert_non_null(strstr(r.err, "Usage: cairn"));
    done(&r);

    r = RUN("--help");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "Available commands are:"));
    assert_non_null(strstr(r.out, "    kv "));
    assert_non_null(strstr(r.out, "    members "));
    assert_null(strstr(r.out, "kv put")); /* only top-level commands listed */
    done(&r);

    r = RUN("frobnicate");
    assert_int_equal(r.code, 127);
    assert_non_null(strstr(r.err, "Unknown command: \"frobnicate\""));
    assert_string_equal(r.out, "");
    done(&r);
}

static void test_every_command_has_help(void **state)
{
    (void)state;
    for (size_t i = 0; i < cli__ncmds; i++) {
        const struct cli_cmd *c = &cli__cmds[i];
        char *argv[5] = {"cairn"};
        int argc = 1;
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", c->name);
        char *sp = strchr(buf, ' ');
        argv[argc++] = buf;
        if (sp) {
            *sp = '\0';
            argv[argc++] = sp + 1;
        }
        argv[argc++] = "-h";
        struct run r = run_argv(argc, argv);
        if (r.code != 0)
            fail_msg("\"%s -h\" exited %d", c->name, r.code);
        assert_non_null(strstr(r.out, "Usage: cairn"));
        if (c->http)
            assert_non_null(strstr(r.out, "-http-addr=<address>"));
        for (const struct cli_flag *f = c->flags; f && f->name; f++) {
            char want[64];
            snprintf(want, sizeof(want), "\n  -%s", f->name);
            assert_non_null(strstr(r.out, want));
        }
        done(&r);
    }
}

static void test_groups(void **state)
{
    (void)state;
    struct run r = RUN("kv");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "Subcommands:"));
    assert_non_null(strstr(r.err, "    put "));
    done(&r);

    r = RUN("kv", "frob");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "Unknown subcommand: \"kv frob\""));
    done(&r);

    r = RUN("catalog", "--help");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "    services "));
    done(&r);
}

static void test_flag_errors(void **state)
{
    (void)state;
    struct run r = RUN("kv", "get", "-bogus", "key");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "flag provided but not defined: -bogus"));
    assert_non_null(strstr(r.err, "cairn kv get -h"));
    done(&r);

    r = RUN("kv", "put", "-modify-index=abc", "k", "v");
    assert_int_equal(r.code, 1);
    done(&r);

    /* Argument checks happen before any request: no agent is needed. */
    r = RUN("kv", "put");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error! Missing KEY argument\n");
    done(&r);
    r = RUN("kv", "put", "-cas", "k", "v");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Must specify -modify-index with -cas!\n");
    done(&r);
    r = RUN("kv", "get");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error! Missing KEY argument\n");
    done(&r);
    r = RUN("kv", "delete", "-cas", "-recurse", "-modify-index=3", "k");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Cannot specify both -cas and -recurse!\n");
    done(&r);
    r = RUN("kv", "import");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error! Missing DATA argument\n");
    done(&r);
    r = RUN("kv", "import", "{\"not\": \"an array\"}");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "Cannot unmarshal data"));
    done(&r);
    r = RUN("services", "register");
    assert_int_equal(r.code, 1);
    done(&r);
    r = RUN("services", "deregister", "-id=a", "file.json");
    assert_int_equal(r.code, 1);
    done(&r);
    r = RUN("members", "-status=(");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "Failed to compile status regexp"));
    done(&r);
    r = RUN("members", "-http-addr=ftp://x:1");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "unsupported scheme"));
    done(&r);
}

static void test_version(void **state)
{
    (void)state;
    struct run r = RUN("version");
    assert_int_equal(r.code, 0);
    assert_true(strncmp(r.out, "Cairn v" CAIRN_VERSION "\n", strlen("Cairn v" CAIRN_VERSION) + 1) ==
                0);
    assert_non_null(strstr(r.out, "Protocol 2 spoken by default"));
    done(&r);
    r = RUN("-v");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "Cairn v"));
    done(&r);
    r = RUN("version", "-format=json");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"Version\": \"" CAIRN_VERSION "\""));
    done(&r);
    r = RUN("version", "-format=xml");
    assert_int_equal(r.code, 1);
    done(&r);
}

/* Port 1 on loopback is closed: the error must name the address. */
static void test_connection_refused(void **state)
{
    (void)state;
    struct run r = RUN("kv", "get", "-http-addr=127.0.0.1:1", "foo");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "Get \"http://127.0.0.1:1/v1/kv/foo\""));
    done(&r);
}

static void test_columnize(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *rows[] = {("Node\x1f"
                           "Address\x1f"
                           "Status"),
                          ("a-long-name\x1f"
                           "1.2.3.4:1\x1f"
                           "alive"),
                          (" x \x1f"
                           "y")};
    cli__columnize(f, rows, 3);
    fclose(f);
    assert_string_equal(out, "Node         Address    Status\n"
                             "a-long-name  1.2.3.4:1  alive\n"
                             "x            y\n");
    free(out);
}

static void test_tabwrite(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    const char *in = "CreateIndex\t5\nKey\tk\nValue\tv";
    assert_int_equal(cli__tabwrite(&b, in, strlen(in)), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "CreateIndex      5\n"
                             "Key              k\n"
                             "Value            v");
    cn_buf_reset(&b);
    /* A line without a tab ends the column block. */
    in = "ab\t1\nplain\nabcdef\t2\n";
    assert_int_equal(cli__tabwrite(&b, in, strlen(in)), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "ab      1\nplain\nabcdef      2\n");
    cn_buf_free(&b);
}

static void test_go_json(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    const char in[] = "a\"b\\<>&\n\x01\xe2\x80\xa8z";
    assert_int_equal(cli__go_json_str(&b, in, sizeof(in) - 1), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "\"a\\\"b\\\\\\u003c\\u003e\\u0026\\n\\u0001\\u2028z\"");
    cn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level), cmocka_unit_test(test_every_command_has_help),
        cmocka_unit_test(test_groups),    cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_version),   cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_columnize), cmocka_unit_test(test_tabwrite),
        cmocka_unit_test(test_go_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
