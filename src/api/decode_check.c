/* api/decode_check.c: check definitions: the check-type fields shared by
 * the agent and catalog shapes, their validation (agent/structs/check_type.go
 * Validate, then what cairn cannot run), /v1/agent/check/register and
 * /v1/agent/check/update bodies. */
#include <stdint.h>
#include <string.h>

#include "api/decode_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

/* Header: map[string][]string, kept as compact JSON for the check runner and
 * for echoing in Definition. */
static int get_header(struct json_object *o, char **dst, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, "Header");
    if (!v)
        return api__set_str(dst, "", err, cap);
    if (!json_object_is_type(v, json_type_object))
        return api__fail(err, cap,
                         API_DECODE_FAILED "Header: cannot use %s as map of string arrays",
                         api__type_name(v));
    json_object_object_foreach(v, k, val)
    {
        bool ok = val && json_object_is_type(val, json_type_array);
        for (size_t i = 0; ok && i < json_object_array_length(val); i++) {
            struct json_object *e = json_object_array_get_idx(val, i);
            ok = e && json_object_is_type(e, json_type_string);
        }
        if (!ok)
            return api__fail(err, cap,
                             API_DECODE_FAILED "Header[\"%s\"]: must be an array of strings", k);
    }
    if (json_object_object_length(v) == 0)
        return api__set_str(dst, "", err, cap);
    return api__set_str(
        dst,
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        err, cap);
}

/* The check-type fields shared by agent CheckDefinition/CheckType and the
 * catalog's HealthCheckDefinition; `o` is the object holding them. */
int api__decode_check_type(struct json_object *o, struct state_check *c, struct api__chk_extra *x,
                           char *err, size_t cap)
{
    int rc;
    char **args = NULL;
    size_t nargs = 0;
    char *script = NULL;
    if ((rc = api__get_str(o, "HTTP", &c->http, false, err, cap)) ||
        (rc = api__get_str(o, "Method", &c->method, false, err, cap)) ||
        (rc = api__get_str(o, "TCP", &c->tcp, false, err, cap)) ||
        (rc = api__get_str(o, "Body", &c->body, false, err, cap)) ||
        (rc = get_header(o, &c->header_json, err, cap)) ||
        (rc = api__get_bool(o, "TLSSkipVerify", &c->tls_skip_verify, err, cap)) ||
        (rc = api__get_dur(o, "Interval", &c->interval_ns, err, cap)) ||
        (rc = api__get_dur(o, "Timeout", &c->timeout_ns, err, cap)) ||
        (rc = api__get_dur(o, "TTL", &c->ttl_ns, err, cap)) ||
        (rc = api__get_dur(o, "DeregisterCriticalServiceAfter", &c->deregister_after_ns, err, cap)))
        return rc;
    /* The Go client sends ScriptArgs; config files and older docs use Args. */
    const char *akey = cn_json_get(o, "ScriptArgs") ? "ScriptArgs" : "Args";
    if ((rc = api__get_strv(o, akey, &args, &nargs, err, cap)))
        return rc;
    if ((rc = api__get_str(o, "Script", &script, false, err, cap))) {
        api__free_strv(args, nargs);
        return rc;
    }
    if (!nargs && *script) {
        /* Consul's pre-1.0 Script: a shell command line. */
        api__free_strv(args, nargs);
        args = cn_calloc(3, sizeof(*args));
        if (!args || !(args[0] = cn_strdup("/bin/sh")) || !(args[1] = cn_strdup("-c"))) {
            api__free_strv(args, args ? 3 : 0);
            cn_free(script);
            return api__oom(err, cap);
        }
        args[2] = script;
        script = NULL;
        nargs = 3;
    }
    cn_free(script);
    c->args = args;
    c->nargs = nargs;
    x->script = nargs > 0;
    int64_t sbp = 0, fbw = 0, fbc = 0;
    if ((rc = api__get_int(o, "SuccessBeforePassing", 0, INT32_MAX, &sbp, err, cap)) ||
        (rc = api__get_int(o, "FailuresBeforeWarning", 0, INT32_MAX, &fbw, err, cap)) ||
        (rc = api__get_int(o, "FailuresBeforeCritical", 0, INT32_MAX, &fbc, err, cap)) ||
        (rc = api__get_str(o, "TLSServerName", &c->tls_server_name, false, err, cap)) ||
        (rc = api__get_str(o, "UDP", &c->udp, false, err, cap)) ||
        (rc = api__get_str(o, "GRPC", &c->grpc, false, err, cap)) ||
        (rc = api__get_bool(o, "GRPCUseTLS", &c->grpc_use_tls, err, cap)) ||
        (rc = api__get_str(o, "AliasNode", &c->alias_node, false, err, cap)) ||
        (rc = api__get_str(o, "AliasService", &c->alias_service, false, err, cap)) ||
        (rc = api__get_str(o, "H2PING", &c->h2ping, false, err, cap)))
        return rc;
    /* H2PingUseTLS defaults to true (structs.CheckType; api-docs agent/check.mdx) */
    c->h2ping_use_tls = true;
    if (cn_json_get(o, "H2PingUseTLS") &&
        (rc = api__get_bool(o, "H2PingUseTLS", &c->h2ping_use_tls, err, cap)))
        return rc;
    c->success_before_passing = (int)sbp;
    c->failures_before_warning = (int)fbw;
    c->failures_before_critical = (int)fbc;
    static const char *const others[] = {"DockerContainerID", "OSService"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        struct json_object *v = cn_json_get(o, others[i]);
        if (v && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v))) {
            x->other = true;
            x->other_name = others[i];
        }
    }
    x->alias = *c->alias_node || *c->alias_service;
    if (*c->http || *c->tcp || *c->udp || *c->grpc || *c->h2ping || c->interval_ns || c->ttl_ns ||
        x->script || x->other || x->alias)
        x->meaningful = true;
    return 0;
}

const char *api__derive_type(const struct state_check *c, const struct api__chk_extra *x)
{
    if (*c->http)
        return STATE_CHECK_HTTP;
    if (*c->tcp)
        return STATE_CHECK_TCP;
    if (c->udp && *c->udp)
        return STATE_CHECK_UDP;
    if (c->grpc && *c->grpc)
        return STATE_CHECK_GRPC;
    if (c->h2ping && *c->h2ping)
        return STATE_CHECK_H2PING;
    if (x->script)
        return STATE_CHECK_SCRIPT;
    if (x->alias)
        return STATE_CHECK_ALIAS;
    if (c->ttl_ns > 0)
        return STATE_CHECK_TTL;
    return "";
}

/* structs.CheckType.Validate, then what cairn cannot run. Message without the
 * "Invalid check: " prefix. */
const char *api__validate_check_type(const struct state_check *c, const struct api__chk_extra *x)
{
    bool interval_check = x->script || *c->http || *c->tcp || (c->udp && *c->udp) ||
                          (c->grpc && *c->grpc) || (c->h2ping && *c->h2ping) || x->other;
    if (c->interval_ns > 0 && c->ttl_ns > 0)
        return "Interval and TTL cannot both be specified";
    if (interval_check && c->interval_ns <= 0)
        return "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks";
    if (interval_check && x->alias)
        return "Interval cannot be set for Alias checks";
    if (x->alias && c->ttl_ns > 0)
        return "TTL must be not be set for Alias checks";
    if (!interval_check && !x->alias && c->ttl_ns <= 0)
        return "TTL must be > 0 for TTL checks";
    if (c->timeout_ns < 0)
        return "Timeout must be >= 0";
    if (x->other) {
        /* Named, so a client knows which type: never accepted and left unrun. */
        const char *n = x->other_name;
#define UNSUPPORTED                                                                                \
    " checks are not supported by cairn (TTL, HTTP, TCP, UDP, gRPC, H2PING, script and alias "     \
    "checks are)"
        if (!strcmp(n, "DockerContainerID"))
            return "Docker" UNSUPPORTED;
        return "OSService" UNSUPPORTED;
#undef UNSUPPORTED
    }
    if (*c->http && *c->tcp)
        return "HTTP and TCP cannot both be specified";
    if ((*c->http != 0) + (*c->tcp != 0) + (c->udp && *c->udp) + (c->grpc && *c->grpc) +
            (c->h2ping && *c->h2ping) >
        1)
        return "only one of HTTP, TCP, UDP, GRPC and H2PING may be specified";

    return NULL;
}

/* An agent-style check object (CheckDefinition or a service's CheckType).
 * Leaves defaults for the caller (ID/Name depend on context). */
int api__decode_agent_check(struct json_object *o, struct state_check *c, struct api__chk_extra *x,
                            char *err, size_t cap)
{
    int rc;
    memset(c, 0, sizeof(*c));
    memset(x, 0, sizeof(*x));
    if (!json_object_is_type(o, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "check: cannot use %s as object",
                         api__type_name(o));
    /* Both ID and CheckID are in use (CheckDefinition.ID, CheckType.CheckID). */
    const char *idkey = cn_json_get(o, "CheckID") ? "CheckID" : "ID";
    if ((rc = api__get_str(o, idkey, &c->check_id, false, err, cap)) ||
        (rc = api__get_str(o, "Name", &c->name, false, err, cap)) ||
        (rc = api__get_str(o, "Status", &c->status, false, err, cap)) ||
        (rc = api__get_str(o, "Notes", &c->notes, false, err, cap)) ||
        (rc = api__get_str(o, "ServiceID", &c->service_id, false, err, cap)) ||
        (rc = api__decode_check_type(o, c, x, err, cap)))
        return rc;
    if (*c->check_id || *c->name || *c->status || *c->notes || *c->service_id)
        x->meaningful = true;
    if ((rc = api__set_str(&c->node, "", err, cap)) ||
        (rc = api__set_str(&c->output, "", err, cap)) ||
        (rc = api__set_str(&c->service_name, "", err, cap)) ||
        (rc = api__set_str(&c->type, api__derive_type(c, x), err, cap)))
        return rc;
    return 0;
}

int api_decode_check_def(const char *body, size_t len, struct state_check *out, char *err,
                         size_t errcap)
{
    struct api__chk_extra x;
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = api__parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = api__decode_agent_check(o, out, &x, err, errcap)))
        goto fail;
    /* agent_endpoint.go AgentRegisterCheck */
    if (!*out->name) {
        rc = api__fail(err, errcap, "Missing check name");
        goto fail;
    }
    if (*out->status && !state_check_status_valid(out->status)) {
        rc = api__fail(err, errcap, "Bad check status");
        goto fail;
    }
    const char *why = api__validate_check_type(out, &x);
    if (why) {
        rc = api__fail(err, errcap, "Invalid check: %s", why);
        goto fail;
    }
    if ((!*out->check_id && (rc = api__set_str(&out->check_id, out->name, err, errcap))) ||
        (!*out->status && (rc = api__set_str(&out->status, "critical", err, errcap))))
        goto fail;
    json_object_put(o);
    return 0;
fail:
    state_check_clear(out);
    json_object_put(o);
    return rc;
}

int api_decode_check_update(const char *body, size_t len, char **status, char **output, char *err,
                            size_t errcap)
{
    int rc;
    char *st = NULL, *out = NULL;
    *status = *output = NULL;
    struct json_object *o = api__parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = api__get_str(o, "Status", &st, false, err, errcap)) ||
        (rc = api__get_str(o, "Output", &out, false, err, errcap)))
        goto fail;
    if (!state_check_status_valid(st)) {
        rc = api__fail(err, errcap, "Invalid check status: '%.200s'", st);
        goto fail;
    }
    char *t = state_check_output_truncate(out);
    if (!t) {
        rc = api__oom(err, errcap);
        goto fail;
    }
    cn_free(out);
    *status = st;
    *output = t;
    json_object_put(o);
    return 0;
fail:
    cn_free(st);
    cn_free(out);
    json_object_put(o);
    return rc;
}
