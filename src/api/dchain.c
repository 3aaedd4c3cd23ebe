/* api/dchain.c: the default discovery chain Consul compiles when a service
 * has no service-resolver, service-router or service-splitter entry
 * (agent/consul/discoverychain/compile.go: assembleChain's short circuit,
 * getResolverNode with newDefaultServiceResolver, recordServiceProtocol,
 * determineIfDefaultChain, the customization hash), and its JSON
 * (structs.CompiledDiscoveryChain, DiscoveryGraphNode, DiscoveryResolver,
 * DiscoveryTarget). Pure: a function of the two stored entries, the names
 * and the overrides.
 *
 * What the chain takes from the entries, as Consul: the protocol from the
 * service's service-defaults when there is one (its Protocol, "" meaning
 * tcp, even when proxy-defaults names another), else from proxy-defaults'
 * Config["protocol"] read as mapstructure's WeakDecode reads it, else tcp;
 * lower-cased. ServiceMeta is service-defaults' Meta. The target's mesh
 * gateway mode comes from the entries too, but cairn stores only the empty
 * mode (config_defaults.c), so it is "" unless overridden with "none". */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api/dchain.h"
#include "base/buf.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define DEFAULT_CONNECT_TIMEOUT_NS (5 * CN_NS_PER_S) /* newDefaultServiceResolver's 5s */

/* ---- Consul's customization hash (mitchellh/hashstructure, FNV-1 64) ----------------- */

#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

static uint64_t fnv1(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h *= FNV_PRIME;
        h ^= b[i];
    }
    return h;
}

static uint64_t h_str(const char *s)
{
    return fnv1(s, strlen(s));
}

static void put_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* hashUpdateOrdered: the hash of a and b written little-endian. */
static uint64_t h_ordered(uint64_t a, uint64_t b)
{
    unsigned char buf[16];
    put_le(buf, a);
    put_le(buf + 8, b);
    return fnv1(buf, sizeof(buf));
}

/* A struct field: its name's hash and its value's, ordered; XORed into the
 * struct's hash (hashUpdateUnordered), which starts as its type name's. */
static uint64_t h_field(const char *name, uint64_t value)
{
    return h_ordered(h_str(name), value);
}

uint64_t api__dchain_customization(const char *mgw_mode, const char *protocol, int64_t timeout_ns)
{
    unsigned char d[8];
    put_le(d, (uint64_t)timeout_ns); /* time.Duration: an int64, written as it is */
    uint64_t mgw = h_str("MeshGatewayConfig") ^ h_field("Mode", h_str(mgw_mode));
    uint64_t h = h_str(""); /* the anonymous struct's name */
    h ^= h_field("OverrideMeshGateway", mgw);
    h ^= h_field("OverrideProtocol", h_str(protocol));
    h ^= h_field("OverrideConnectTimeout", fnv1(d, sizeof(d)));
    return h;
}

/* ---- proxy-defaults' protocol as mapstructure.WeakDecode reads it --------------------- */

/* Go's strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that read
 * back as f, written without an exponent. */
static char *go_float_f(double f)
{
    char e[40];
    int prec = 0;
    for (; prec < 17; prec++) { /* the shortest %e that round-trips */
        snprintf(e, sizeof(e), "%.*e", prec, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e: [-]D[.DDD]e[+-]XX -> digits and a decimal exponent */
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            digits[nd++] = *p;
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    struct cn_buf b = CN_BUF_INIT;
    int rc = neg ? cn_buf_putc(&b, '-') : 0;
    int point = exp10 + 1; /* digits before the decimal point */
    if (point <= 0) {
        rc = rc ? rc : cn_buf_puts(&b, "0.");
        for (int i = 0; !rc && i < -point; i++)
            rc = cn_buf_putc(&b, '0');
        rc = rc ? rc : cn_buf_append(&b, digits, nd);
    } else {
        for (int i = 0; !rc && i < point; i++)
            rc = cn_buf_putc(&b, (size_t)i < nd ? digits[i] : '0');
        if (!rc && (size_t)point < nd) {
            rc = cn_buf_putc(&b, '.');
            rc = rc ? rc : cn_buf_append(&b, digits + point, nd - (size_t)point);
        }
    }
    rc = rc ? rc : cn_buf_cstr(&b);
    if (rc) {
        cn_buf_free(&b);
        return NULL;
    }
    return b.p; /* the caller's now */
}

char *api__dchain_weak_string(struct json_object *v, bool *oom)
{
    *oom = false;
    char *s = NULL;
    char num[32];
    switch (v ? json_object_get_type(v) : json_type_null) {
    case json_type_string:
        s = cn_strndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    case json_type_boolean:
        s = cn_strdup(json_object_get_boolean(v) ? "1" : "0");
        break;
    case json_type_int:
        /* Go's JSON numbers are float64: an integer beyond 2^53 is rounded */
        if (json_object_get_int64(v) > INT64_C(9007199254740992) ||
            json_object_get_int64(v) < -INT64_C(9007199254740992)) {
            s = go_float_f((double)json_object_get_int64(v));
        } else {
            snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
            s = cn_strdup(num);
        }
        break;
    case json_type_double:
        if (!isfinite(json_object_get_double(v)))
            return NULL; /* not JSON; never stored */
        s = go_float_f(json_object_get_double(v));
        break;
    default: /* null: unset; objects and arrays fail the decode: unset too */
        return NULL;
    }
    if (!s)
        *oom = true;
    return s;
}

/* mapstructure finds the field "protocol" by its exact name, else by any key
 * equal ignoring case. */
static struct json_object *config_protocol(struct json_object *config)
{
    if (!config || !json_object_is_type(config, json_type_object))
        return NULL;
    struct json_object *v;
    if (json_object_object_get_ex(config, "protocol", &v))
        return v;
    json_object_object_foreach(config, k, kv)
    {
        if (!strcasecmp(k, "protocol"))
            return kv;
    }
    return NULL;
}

/* ---- the compile ------------------------------------------------------------------------ */

/* An entry's MeshGateway.Mode (structs.MeshGatewayMode): one of Consul's
 * modes, else "" (the default). */
static const char *entry_mgw_mode(struct json_object *entry)
{
    static const char *const modes[] = {"none", "local", "remote"};
    const char *m = NULL;
    if (cn_json_get_str(cn_json_get(entry, "MeshGateway"), "Mode", &m) != 1)
        return "";
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!strcmp(m, modes[i]))
            return modes[i];
    return "";
}

static struct json_object *entry_json(const struct state_config_entry *e, int *rc)
{
    if (!e)
        return NULL;
    struct json_object *o = cn_json_parse((const char *)e->data, e->len, NULL, 0);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        *rc = CN_ECORRUPT;
        return NULL;
    }
    return o;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    struct cn_buf buf = CN_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = cn_buf_vprintf(&buf, fmt, ap);
    va_end(ap);
    if (rc || cn_buf_cstr(&buf)) {
        cn_buf_free(&buf);
        return NULL;
    }
    return buf.p; /* the caller's now */
}

void api__dchain_clear(struct api_dchain *c)
{
    cn_free(c->id);
    cn_free(c->sni);
    cn_free(c->protocol);
    json_object_put(c->service_meta);
    memset(c, 0, sizeof(*c));
}

int api__dchain_compile(const struct api_dchain_in *in, struct api_dchain *out)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    struct json_object *pd = entry_json(in->proxy_defaults, &rc);
    struct json_object *sd = rc ? NULL : entry_json(in->service_defaults, &rc);
    out->service = in->service;
    out->datacenter = in->datacenter;
    bool oom = false;
    if (!rc && sd) { /* recordServiceProtocol: the service's entry decides */
        const char *p = NULL;
        out->protocol = cn_strdup(cn_json_get_str(sd, "Protocol", &p) == 1 ? p : "");
        oom = !out->protocol;
        struct json_object *meta = cn_json_get(sd, "Meta");
        if (meta && json_object_is_type(meta, json_type_object) && json_object_object_length(meta))
            out->service_meta = json_object_get(meta);
    } else if (!rc && pd) {
        out->protocol = api__dchain_weak_string(config_protocol(cn_json_get(pd, "Config")), &oom);
    }
    /* the target's mesh gateway mode: service-defaults', else proxy-defaults'
     * (config_defaults.c stores only "" today) */
    out->mgw_mode = entry_mgw_mode(sd);
    if (!*out->mgw_mode)
        out->mgw_mode = entry_mgw_mode(pd);
    json_object_put(pd);
    json_object_put(sd);
    if (!rc && !oom && (!out->protocol || !*out->protocol)) { /* recordProtocol: "" is tcp */
        cn_free(out->protocol);
        oom = !(out->protocol = cn_strdup("tcp"));
    }
    for (char *p = out->protocol; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    /* the resolver's target: the service in default/default of the dc */
    if (!rc && !oom) {
        out->id = dup_printf("%s.default.default.%s", in->service, in->datacenter);
        out->sni =
            dup_printf("%s.default.%s.internal.%s", in->service, in->datacenter, in->trust_domain);
        oom = !out->id || !out->sni;
    }
    if (rc || oom) {
        api__dchain_clear(out);
        return rc ? rc : CN_ENOMEM;
    }
    /* the overrides: each counts only when it changes something */
    const struct api_dchain_override *o = in->ovr;
    bool by_mgw = false, by_proto = false, by_timeout = false;
    out->connect_timeout_ns = DEFAULT_CONNECT_TIMEOUT_NS;
    if (o && o->connect_timeout_ns > 0 && o->connect_timeout_ns != out->connect_timeout_ns) {
        out->connect_timeout_ns = o->connect_timeout_ns;
        by_timeout = true;
    }
    if (o && o->mgw_none && strcmp(out->mgw_mode, "none") != 0) {
        out->mgw_mode = "none";
        by_mgw = true;
    }
    if (o && o->protocol && *o->protocol && strcmp(o->protocol, out->protocol) != 0) {
        char *p = cn_strdup(o->protocol); /* as given: Consul does not lower-case it */
        if (!p) {
            api__dchain_clear(out);
            return CN_ENOMEM;
        }
        cn_free(out->protocol);
        out->protocol = p;
        by_proto = true;
    }
    if (by_mgw || by_proto || by_timeout) {
        uint64_t h = api__dchain_customization(by_mgw ? "none" : "", by_proto ? o->protocol : "",
                                               by_timeout ? o->connect_timeout_ns : 0);
        char hex[17];
        snprintf(hex, sizeof(hex), "%llx", (unsigned long long)h);
        snprintf(out->hash, sizeof(out->hash), "%.8s", hex); /* fmt.Sprintf("%x", v)[0:8] */
    }
    return 0;
}

/* ---- the JSON ------------------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A map[string]string as Go writes it: keys sorted. */
static void json_sorted_map(struct cn_jsonw *w, struct json_object *m)
{
    size_t n = (size_t)json_object_object_length(m), i = 0;
    const char **keys = cn_calloc(n ? n : 1, sizeof(*keys));
    if (!keys) {
        w->err = CN_ENOMEM;
        return;
    }
    json_object_object_foreach(m, k, v)
    {
        (void)v;
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    cn_jsonw_obj_open(w);
    for (i = 0; i < n; i++) {
        struct json_object *val = json_object_object_get(m, keys[i]);
        cn_jsonw_kstr(w, keys[i], val ? json_object_get_string(val) : "");
    }
    cn_jsonw_obj_close(w);
    cn_free(keys);
}

void api__dchain_json(struct cn_jsonw *w, const struct api_dchain *c)
{
    char timeout[40];
    cn_dur_format(c->connect_timeout_ns, timeout, sizeof(timeout));
    struct cn_buf start = CN_BUF_INIT;
    if (cn_buf_printf(&start, "resolver:%s", c->id) || cn_buf_cstr(&start)) {
        w->err = CN_ENOMEM;
        cn_buf_free(&start);
        return;
    }
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, "Chain");
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ServiceName", c->service);
    cn_jsonw_kstr(w, "Namespace", "default");
    cn_jsonw_kstr(w, "Partition", "default");
    cn_jsonw_kstr(w, "Datacenter", c->datacenter);
    if (*c->hash)
        cn_jsonw_kstr(w, "CustomizationHash", c->hash);
    cn_jsonw_kbool(w, "Default", 1); /* no resolver, router or splitter entries */
    cn_jsonw_kstr(w, "Protocol", c->protocol);
    if (c->service_meta) {
        cn_jsonw_key(w, "ServiceMeta");
        json_sorted_map(w, c->service_meta);
    }
    cn_jsonw_kstr(w, "StartNode", start.p);
    cn_jsonw_key(w, "Nodes");
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, start.p);
    cn_jsonw_obj_open(w); /* DiscoveryGraphNode */
    cn_jsonw_kstr(w, "Type", "resolver");
    cn_jsonw_kstr(w, "Name", c->id);
    cn_jsonw_key(w, "Resolver");
    cn_jsonw_obj_open(w); /* DiscoveryResolver: its MarshalJSON puts ConnectTimeout first */
    cn_jsonw_kstr(w, "ConnectTimeout", timeout);
    cn_jsonw_kbool(w, "Default", 1);
    cn_jsonw_kstr(w, "Target", c->id);
    cn_jsonw_obj_close(w);
    cn_jsonw_obj_close(w);
    cn_jsonw_obj_close(w);
    cn_jsonw_key(w, "Targets");
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, c->id);
    cn_jsonw_obj_open(w); /* DiscoveryTarget: ConnectTimeout first, as above */
    cn_jsonw_kstr(w, "ConnectTimeout", timeout);
    cn_jsonw_kstr(w, "ID", c->id);
    cn_jsonw_kstr(w, "Service", c->service);
    cn_jsonw_kstr(w, "Namespace", "default");
    cn_jsonw_kstr(w, "Partition", "default");
    cn_jsonw_kstr(w, "Datacenter", c->datacenter);
    cn_jsonw_key(w, "MeshGateway"); /* structs are never omitted by Go's omitempty */
    cn_jsonw_obj_open(w);
    if (*c->mgw_mode)
        cn_jsonw_kstr(w, "Mode", c->mgw_mode);
    cn_jsonw_obj_close(w);
    cn_jsonw_key(w, "Subset");
    cn_jsonw_obj_open(w);
    cn_jsonw_obj_close(w);
    cn_jsonw_key(w, "TransparentProxy");
    cn_jsonw_obj_open(w);
    cn_jsonw_obj_close(w);
    cn_jsonw_kstr(w, "SNI", c->sni);
    cn_jsonw_kstr(w, "Name", c->sni);
    cn_jsonw_obj_close(w);
    cn_jsonw_obj_close(w);
    /* no virtual IPs (they serve transparent proxies, which cairn lacks) */
    cn_jsonw_key(w, "AutoVirtualIPs");
    cn_jsonw_null(w);
    cn_jsonw_key(w, "ManualVirtualIPs");
    cn_jsonw_null(w);
    cn_jsonw_obj_close(w);
    cn_jsonw_obj_close(w);
    cn_buf_free(&start);
}
