/* connect/ca_doc.c: the CA document (ca_doc.h): its JSON codec, the first CA
 * and configuration updates with rotation. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/mem.h"
#include "connect/ca.h"
#include "connect/ca_doc.h"

#define H (3600LL)

static void root_clear(struct connect_ca_root *r)
{
    cn_free(r->id);
    cn_free(r->name);
    cn_free(r->signing_key_id);
    cn_free(r->cert_pem);
    cn_free(r->intermediates_pem);
    if (r->key_pem) {
        memset(r->key_pem, 0, strlen(r->key_pem));
        cn_free(r->key_pem);
    }
    memset(r, 0, sizeof(*r));
}

void connect_ca_doc_clear(struct connect_ca_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nroots; i++)
        root_clear(&d->roots[i]);
    memset(d, 0, sizeof(*d));
}

const struct connect_ca_root *connect_ca_doc_active(const struct connect_ca_doc *d)
{
    for (size_t i = 0; i < d->nroots; i++)
        if (d->roots[i].active)
            return &d->roots[i];
    return NULL;
}

/* ---- codec --------------------------------------------------------------------- */

int connect_ca_doc_encode(const struct connect_ca_doc *d, struct cn_buf *out)
{
    struct cn_jsonw w;
    cn_jsonw_init(&w, out, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "ClusterID", d->cluster_id);
    cn_jsonw_kstr(&w, "TrustDomain", d->trust_domain);
    cn_jsonw_ki64(&w, "LeafCertTTL", d->leaf_ttl_s);
    cn_jsonw_ki64(&w, "RotationPeriod", d->rotation_s);
    cn_jsonw_ki64(&w, "IntermediateCertTTL", d->intermediate_ttl_s);
    cn_jsonw_ki64(&w, "RootCertTTL", d->root_ttl_s);
    cn_jsonw_ku64(&w, "ConfigCreateIndex", d->config_create_index);
    cn_jsonw_key(&w, "Roots");
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < d->nroots; i++) {
        const struct connect_ca_root *r = &d->roots[i];
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "ID", r->id);
        cn_jsonw_kstr(&w, "Name", r->name);
        cn_jsonw_ku64(&w, "SerialNumber", r->serial);
        cn_jsonw_kstr(&w, "SigningKeyID", r->signing_key_id);
        cn_jsonw_ki64(&w, "NotBefore", r->not_before);
        cn_jsonw_ki64(&w, "NotAfter", r->not_after);
        cn_jsonw_kstr(&w, "RootCert", r->cert_pem);
        cn_jsonw_kstr(&w, "Intermediates", r->intermediates_pem);
        cn_jsonw_kstr(&w, "PrivateKey", r->key_pem);
        cn_jsonw_kbool(&w, "Active", r->active);
        cn_jsonw_ku64(&w, "CreateIndex", r->create_index);
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    return w.err;
}

static int fail(char *err, size_t cap, const char *what)
{
    snprintf(err, cap, "CA record: %s", what);
    return CN_ECORRUPT;
}

static int get_s(struct json_object *o, const char *k, char **out)
{
    const char *v;
    if (cn_json_get_str(o, k, &v) != 1)
        return -1;
    *out = cn_strdup(v);
    return *out ? 0 : -2;
}

int connect_ca_doc_decode(const void *p, size_t n, struct connect_ca_doc *d, char *err, size_t cap)
{
    memset(d, 0, sizeof(*d));
    struct json_object *o = cn_json_parse(p, n, NULL, 0);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return fail(err, cap, "not a JSON object");
    }
    const char *cid, *td;
    int rc = 0;
    struct json_object *roots = cn_json_get(o, "Roots");
    if (cn_json_get_str(o, "ClusterID", &cid) != 1 || cn_json_get_str(o, "TrustDomain", &td) != 1 ||
        strlen(cid) >= sizeof(d->cluster_id) || strlen(td) >= sizeof(d->trust_domain) ||
        cn_json_get_i64(o, "LeafCertTTL", &d->leaf_ttl_s) != 1 ||
        cn_json_get_i64(o, "RotationPeriod", &d->rotation_s) != 1 ||
        cn_json_get_i64(o, "IntermediateCertTTL", &d->intermediate_ttl_s) != 1 ||
        cn_json_get_i64(o, "RootCertTTL", &d->root_ttl_s) != 1 ||
        cn_json_get_u64(o, "ConfigCreateIndex", &d->config_create_index) != 1 || !roots ||
        !json_object_is_type(roots, json_type_array) ||
        json_object_array_length(roots) > CONNECT_CA_MAX_ROOTS || d->leaf_ttl_s <= 0) {
        rc = fail(err, cap, "missing or malformed fields");
        goto out;
    }
    snprintf(d->cluster_id, sizeof(d->cluster_id), "%s", cid);
    snprintf(d->trust_domain, sizeof(d->trust_domain), "%s", td);
    size_t nactive = 0;
    for (size_t i = 0; i < json_object_array_length(roots); i++) {
        struct json_object *e = json_object_array_get_idx(roots, i);
        struct connect_ca_root *r = &d->roots[d->nroots++];
        int a = 0, g = get_s(e, "ID", &r->id);
        g = g ? g : get_s(e, "Name", &r->name);
        g = g ? g : get_s(e, "SigningKeyID", &r->signing_key_id);
        g = g ? g : get_s(e, "RootCert", &r->cert_pem);
        g = g ? g : get_s(e, "Intermediates", &r->intermediates_pem);
        g = g ? g : get_s(e, "PrivateKey", &r->key_pem);
        if (g == -2) {
            rc = CN_ENOMEM;
            goto out;
        }
        if (g || cn_json_get_u64(e, "SerialNumber", &r->serial) != 1 ||
            cn_json_get_i64(e, "NotBefore", &r->not_before) != 1 ||
            cn_json_get_i64(e, "NotAfter", &r->not_after) != 1 ||
            cn_json_get_bool(e, "Active", &a) != 1 ||
            cn_json_get_u64(e, "CreateIndex", &r->create_index) != 1 || (a && !*r->key_pem)) {
            rc = fail(err, cap, "a root with missing or malformed fields");
            goto out;
        }
        r->active = a != 0;
        nactive += r->active;
    }
    if (nactive != 1)
        rc = fail(err, cap, "not exactly one active root");
out:
    json_object_put(o);
    if (rc)
        connect_ca_doc_clear(d);
    return rc;
}

/* ---- building documents ------------------------------------------------------------ */

static int new_uuid(char out[40])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return CN_EIO;
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* A root entry from a certificate (key NULL: not kept). */
static int root_from(struct connect_ca_root *r, const struct connect_cert *c, const char *key,
                     bool active)
{
    memset(r, 0, sizeof(*r));
    r->id = cn_strdup(c->id);
    r->name = cn_strdup("Consul CA Primary Cert");
    r->serial = c->serial;
    r->signing_key_id = cn_strdup(c->signing_key_id);
    r->not_before = c->not_before;
    r->not_after = c->not_after;
    r->cert_pem = cn_strdup(c->cert_pem);
    r->intermediates_pem = cn_strdup("");
    r->key_pem = cn_strdup(key ? key : "");
    r->active = active;
    if (!r->id || !r->name || !r->signing_key_id || !r->cert_pem || !r->intermediates_pem ||
        !r->key_pem) {
        root_clear(r);
        return CN_ENOMEM;
    }
    return 0;
}

int connect_ca_doc_initial(int64_t now, struct connect_ca_doc *d, char *err, size_t cap)
{
    memset(d, 0, sizeof(*d));
    if (new_uuid(d->cluster_id)) {
        snprintf(err, cap, "no random bytes for the cluster ID");
        return CN_EIO;
    }
    snprintf(d->trust_domain, sizeof(d->trust_domain), "%s.consul", d->cluster_id);
    d->leaf_ttl_s = 72 * H;
    d->rotation_s = 2160 * H;
    d->intermediate_ttl_s = 8760 * H;
    d->root_ttl_s = 87600 * H;
    struct connect_cert c;
    int rc = connect_ca_new_root(d->trust_domain, now, d->root_ttl_s, &c, err, cap);
    if (rc)
        return rc;
    rc = root_from(&d->roots[0], &c, c.key_pem, true);
    connect_cert_clear(&c);
    if (rc) {
        snprintf(err, cap, "out of memory");
        return rc;
    }
    d->nroots = 1;
    return 0;
}

static int dur_key(struct json_object *o, const char *k, int64_t *out_s, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, k);
    if (!v)
        return 0;
    int64_t ns = 0;
    if (json_object_is_type(v, json_type_string)) {
        if (cn_dur_parse(json_object_get_string(v), &ns) || ns <= 0) {
            snprintf(err, cap, "error parsing %s: invalid duration \"%s\"", k,
                     json_object_get_string(v));
            return CN_EINVAL;
        }
    } else if (json_object_is_type(v, json_type_int)) {
        ns = json_object_get_int64(v);
    }
    if (ns < 1000000000LL) {
        snprintf(err, cap, "%s must be at least 1s", k);
        return CN_EINVAL;
    }
    *out_s = ns / 1000000000LL;
    return 0;
}

int connect_ca_config_parse(const char *json, size_t n, struct connect_ca_config *c, void **keep,
                            char *err, size_t cap)
{
    memset(c, 0, sizeof(*c));
    *keep = NULL;
    struct json_object *o = cn_json_parse(json, n, NULL, 0);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        snprintf(err, cap, "Config must be an object");
        return CN_EINVAL;
    }
    int rc = 0;
    json_object_object_foreach(o, k, v)
    {
        static const char *const known[] = {
            "LeafCertTTL",     "RotationPeriod",  "IntermediateCertTTL", "RootCertTTL",
            "PrivateKey",      "RootCert",        "PrivateKeyType",      "PrivateKeyBits",
            "CSRMaxPerSecond", "CSRMaxConcurrent"};
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= cn_json_key_eq(k, known[i]) != 0;
        if (!ok) {
            snprintf(err, cap, "Config key %s is not supported by cairn's built-in CA", k);
            rc = CN_EINVAL;
            break;
        }
        (void)v;
    }
    const char *t;
    int64_t bits = 0;
    if (!rc && cn_json_get_str(o, "PrivateKeyType", &t) == 1 && *t && strcmp(t, "ec") != 0) {
        snprintf(err, cap, "PrivateKeyType \"%s\" is not supported: cairn's CA uses \"ec\"", t);
        rc = CN_EINVAL;
    }
    if (!rc && cn_json_get_i64(o, "PrivateKeyBits", &bits) == 1 && bits && bits != 256) {
        snprintf(err, cap, "PrivateKeyBits %lld is not supported: cairn's CA uses 256 (P-256)",
                 (long long)bits);
        rc = CN_EINVAL;
    }
    rc = rc ? rc : dur_key(o, "LeafCertTTL", &c->leaf_ttl_s, err, cap);
    rc = rc ? rc : dur_key(o, "RotationPeriod", &c->rotation_s, err, cap);
    rc = rc ? rc : dur_key(o, "IntermediateCertTTL", &c->intermediate_ttl_s, err, cap);
    rc = rc ? rc : dur_key(o, "RootCertTTL", &c->root_ttl_s, err, cap);
    if (!rc) {
        const char *pk = NULL, *rcert = NULL;
        cn_json_get_str(o, "PrivateKey", &pk);
        cn_json_get_str(o, "RootCert", &rcert);
        pk = pk && *pk ? pk : NULL;
        rcert = rcert && *rcert ? rcert : NULL;
        if (!pk != !rcert) {
            snprintf(err, cap, "PrivateKey and RootCert must be given together");
            rc = CN_EINVAL;
        }
        c->private_key = pk;
        c->root_cert = rcert;
        c->rotate = pk != NULL;
    }
    if (rc) {
        json_object_put(o);
        return rc;
    }
    *keep = o;
    return 0;
}

static int copy_root(struct connect_ca_root *dst, const struct connect_ca_root *src,
                     uint64_t record_modify)
{
    memset(dst, 0, sizeof(*dst));
    dst->id = cn_strdup(src->id);
    dst->name = cn_strdup(src->name);
    dst->serial = src->serial;
    dst->signing_key_id = cn_strdup(src->signing_key_id);
    dst->not_before = src->not_before;
    dst->not_after = src->not_after;
    dst->cert_pem = cn_strdup(src->cert_pem);
    dst->intermediates_pem = cn_strdup(src->intermediates_pem);
    dst->key_pem = cn_strdup(src->key_pem);
    dst->active = src->active;
    dst->create_index = src->create_index ? src->create_index : record_modify;
    if (!dst->id || !dst->name || !dst->signing_key_id || !dst->cert_pem ||
        !dst->intermediates_pem || !dst->key_pem) {
        root_clear(dst);
        return CN_ENOMEM;
    }
    return 0;
}

int connect_ca_doc_update(const struct connect_ca_doc *cur, uint64_t record_modify,
                          const struct connect_ca_config *c, int64_t now,
                          struct connect_ca_doc *next, char *err, size_t cap)
{
    memset(next, 0, sizeof(*next));
    memcpy(next->cluster_id, cur->cluster_id, sizeof(next->cluster_id));
    memcpy(next->trust_domain, cur->trust_domain, sizeof(next->trust_domain));
    next->leaf_ttl_s = c->leaf_ttl_s ? c->leaf_ttl_s : cur->leaf_ttl_s;
    next->rotation_s = c->rotation_s ? c->rotation_s : cur->rotation_s;
    next->intermediate_ttl_s =
        c->intermediate_ttl_s ? c->intermediate_ttl_s : cur->intermediate_ttl_s;
    next->root_ttl_s = c->root_ttl_s ? c->root_ttl_s : cur->root_ttl_s;
    next->config_create_index = cur->config_create_index ? cur->config_create_index : record_modify;
    const struct connect_ca_root *old = connect_ca_doc_active(cur);
    int rc = 0;
    /* Keep the roots still valid (expired ones leave), the old active one
     * last-but-new, without its key after a rotation. */
    size_t keep = 0;
    for (size_t i = 0; i < cur->nroots; i++)
        keep += cur->roots[i].active || cur->roots[i].not_after > now;
    /* room for the new root: the oldest inactive ones go */
    size_t drop =
        c->rotate && keep + 1 > CONNECT_CA_MAX_ROOTS ? keep + 1 - CONNECT_CA_MAX_ROOTS : 0;
    for (size_t i = 0; !rc && i < cur->nroots; i++) {
        if (cur->roots[i].not_after <= now && !cur->roots[i].active)
            continue;
        if (drop && !cur->roots[i].active) {
            drop--;
            continue;
        }
        struct connect_ca_root *r = &next->roots[next->nroots];
        rc = copy_root(r, &cur->roots[i], record_modify);
        if (rc)
            break;
        next->nroots++;
        if (c->rotate) {
            r->active = false;
            memset(r->key_pem, 0, strlen(r->key_pem));
            r->key_pem[0] = 0;
        }
    }
    if (rc || !c->rotate || !old) {
        if (rc) {
            snprintf(err, cap, "out of memory");
            connect_ca_doc_clear(next);
        }
        return rc;
    }
    struct connect_cert nc;
    const char *key;
    if (c->root_cert) {
        rc = connect_ca_parse(c->root_cert, c->private_key, &nc, err, cap);
        key = c->private_key;
    } else {
        rc = connect_ca_new_root(next->trust_domain, now, next->root_ttl_s, &nc, err, cap);
        key = nc.key_pem;
    }
    char *cross = NULL;
    if (!rc)
        rc = connect_ca_cross_sign(old->cert_pem, old->key_pem, nc.cert_pem, now, &cross, err, cap);
    struct connect_ca_root *r = &next->roots[next->nroots];
    if (!rc && !(rc = root_from(r, &nc, key, true))) {
        cn_free(r->intermediates_pem);
        r->intermediates_pem = cross;
        cross = NULL;
        next->nroots++;
    } else if (rc == CN_ENOMEM) {
        snprintf(err, cap, "out of memory");
    }
    cn_free(cross);
    connect_cert_clear(&nc);
    if (rc)
        connect_ca_doc_clear(next);
    return rc;
}
