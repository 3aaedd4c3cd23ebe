/* Unit tests for the cli flag parser (cli/flags.c): Go flag syntax, repeatable
 * flags, help detection and every rejection path. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "cli/cli_int.h"

static const struct cli_flag spec[] = {
    {"cas", CLI_BOOL, NULL, "bool flag"},
    {"name", CLI_STR, "string", "string flag"},
    {"modify-index", CLI_U64, "uint", "u64 flag"},
    {"port", CLI_INT, "int", "int flag"},
    {"tag", CLI_LIST, "value", "list flag"},
    {"meta", CLI_MAP, "k=v", "map flag"},
    {NULL, 0, NULL, NULL},
};

static char err[256];

static int parse(struct cli_args *a, int argc, char **argv)
{
    const struct cli_flag *t[] = {spec};
    return cli__args_parse(a, t, 1, argc, argv, err, sizeof(err));
}

#define ARGV(...) (char *[]){__VA_ARGS__}, (int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *))

static int run(struct cli_args *a, char **argv, int argc)
{
    return parse(a, argc, argv);
}

static void test_forms(void **state)
{
    (void)state;
    struct cli_args a;
    assert_int_equal(run(&a, ARGV("-name=web", "--port", "80", "-cas", "--modify-index=7")), 0);
    assert_string_equal(cli__flag_str(&a, "name", NULL), "web");
    assert_int_equal(cli__flag_int(&a, "port"), 80);
    assert_true(cli__flag_bool(&a, "cas"));
    assert_int_equal(cli__flag_u64(&a, "modify-index"), 7);
    assert_int_equal(a.npos, 0);
    assert_false(a.help);
    cli__args_free(&a);

    /* "-name value" takes the next word even when it starts with a dash, as Go. */
    assert_int_equal(run(&a, ARGV("-name", "-x")), 0);
    assert_string_equal(cli__flag_str(&a, "name", NULL), "-x");
    cli__args_free(&a);

    /* Empty value with '='; last one wins for scalars. */
    assert_int_equal(run(&a, ARGV("-name=a", "-name=")), 0);
    assert_string_equal(cli__flag_str(&a, "name", "dflt"), "");
    assert_true(cli__flag_isset(&a, "name"));
    cli__args_free(&a);
}

static void test_bool_values(void **state)
{
    (void)state;
    struct cli_args a;
    assert_int_equal(run(&a, ARGV("-cas=false")), 0);
    assert_false(cli__flag_bool(&a, "cas"));
    assert_true(cli__flag_isset(&a, "cas"));
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("-cas=T")), 0);
    assert_true(cli__flag_bool(&a, "cas"));
    cli__args_free(&a);
    /* A bool never takes the next word: it is positional. */
    assert_int_equal(run(&a, ARGV("-cas", "false")), 0);
    assert_true(cli__flag_bool(&a, "cas"));
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "false");
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("-cas=yes")), CN_EINVAL);
    assert_non_null(strstr(err, "invalid boolean value \"yes\" for -cas"));
    cli__args_free(&a);

    assert_int_equal(cli__parse_bool("1"), 1);
    assert_int_equal(cli__parse_bool("False"), 0);
    assert_int_equal(cli__parse_bool("fAlse"), -1);
    assert_int_equal(cli__parse_bool(""), -1);
}

static void test_repeatable(void **state)
{
    (void)state;
    struct cli_args a;
    assert_int_equal(run(&a, ARGV("-tag=a", "-tag", "b", "--tag=c", "-meta=k=v=w", "-meta=x=")), 0);
    const struct cli_flag_val *t = cli__flag(&a, "tag");
    assert_int_equal(t->nlist, 3);
    assert_string_equal(t->list[0], "a");
    assert_string_equal(t->list[1], "b");
    assert_string_equal(t->list[2], "c");
    const struct cli_flag_val *m = cli__flag(&a, "meta");
    assert_int_equal(m->nlist, 2);
    assert_string_equal(m->list[0], "k=v=w");
    assert_string_equal(m->list[1], "x=");
    cli__args_free(&a);

    assert_int_equal(run(&a, ARGV("-meta=novalue")), CN_EINVAL);
    assert_non_null(strstr(err, "missing \"=\""));
    cli__args_free(&a);
}

static void test_positional(void **state)
{
    (void)state;
    struct cli_args a;
    /* Flags after a positional still count; unknown dash words there are data. */
    assert_int_equal(run(&a, ARGV("key", "-cas", "-5", "-", "--", "-name=x")), 0);
    assert_true(cli__flag_bool(&a, "cas"));
    assert_int_equal(a.npos, 4);
    assert_string_equal(a.pos[0], "key");
    assert_string_equal(a.pos[1], "-5");
    assert_string_equal(a.pos[2], "-");
    assert_string_equal(a.pos[3], "-name=x");
    assert_null(cli__flag_str(&a, "name", NULL));
    cli__args_free(&a);
}

static void test_errors(void **state)
{
    (void)state;
    struct cli_args a;
    assert_int_equal(run(&a, ARGV("-bogus")), CN_EINVAL);
    assert_string_equal(err, "flag provided but not defined: -bogus");
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("--bogus=1")), CN_EINVAL);
    assert_string_equal(err, "flag provided but not defined: -bogus");
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("-name")), CN_EINVAL);
    assert_string_equal(err, "flag needs an argument: -name");
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("---name=x")), CN_EINVAL);
    assert_non_null(strstr(err, "bad flag syntax"));
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("-=x")), CN_EINVAL);
    cli__args_free(&a);
    const char *bad_u64[] = {"-1", "+1", " 1", "1x", "", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad_u64) / sizeof(bad_u64[0]); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "-modify-index=%s", bad_u64[i]);
        assert_int_equal(run(&a, ARGV(buf)), CN_EINVAL);
        assert_non_null(strstr(err, "for flag -modify-index"));
        cli__args_free(&a);
    }
    assert_int_equal(run(&a, ARGV("-modify-index=18446744073709551615")), 0);
    assert_int_equal(cli__flag_u64(&a, "modify-index"), UINT64_MAX);
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("-port=-3")), 0);
    assert_int_equal(cli__flag_int(&a, "port"), -3);
    cli__args_free(&a);
    assert_int_equal(run(&a, ARGV("-port=3.5")), CN_EINVAL);
    cli__args_free(&a);
}

static void test_help(void **state)
{
    (void)state;
    struct cli_args a;
    const char *forms[] = {"-h", "-help", "--help"};
    for (size_t i = 0; i < 3; i++) {
        char *f = (char *)forms[i];
        /* Help wins even over a bad flag before it. */
        assert_int_equal(run(&a, ARGV("-bogus", "key", f)), 0);
        assert_true(a.help);
        cli__args_free(&a);
    }
    assert_int_equal(run(&a, ARGV("--", "-h")), 0);
    assert_false(a.help);
    assert_int_equal(a.npos, 1);
    cli__args_free(&a);
}

static void test_oom(void **state)
{
    (void)state;
    struct cli_args a;
    cn_mem_fail_after(0);
    int rc = run(&a, ARGV("-tag=a", "key"));
    cn_mem_fail_after(-1);
    assert_int_equal(rc, CN_ENOMEM);
    cli__args_free(&a);
}

static void test_usage(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cli__flags_usage(&b, "Command Options", spec), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_non_null(strstr(b.p, "\nCommand Options\n"));
    assert_non_null(strstr(b.p, "\n  -cas\n     bool flag\n"));
    assert_non_null(strstr(b.p, "\n  -modify-index=<uint>\n     u64 flag\n"));
    cn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),      cmocka_unit_test(test_bool_values),
        cmocka_unit_test(test_repeatable), cmocka_unit_test(test_positional),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_help),
        cmocka_unit_test(test_oom),        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
