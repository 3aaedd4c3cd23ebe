/* cli/cmd_connect.c: `cairn connect ca get-config` and `cairn connect ca
 * set-config -config-file FILE`, Consul's command/connect/ca over
 * /v1/connect/ca/configuration: get prints the configuration as indented
 * JSON; set sends the file's JSON ({"Provider": "consul", "Config": {...}})
 * and prints "Configuration updated!". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "cli/cli_int.h"
#include "proxy/proxy.h"

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

/* ---- cairn connect proxy ------------------------------------------------------------------- */

const struct cli_flag cli__connect_proxy_flags[] = {
    {"sidecar-for", CLI_STR, "id",
     "The ID of the service this proxy is the sidecar of: its registered sidecar (Kind "
     "connect-proxy, Proxy.DestinationServiceID = id) gives the service, ports and upstreams."},
    {"service", CLI_STR, "name", "The service this proxy represents (without -sidecar-for)."},
    {"service-addr", CLI_STR, "addr:port",
     "Where the local application listens (with -service and -listen)."},
    {"listen", CLI_STR, "addr:port",
     "The public mutual-TLS listener (with -service): callers' proxies dial it."},
    {"upstream", CLI_LIST, "name:port",
     "An upstream: listen on 127.0.0.1:port and proxy to a healthy instance of name's "
     "proxies. Repeatable."},
    {NULL, 0, NULL, NULL},
};

int cli__run_connect_proxy(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    struct px_opts o;
    memset(&o, 0, sizeof(o));
    o.http_addr = cli__flag_str(a, "http-addr", NULL);
    if (!o.http_addr || !*o.http_addr)
        o.http_addr = getenv("CAIRN_HTTP_ADDR");
    o.token = cli__flag_str(a, "token", NULL);
    if (!o.token || !*o.token)
        o.token = getenv("CONSUL_HTTP_TOKEN");
    o.sidecar_for = cli__flag_str(a, "sidecar-for", "");
    o.service = cli__flag_str(a, "service", "");
    o.service_addr = cli__flag_str(a, "service-addr", "");
    o.listen = cli__flag_str(a, "listen", "");
    if (*o.sidecar_for && (*o.service || *o.listen)) {
        fprintf(c->err, "-sidecar-for and -service/-listen are exclusive\n");
        return 1;
    }
    const struct cli_flag_val *ups = cli__flag(a, "upstream");
    for (size_t i = 0; ups && i < ups->nlist; i++) {
        const char *s = ups->list[i];
        const char *colon = strrchr(s, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == s || (size_t)(colon - s) >= sizeof(o.ups[0].name) || !end || *end ||
            end == colon + 1 || port < 1 || port > 65535) {
            fprintf(c->err, "-upstream %s: want name:port\n", s);
            return 1;
        }
        if (o.nups == PX_MAX_UPSTREAMS) {
            fprintf(c->err, "at most %d upstreams\n", PX_MAX_UPSTREAMS);
            return 1;
        }
        struct px_upstream_opt *u = &o.ups[o.nups++];
        memcpy(u->name, s, (size_t)(colon - s));
        u->name[colon - s] = '\0';
        snprintf(u->bind_addr, sizeof(u->bind_addr), "127.0.0.1");
        u->bind_port = (int)port;
    }
    return px_run(&o);
}
