/* api/decode_catalog.c: /v1/catalog/register and /v1/catalog/deregister
 * bodies (agent/consul/catalog_endpoint.go Register, Deregister). */
#include <ctype.h>
#include <string.h>

#include "api/decode_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

/* ---- catalog register / deregister ----------------------------------------------- */

/* 8-4-4-4-12 hex, as go-uuid ParseUUID wants. */
static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* A catalog HealthCheck object: Node, CheckID, Name, Status, Notes, Output,
 * ServiceID, Type, Definition{...} (and the flat Interval/Timeout strings
 * newer Consul also carries). */
static int decode_catalog_check(struct json_object *o, struct state_check *c, char *err, size_t cap)
{
    int rc;
    struct api__chk_extra x;
    memset(c, 0, sizeof(*c));
    memset(&x, 0, sizeof(x));
    if (!json_object_is_type(o, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "Check: cannot use %s as object",
                         api__type_name(o));
    const char *idkey = cn_json_get(o, "CheckID") ? "CheckID" : "ID";
    if ((rc = api__get_str(o, "Node", &c->node, false, err, cap)) ||
        (rc = api__get_str(o, idkey, &c->check_id, false, err, cap)) ||
        (rc = api__get_str(o, "Name", &c->name, false, err, cap)) ||
        (rc = api__get_str(o, "Status", &c->status, false, err, cap)) ||
        (rc = api__get_str(o, "Notes", &c->notes, false, err, cap)) ||
        (rc = api__get_str(o, "Output", &c->output, false, err, cap)) ||
        (rc = api__get_str(o, "ServiceID", &c->service_id, false, err, cap)) ||
        (rc = api__get_str(o, "Type", &c->type, false, err, cap)))
        return rc;
    struct json_object *def = cn_json_get(o, "Definition");
    if (def && !json_object_is_type(def, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "Check.Definition: cannot use %s as object",
                         api__type_name(def));
    if ((rc = api__decode_check_type(def ? def : o, c, &x, err, cap)))
        return rc;
    if (def && !c->interval_ns && (rc = api__get_dur(o, "Interval", &c->interval_ns, err, cap)))
        return rc;
    if (def && !c->timeout_ns && (rc = api__get_dur(o, "Timeout", &c->timeout_ns, err, cap)))
        return rc;
    if (!*c->type && (rc = api__set_str(&c->type, api__derive_type(c, &x), err, cap)))
        return rc;
    if ((rc = api__set_str(&c->service_name, "", err, cap)))
        return rc;
    /* checkPreApply: CheckID defaults to Name. */
    if (!*c->check_id && (rc = api__set_str(&c->check_id, c->name, err, cap)))
        return rc;
    if (!*c->check_id)
        return api__fail(err, cap, "Missing check ID or name");
    if (!*c->status && (rc = api__set_str(&c->status, "critical", err, cap)))
        return rc;
    if (!state_check_status_valid(c->status))
        return api__fail(err, cap, "Invalid check status: '%s'", c->status);
    char *t = state_check_output_truncate(c->output);
    if (!t)
        return api__oom(err, cap);
    cn_free(c->output);
    c->output = t;
    return 0;
}

int api_decode_catalog_register(const char *body, size_t len, struct state_register *out, char *err,
                                size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = api__parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = api__get_str(o, "Node", &out->node.name, false, err, errcap)) ||
        (rc = api__get_str(o, "ID", &out->node.id, false, err, errcap)) ||
        (rc = api__get_str(o, "Address", &out->node.address, false, err, errcap)) ||
        (rc = api__get_map(o, "TaggedAddresses", &out->node.tagged_addresses, err, errcap)) ||
        (rc = api__get_map(o, "NodeMeta", &out->node.meta, err, errcap)) ||
        (rc = api__get_bool(o, "SkipNodeUpdate", &out->skip_node_update, err, errcap)))
        goto fail;
    /* agent/consul/catalog_endpoint.go Register / nodePreApply */
    if (!*out->node.name) {
        rc = api__fail(err, errcap, "Must provide node");
        goto fail;
    }
    if (*out->node.id && !is_uuid(out->node.id)) {
        rc = api__fail(err, errcap,
                       "Bad node ID: uuid string is wrong length or improperly formatted");
        goto fail;
    }
    if (!*out->node.address && !out->skip_node_update) {
        rc = api__fail(err, errcap, "Must provide address if SkipNodeUpdate is not set");
        goto fail;
    }
    if ((rc = api__validate_meta(&out->node.meta, true, err, errcap)))
        goto fail;

    struct json_object *sv = cn_json_get(o, "Service");
    if (sv) {
        if (!json_object_is_type(sv, json_type_object)) {
            rc = api__fail(err, errcap, API_DECODE_FAILED "Service: cannot use %s as object",
                           api__type_name(sv));
            goto fail;
        }
        out->service = cn_calloc(1, sizeof(*out->service));
        if (!out->service) {
            rc = api__oom(err, errcap);
            goto fail;
        }
        if ((rc = api__decode_service_common(sv, "Service", out->service, err, errcap)))
            goto fail;
        /* servicePreApply: ID defaults to the name; an ID needs a name. */
        if (!*out->service->service) {
            rc = api__fail(err, errcap, "Must provide service name (Service.Service) with ID");
            goto fail;
        }
        if (!*out->service->id &&
            (rc = api__set_str(&out->service->id, out->service->service, err, errcap)))
            goto fail;
        if ((rc = api__set_str(&out->service->node, out->node.name, err, errcap)))
            goto fail;
    }

    struct json_object *one, *many;
    size_t nmany;
    if ((rc = api__check_list(o, &one, &many, &nmany, &out->checks, err, errcap)))
        goto fail;
    size_t total = (one ? 1 : 0) + nmany;
    for (size_t i = 0; i < total; i++) {
        struct json_object *e = one ? (i == 0 ? one : json_object_array_get_idx(many, i - 1))
                                    : json_object_array_get_idx(many, i);
        if (!e) {
            rc = api__fail(err, errcap, API_DECODE_FAILED "Checks: cannot use null as object");
            goto fail;
        }
        rc = decode_catalog_check(e, &out->checks[out->nchecks], err, errcap);
        out->nchecks++;
        if (rc)
            goto fail;
        struct state_check *c = &out->checks[out->nchecks - 1];
        if (*c->node && strcmp(c->node, out->node.name)) {
            rc = api__fail(err, errcap, "Check node '%s' does not match register node '%s'",
                           c->node, out->node.name);
            goto fail;
        }
        if ((rc = api__set_str(&c->node, out->node.name, err, errcap)))
            goto fail;
    }
    json_object_put(o);
    return 0;
fail:
    state_register_clear(out);
    json_object_put(o);
    return rc;
}

void api_catalog_dereg_free(struct api_catalog_dereg *d)
{
    if (!d)
        return;
    cn_free(d->node);
    cn_free(d->service_id);
    cn_free(d->check_id);
    memset(d, 0, sizeof(*d));
}

int api_decode_catalog_deregister(const char *body, size_t len, struct api_catalog_dereg *out,
                                  char *err, size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = api__parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = api__get_str(o, "Node", &out->node, false, err, errcap)) ||
        (rc = api__get_str(o, "ServiceID", &out->service_id, true, err, errcap)) ||
        (rc = api__get_str(o, "CheckID", &out->check_id, true, err, errcap)))
        goto fail;
    if (!*out->node) {
        rc = api__fail(err, errcap, "Must provide node");
        goto fail;
    }
    /* "" means absent, as in Go. */
    if (out->service_id && !*out->service_id) {
        cn_free(out->service_id);
        out->service_id = NULL;
    }
    if (out->check_id && !*out->check_id) {
        cn_free(out->check_id);
        out->check_id = NULL;
    }
    json_object_put(o);
    return 0;
fail:
    api_catalog_dereg_free(out);
    json_object_put(o);
    return rc;
}
