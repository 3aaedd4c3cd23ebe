/* agent/defs.c: definitions from config files (see defs.h). Consul's config
 * loader accepts a service's `check` / `checks` in any of HCL's shapes (one
 * block, repeated blocks, a list); they are brought to the API's shape
 * ("Checks": [...]) and the body goes through the very decoder
 * /v1/agent/service/register uses, so the same definition gets the same
 * answer either way. */
#include "agent/defs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api/decode.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "config/hcl.h"

static void where(const struct agent_config_def *d, struct json_object *at, const char *what,
                  char *err, size_t errcap, const char *msg)
{
    struct cfg_pos p = cfg_pos_of(at ? at : d->def);
    const char *name = NULL;
    cn_json_get_str(d->def, "name", &name);
    if (name)
        snprintf(err, errcap, "%s:%u:%u: %s \"%s\": %s", d->file, p.line, p.col, what, name, msg);
    else
        snprintf(err, errcap, "%s:%u:%u: %s: %s", d->file, p.line, p.col, what, msg);
}

/* The keys of Consul's service and check definitions (agent/config's
 * ServiceDefinition and CheckDefinition), matched as the API matches them
 * (any case, with or without underscores). Consul's config loader refuses any
 * other key ("invalid config key"); so does cairn, with its position. */
static const char *const svc_keys[] = {
    "ID",    "Name",    "Tags",      "Address",    "TaggedAddresses",
    "Meta",  "Port",    "Socket",    "SocketPath", "EnableTagOverride",
    "Check", "Checks",  "Weights",   "Kind",       "Token",
    "Proxy", "Connect", "Namespace", "Partition",  "Locality",
};
static const char *const chk_keys[] = {
    "ID",
    "CheckID",
    "Name",
    "Notes",
    "ServiceID",
    "Token",
    "Status",
    "Args",
    "ScriptArgs",
    "Script",
    "HTTP",
    "Header",
    "Method",
    "Body",
    "DisableRedirects",
    "TCP",
    "TCPUseTLS",
    "UDP",
    "Interval",
    "DockerContainerID",
    "Shell",
    "GRPC",
    "GRPCUseTLS",
    "TLSServerName",
    "TLSSkipVerify",
    "AliasNode",
    "AliasService",
    "Timeout",
    "TTL",
    "H2PING",
    "H2PingUseTLS",
    "OutputMaxSize",
    "SuccessBeforePassing",
    "FailuresBeforeWarning",
    "FailuresBeforeCritical",
    "DeregisterCriticalServiceAfter",
    "OSService",
};

/* The first member of obj not in keys[], or NULL. */
static const char *unknown_key(struct json_object *obj, const char *const *keys, size_t n,
                               struct json_object **at)
{
    json_object_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (i < n && !cn_json_key_eq(k, keys[i]))
            i++;
        if (i == n) {
            *at = v ? v : obj;
            return k;
        }
    }
    return NULL;
}

/* Unknown keys in a service definition and its checks: 0, or CN_EINVAL with
 * the message. */
static int check_keys(const struct agent_config_def *d, bool service, char *err, size_t errcap)
{
    struct json_object *at = NULL;
    char m[300];
    const char *k = service
                        ? unknown_key(d->def, svc_keys, sizeof(svc_keys) / sizeof(*svc_keys), &at)
                        : unknown_key(d->def, chk_keys, sizeof(chk_keys) / sizeof(*chk_keys), &at);
    if (!k && service) {
        json_object_object_foreach(d->def, key, v)
        {
            if (!cn_json_key_eq(key, "check") && !cn_json_key_eq(key, "checks"))
                continue;
            size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
            for (size_t i = 0; !k && i < n; i++) {
                struct json_object *c =
                    json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
                if (json_object_is_type(c, json_type_object))
                    k = unknown_key(c, chk_keys, sizeof(chk_keys) / sizeof(*chk_keys), &at);
            }
            if (k)
                break;
        }
    }
    if (!k)
        return 0;
    snprintf(m, sizeof(m), "invalid config key \"%.100s\"", k);
    where(d, at, service ? "service" : "check", err, errcap, m);
    return CN_EINVAL;
}

/* Move every member loosely named `name` of obj into the array arr. */
static void take_checks(struct json_object *obj, const char *name, struct json_object *arr)
{
    for (;;) {
        const char *found = NULL;
        json_object_object_foreach(obj, k, v)
        {
            (void)v;
            if (cn_json_key_eq(k, name)) {
                found = k;
                break;
            }
        }
        if (!found)
            return;
        struct json_object *val = NULL;
        json_object_object_get_ex(obj, found, &val);
        if (json_object_is_type(val, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(val); i++)
                json_object_array_add(arr, json_object_get(json_object_array_get_idx(val, i)));
        } else if (val) {
            json_object_array_add(arr, json_object_get(val));
        }
        char key[256];
        snprintf(key, sizeof(key), "%s", found);
        json_object_object_del(obj, key);
    }
}

/* The definition as an API body: a shallow copy with check/checks merged. */
static char *api_body(struct json_object *def, bool service)
{
    struct json_object *copy = json_object_new_object();
    if (!copy)
        return NULL;
    json_object_object_foreach(def, k, v) json_object_object_add(copy, k, json_object_get(v));
    if (service) {
        struct json_object *arr = json_object_new_array();
        take_checks(copy, "check", arr);
        take_checks(copy, "checks", arr);
        if (json_object_array_length(arr))
            json_object_object_add(copy, "Checks", arr);
        else
            json_object_put(arr);
    }
    const char *s = json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = s ? cn_strdup(s) : NULL;
    json_object_put(copy);
    return out;
}

int agent_defs_service(const struct agent_config_def *d, struct local_svc_def *out, char *err,
                       size_t errcap)
{
    memset(out, 0, sizeof(*out));
    int krc = check_keys(d, true, err, errcap);
    if (krc)
        return krc;
    char *body = api_body(d->def, true);
    if (!body) {
        snprintf(err, errcap, "%s: out of memory", d->file);
        return CN_ENOMEM;
    }
    char e[512];
    int rc = api_decode_service_def(body, strlen(body), out, e, sizeof(e));
    cn_free(body);
    if (rc)
        where(d, NULL, "service", err, errcap, e);
    return rc;
}

int agent_defs_check(const struct agent_config_def *d, struct state_check *out, char *err,
                     size_t errcap)
{
    memset(out, 0, sizeof(*out));
    int krc = check_keys(d, false, err, errcap);
    if (krc)
        return krc;
    char *body = api_body(d->def, false);
    if (!body) {
        snprintf(err, errcap, "%s: out of memory", d->file);
        return CN_ENOMEM;
    }
    char e[512];
    int rc = api_decode_check_def(body, strlen(body), out, e, sizeof(e));
    cn_free(body);
    if (rc)
        where(d, NULL, "check", err, errcap, e);
    return rc;
}

void agent_defs_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        cn_free(argv[i]);
    cn_free(argv);
}

/* POSIX shell single quoting: 'it'\''s'. */
static int shell_quote(struct cn_buf *b, const char *s)
{
    int rc = cn_buf_putc(b, '\'');
    for (; !rc && *s; s++)
        rc = *s == '\'' ? cn_buf_puts(b, "'\\''") : cn_buf_putc(b, *s);
    return rc || cn_buf_putc(b, '\'');
}

/* Consul's watch keys (https://developer.hashicorp.com/consul/docs/dynamic-app-config/watches),
 * with the flag of `cairn watch` each becomes (NULL: handled apart). */
static const struct {
    const char *key, *flag;
    json_type type;
} watch_keys[] = {
    {"type", "type", json_type_string},
    {"key", "key", json_type_string},
    {"prefix", "prefix", json_type_string},
    {"service", "service", json_type_string},
    {"tag", "tag", json_type_array},
    {"passing", "passing", json_type_boolean},
    {"state", "state", json_type_string},
    {"handler_type", NULL, json_type_string},
    {"args", NULL, json_type_array},
    {"handler", NULL, json_type_string},
    {"datacenter", NULL, json_type_string},
    {"token", NULL, json_type_string},
    {"http_handler_config", NULL, json_type_object},
};

int agent_defs_watch_argv(const struct agent_config_def *d, const char *http_addr, char ***argvp,
                          char *err, size_t errcap)
{
    *argvp = NULL;
    char **argv = cn_calloc(32, sizeof(*argv));
    size_t n = 0;
    struct cn_buf h = CN_BUF_INIT;
    char m[300];
    int rc = 0;
    if (!argv)
        goto oom;
    argv[n++] = cn_strdup("watch");
    if (http_addr) {
        struct cn_buf a = CN_BUF_INIT;
        if (cn_buf_printf(&a, "-http-addr=%s", http_addr) || cn_buf_cstr(&a))
            goto oom;
        argv[n++] = a.p;
    }
    const char *type = NULL, *handler_type = "script";
    struct json_object *args = NULL, *handler = NULL, *httpc = NULL;
    json_object_object_foreach(d->def, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof(watch_keys) / sizeof(watch_keys[0]); i++)
            if (!strcmp(k, watch_keys[i].key))
                break;
        if (i == sizeof(watch_keys) / sizeof(watch_keys[0])) {
            snprintf(m, sizeof(m), "unknown key \"%s\"", k);
            goto bad_at;
        }
        bool list_ok = watch_keys[i].type == json_type_array &&
                       json_object_is_type(v, json_type_string) && !strcmp(k, "tag");
        if (!json_object_is_type(v, watch_keys[i].type) && !list_ok) {
            snprintf(m, sizeof(m), "key \"%s\": expected %s", k,
                     watch_keys[i].type == json_type_string    ? "a string"
                     : watch_keys[i].type == json_type_boolean ? "a boolean"
                     : watch_keys[i].type == json_type_array   ? "a list of strings"
                                                               : "an object");
            goto bad_at;
        }
        if (!strcmp(k, "datacenter") || !strcmp(k, "token")) {
            snprintf(m, sizeof(m), "key \"%s\": not supported by cairn", k);
            goto bad_at;
        }
        if (!strcmp(k, "type"))
            type = json_object_get_string(v);
        else if (!strcmp(k, "handler_type"))
            handler_type = json_object_get_string(v);
        else if (!strcmp(k, "args"))
            args = v;
        else if (!strcmp(k, "handler"))
            handler = v;
        else if (!strcmp(k, "http_handler_config"))
            httpc = v;
        if (!watch_keys[i].flag || !strcmp(k, "tag") || !strcmp(k, "passing"))
            ;
        else if (n < 24) {
            struct cn_buf a = CN_BUF_INIT;
            if (cn_buf_printf(&a, "-%s=%s", watch_keys[i].flag, json_object_get_string(v)) ||
                cn_buf_cstr(&a))
                goto oom;
            argv[n++] = a.p;
        }
        if (!strcmp(k, "passing") && json_object_get_boolean(v))
            argv[n++] = cn_strdup("-passing");
        if (!strcmp(k, "tag")) {
            size_t nt = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
            for (size_t t = 0; t < nt && n < 28; t++) {
                struct json_object *e =
                    json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, t) : v;
                if (!json_object_is_type(e, json_type_string)) {
                    snprintf(m, sizeof(m), "key \"tag\": expected a list of strings");
                    goto bad_at;
                }
                struct cn_buf a = CN_BUF_INIT;
                if (cn_buf_printf(&a, "-tag=%s", json_object_get_string(e)) || cn_buf_cstr(&a))
                    goto oom;
                argv[n++] = a.p;
            }
        }
        continue;
    bad_at:
        where(d, v, "watch", err, errcap, m);
        rc = CN_EINVAL;
        goto out;
    }
    static const char *const types[] = {"key",   "keyprefix", "services",
                                        "nodes", "service",   "checks"};
    bool known = false;
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        known = known || !strcmp(type, types[i]);
    if (!type || !known) {
        snprintf(m, sizeof(m),
                 type ? "unsupported watch type \"%.60s\" (key, keyprefix, services, nodes, "
                        "service, checks)"
                      : "watch type must be specified",
                 type);
        where(d, NULL, "watch", err, errcap, m);
        rc = CN_EINVAL;
        goto out;
    }
    if ((!strcmp(type, "key") && !cn_json_get(d->def, "key")) ||
        (!strcmp(type, "keyprefix") && !cn_json_get(d->def, "prefix")) ||
        (!strcmp(type, "service") && !cn_json_get(d->def, "service"))) {
        snprintf(m, sizeof(m), "a %s watch needs \"%s\"", type,
                 !strcmp(type, "key")         ? "key"
                 : !strcmp(type, "keyprefix") ? "prefix"
                                              : "service");
        where(d, NULL, "watch", err, errcap, m);
        rc = CN_EINVAL;
        goto out;
    }
    if (!strcmp(handler_type, "http")) {
        /* Consul's http_handler_config: path, method, header, timeout,
         * tls_skip_verify; becomes `cairn watch -http-handler=...` */
        if (!httpc || args || handler) {
            where(d, NULL, "watch", err, errcap,
                  "an http watch needs http_handler_config (and no args or handler)");
            rc = CN_EINVAL;
            goto out;
        }
        const char *url = NULL;
        json_object_object_foreach(httpc, hk, hv)
        {
            struct cn_buf a = CN_BUF_INIT;
            int bad = 0;
            if (!strcmp(hk, "path") && json_object_is_type(hv, json_type_string)) {
                url = json_object_get_string(hv);
                bad = cn_buf_printf(&a, "-http-handler=%s", url);
            } else if (!strcmp(hk, "method") && json_object_is_type(hv, json_type_string)) {
                bad = cn_buf_printf(&a, "-http-handler-method=%s", json_object_get_string(hv));
            } else if (!strcmp(hk, "timeout") && json_object_is_type(hv, json_type_string)) {
                bad = cn_buf_printf(&a, "-http-handler-timeout=%s", json_object_get_string(hv));
            } else if (!strcmp(hk, "tls_skip_verify") &&
                       json_object_is_type(hv, json_type_boolean)) {
                if (!json_object_get_boolean(hv))
                    continue;
                bad = cn_buf_puts(&a, "-http-handler-tls-skip-verify");
            } else if (!strcmp(hk, "header") && json_object_is_type(hv, json_type_object)) {
                json_object_object_foreach(hv, name, vals)
                {
                    size_t nv = json_object_is_type(vals, json_type_array)
                                    ? json_object_array_length(vals)
                                    : 0;
                    for (size_t t = 0; t < nv && n < 28; t++) {
                        struct json_object *e = json_object_array_get_idx(vals, t);
                        struct cn_buf hb = CN_BUF_INIT;
                        if (!json_object_is_type(e, json_type_string) ||
                            cn_buf_printf(&hb, "-http-handler-header=%s=%s", name,
                                          json_object_get_string(e)) ||
                            cn_buf_cstr(&hb)) {
                            cn_buf_free(&hb);
                            where(d, vals, "watch", err, errcap,
                                  "http_handler_config.header: expected lists of strings");
                            rc = CN_EINVAL;
                            goto out;
                        }
                        argv[n++] = hb.p;
                    }
                    if (!json_object_is_type(vals, json_type_array)) {
                        where(d, vals, "watch", err, errcap,
                              "http_handler_config.header: expected lists of strings");
                        rc = CN_EINVAL;
                        goto out;
                    }
                }
                continue;
            } else {
                snprintf(m, sizeof(m), "http_handler_config: unknown or mistyped key \"%.60s\"",
                         hk);
                where(d, hv, "watch", err, errcap, m);
                rc = CN_EINVAL;
                goto out;
            }
            if (bad || cn_buf_cstr(&a) || n >= 28) {
                cn_buf_free(&a);
                goto oom;
            }
            argv[n++] = a.p;
        }
        if (!url || !*url) {
            where(d, httpc, "watch", err, errcap, "http_handler_config needs a path (the URL)");
            rc = CN_EINVAL;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (!argv[i])
                goto oom;
        *argvp = argv;
        return 0;
    }
    if (strcmp(handler_type, "script")) {
        snprintf(m, sizeof(m),
                 "handler_type \"%.40s\": not supported by cairn (\"script\" or \"http\")",
                 handler_type);
        where(d, NULL, "watch", err, errcap, m);
        rc = CN_EINVAL;
        goto out;
    }
    if (httpc) {
        where(d, httpc, "watch", err, errcap, "http_handler_config needs handler_type \"http\"");
        rc = CN_EINVAL;
        goto out;
    }
    if ((args != NULL) == (handler != NULL)) {
        where(d, NULL, "watch", err, errcap,
              args ? "give either args or handler, not both"
                   : "a script watch needs args (or handler)");
        rc = CN_EINVAL;
        goto out;
    }
    if (args) {
        size_t na = json_object_array_length(args);
        for (size_t i = 0; i < na; i++) {
            struct json_object *e = json_object_array_get_idx(args, i);
            if (!json_object_is_type(e, json_type_string)) {
                where(d, e, "watch", err, errcap, "args: expected a list of strings");
                rc = CN_EINVAL;
                goto out;
            }
            if ((i && cn_buf_putc(&h, ' ')) || shell_quote(&h, json_object_get_string(e)))
                goto oom;
        }
        if (!na) {
            where(d, args, "watch", err, errcap, "args is empty");
            rc = CN_EINVAL;
            goto out;
        }
    } else if (cn_buf_puts(&h, json_object_get_string(handler))) {
        goto oom;
    }
    if (cn_buf_cstr(&h))
        goto oom;
    argv[n++] = cn_strdup("--");
    argv[n++] = h.p;
    h = (struct cn_buf)CN_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (!argv[i])
            goto oom;
    *argvp = argv;
    return 0;
oom:
    snprintf(err, errcap, "%s: out of memory", d->file);
    rc = CN_ENOMEM;
out:
    cn_buf_free(&h);
    agent_defs_argv_free(argv);
    return rc;
}

static void append(char *err, size_t errcap, size_t *len, const char *msg)
{
    if (*len + 2 >= errcap)
        return;
    snprintf(err + *len, errcap - *len, "%s%s", *len ? "\n" : "", msg);
    *len += strlen(err + *len);
}

int agent_defs_validate(const struct agent_config *cfg, char *err, size_t errcap)
{
    size_t len = 0;
    int bad = 0;
    char e[1024];
    if (errcap)
        err[0] = '\0';
    /* Consul refuses to start with a script check in a file unless
     * enable_local_script_checks (or enable_script_checks) is set. */
    static const char scripts_off[] =
        "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
        "'enable_local_script_checks' to true";
    for (size_t i = 0; i < cfg->services.n; i++) {
        struct local_svc_def def;
        if (agent_defs_service(&cfg->services.v[i], &def, e, sizeof(e))) {
            append(err, errcap, &len, e);
            bad++;
            continue;
        }
        for (size_t k = 0; k < def.nchecks && !cfg->enable_local_script_checks; k++) {
            if (!strcmp(def.checks[k].type, STATE_CHECK_SCRIPT)) {
                where(&cfg->services.v[i], NULL, "service", e, sizeof(e), scripts_off);
                append(err, errcap, &len, e);
                bad++;
                break;
            }
        }
        local_svc_def_free(&def);
    }
    for (size_t i = 0; i < cfg->checks.n; i++) {
        struct state_check chk;
        if (agent_defs_check(&cfg->checks.v[i], &chk, e, sizeof(e))) {
            append(err, errcap, &len, e);
            bad++;
            continue;
        }
        if (!cfg->enable_local_script_checks && !strcmp(chk.type, STATE_CHECK_SCRIPT)) {
            where(&cfg->checks.v[i], NULL, "check", e, sizeof(e), scripts_off);
            append(err, errcap, &len, e);
            bad++;
        }
        state_check_clear(&chk);
    }
    for (size_t i = 0; i < cfg->watches.n; i++) {
        char **argv;
        if (agent_defs_watch_argv(&cfg->watches.v[i], NULL, &argv, e, sizeof(e))) {
            append(err, errcap, &len, e);
            bad++;
        } else {
            agent_defs_argv_free(argv);
        }
    }
    return bad ? CN_EINVAL : 0;
}
