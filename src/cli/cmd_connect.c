/* cli/cmd_connect.c: `cairn connect ca get-config` and `cairn connect ca
 * set-config -config-file FILE`, Consul's command/connect/ca over
 * /v1/connect/ca/configuration: get prints the configuration as indented
 * JSON; set sends the file's JSON ({"Provider": "consul", "Config": {...}})
 * and prints "Configuration updated!". */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "cli/cli_int.h"

#define CA_CONFIG "/v1/connect/ca/configuration"

const struct cli_flag cli__connect_ca_set_flags[] = {
    {"config-file", CLI_STR, "path",
     "The JSON file with the new configuration ({\"Provider\": \"consul\", \"Config\": {...}})."},
    {NULL, 0, NULL, NULL},
};

int cli__run_connect_ca_get(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    struct cli_resp r = {0};
    struct json_object *o = NULL;
    const char *what = "Error request CA configuration";
    int ret = 1;
    if (!cli__call(c, what, "GET", CA_CONFIG, "", NULL, 0, 0, &r) &&
        (o = cli__json_body(c, what, &r))) {
        fprintf(c->out, "%s\n",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
        ret = 0;
    }
    json_object_put(o);
    cli__resp_free(&r);
    return ret;
}

int cli__run_connect_ca_set(struct cli_ctx *c, const struct cli_args *a)
{
    const char *path = cli__flag_str(a, "config-file", "");
    if (a->npos) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    if (!*path) {
        fprintf(c->err, "-config-file is required\n");
        return 1;
    }
    struct cn_buf body = CN_BUF_INIT;
    char err[512];
    if (cli__read_file(&body, path, err, sizeof(err)) < 0) {
        fprintf(c->err, "Error reading config file: %s\n", err);
        cn_buf_free(&body);
        return 1;
    }
    struct json_object *o =
        cn_json_parse(body.p ? (const char *)body.p : "", body.len, err, sizeof(err));
    if (!o) {
        fprintf(c->err, "Error parsing config file: %s\n", err);
        cn_buf_free(&body);
        return 1;
    }
    json_object_put(o);
    struct cli_resp r = {0};
    int ret = 1;
    if (!cli__call(c, "Error setting CA configuration", "PUT", CA_CONFIG, "", body.p, body.len, 0,
                   &r)) {
        fprintf(c->out, "Configuration updated!\n");
        ret = 0;
    }
    cli__resp_free(&r);
    cn_buf_free(&body);
    return ret;
}
