/* The web UI's options: -ui and ui_config.enabled (and Consul's older `ui`),
 * on by default with -dev unless a file turns it off, content_path
 * normalized and checked, the keys cairn does not have refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "base/err.h"

static int load(struct agent_config *c, char *err, size_t cap, int argc, char **argv)
{
    bool help;
    return agent_config_load(c, argc, argv, &help, err, cap);
}

/* Load a config file (HCL) with extra flags; returns the rc. */
static int load_hcl(struct agent_config *c, char *err, size_t cap, const char *hcl,
                    const char *flag)
{
    char path[] = "/tmp/cairn-cfg-ui-XXXXXX.hcl";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, hcl, strlen(hcl)), (ssize_t)strlen(hcl));
    close(fd);
    char arg[128];
    snprintf(arg, sizeof(arg), "-config-file=%s", path);
    char *argv[] = {arg, (char *)flag};
    int rc = load(c, err, cap, flag ? 2 : 1, argv);
    unlink(path);
    return rc;
}

static void test_off_by_default_on_with_flag_or_dev(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    assert_int_equal(load(&c, err, sizeof(err), 0, NULL), 0);
    assert_false(c.ui_enabled);
    assert_string_equal(c.ui_content_path, "/ui/");
    agent_config_free(&c);
    char *ui[] = {"-ui"};
    assert_int_equal(load(&c, err, sizeof(err), 1, ui), 0);
    assert_true(c.ui_enabled);
    agent_config_free(&c);
    char *dev[] = {"-dev"};
    assert_int_equal(load(&c, err, sizeof(err), 1, dev), 0);
    assert_true(c.ui_enabled);
    agent_config_free(&c);
    char *nodev[] = {"-dev=false"};
    assert_int_equal(load(&c, err, sizeof(err), 1, nodev), 0);
    assert_false(c.ui_enabled);
    agent_config_free(&c);
}

static void test_files_and_dev(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    /* -dev's default gives way to a file that turns the UI off... */
    assert_int_equal(load_hcl(&c, err, sizeof(err), "ui_config { enabled = false }\n", "-dev"), 0);
    assert_false(c.ui_enabled);
    agent_config_free(&c);
    /* ...and Consul's older top-level key works too. */
    assert_int_equal(load_hcl(&c, err, sizeof(err), "ui = true\n", NULL), 0);
    assert_true(c.ui_enabled);
    agent_config_free(&c);
    assert_int_equal(load_hcl(&c, err, sizeof(err),
                              "ui_config {\n  enabled = true\n  content_path = \"admin\"\n}\n",
                              NULL),
                     0);
    assert_true(c.ui_enabled);
    assert_string_equal(c.ui_content_path, "/admin/");
    agent_config_free(&c);
}

static void test_bad_paths_and_unsupported_keys(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    static const char *const bad[] = {"/", "/v1/ui/", "/a b/", "/ui/../x/", "/ui?x", "//x/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char hcl[128];
        snprintf(hcl, sizeof(hcl), "ui_config { content_path = \"%s\" }\n", bad[i]);
        assert_int_equal(load_hcl(&c, err, sizeof(err), hcl, NULL), CN_EINVAL);
        assert_non_null(strstr(err, "invalid UI content path"));
        agent_config_free(&c);
    }
    assert_int_equal(load_hcl(&c, err, sizeof(err), "ui_config { dir = \"/srv/ui\" }\n", NULL),
                     CN_EINVAL);
    assert_non_null(strstr(err, "key \"ui_config.dir\": not supported by cairn"));
    agent_config_free(&c);
    assert_int_equal(load_hcl(&c, err, sizeof(err), "ui_config { enabled = \"yes\" }\n", NULL),
                     CN_EINVAL);
    assert_non_null(strstr(err, "expected a boolean"));
    agent_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_by_default_on_with_flag_or_dev),
        cmocka_unit_test(test_files_and_dev),
        cmocka_unit_test(test_bad_paths_and_unsupported_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
