/* connect/ca.c: certificates for the built-in CA through OpenSSL 3 (EVP keys,
 * X509 builders). See ca.h. Every OpenSSL object is freed on every path; an
 * OpenSSL failure is CN_EIO with the first queued error's text. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "base/mem.h"
#include "connect/ca.h"

void connect_cert_clear(struct connect_cert *c)
{
    if (!c)
        return;
    cn_free(c->cert_pem);
    if (c->key_pem) {
        OPENSSL_cleanse(c->key_pem, strlen(c->key_pem));
        cn_free(c->key_pem);
    }
    memset(c, 0, sizeof(*c));
}

static int ossl_fail(char *err, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, cap, "%s failed%s%s", what, e ? ": " : "", buf);
    return CN_EIO;
}

static void colon_hex(char *out, size_t cap, const unsigned char *p, size_t n)
{
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && at + 4 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, i ? ":%02x" : "%02x", p[i]);
}

static char *pem_of(int (*wr)(BIO *, void *), void *obj)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && wr(b, obj) == 1) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0)
            out = cn_strndup(p, (size_t)n);
    }
    BIO_free(b);
    return out;
}

static int wr_cert(BIO *b, void *x)
{
    return PEM_write_bio_X509(b, x);
}

static int wr_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static X509 *read_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *read_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* id, serial, signing key id and validity of x into out. */
static void describe(X509 *x, struct connect_cert *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(x, EVP_sha1(), md, &mdlen) == 1)
        colon_hex(out->id, sizeof(out->id), md, mdlen);
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
    if (bn) {
        unsigned char buf[64];
        int n = BN_bn2bin(bn, buf);
        if (n > 0 && (size_t)n <= sizeof(buf)) {
            colon_hex(out->serial_hex, sizeof(out->serial_hex), buf, (size_t)n);
            out->serial = 0;
            for (int i = n > 8 ? n - 8 : 0; i < n; i++)
                out->serial = out->serial << 8 | buf[i];
        }
        BN_free(bn);
    }
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    if (ski)
        colon_hex(out->signing_key_id, sizeof(out->signing_key_id), ASN1_STRING_get0_data(ski),
                  (size_t)ASN1_STRING_length(ski));
    out->not_before = asn1_unix(X509_get0_notBefore(x));
    out->not_after = asn1_unix(X509_get0_notAfter(x));
}

static int random_serial(X509 *x)
{
    unsigned char b[8];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = ai && X509_set_serialNumber(x, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok ? 0 : -1;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

static int set_times(X509 *x, int64_t now, int64_t ttl_s)
{
    /* a minute back for clocks a little behind ours (Consul does the same) */
    time_t t = (time_t)now;
    return X509_time_adj_ex(X509_getm_notBefore(x), 0, -60, &t) &&
                   X509_time_adj_ex(X509_getm_notAfter(x), (int)(ttl_s / 86400),
                                    (long)(ttl_s % 86400), &t)
               ? 0
               : -1;
}

static int set_cn(X509_NAME *n, const char *cn)
{
    return X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                      0) == 1
               ? 0
               : -1;
}

struct ext {
    int nid;
    const char *value;
};

/* A certificate for a fresh P-256 key: subject CN cn, issued by issuer with
 * signer's key (NULL, NULL: self-signed), with the extensions, valid ttl_s,
 * into out (described, PEM certificate and key). */
static int issue(const char *cn, X509 *issuer, EVP_PKEY *signer, const struct ext *exts,
                 size_t nexts, int64_t now, int64_t ttl_s, const char *what,
                 struct connect_cert *out, char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int rc = CN_EIO;
    if (!key || !x) {
        rc = ossl_fail(err, cap, "generating a P-256 key");
        goto out;
    }
    X509 *iss = issuer ? issuer : x;
    bool ok = X509_set_version(x, 2) == 1 && !random_serial(x) && !set_times(x, now, ttl_s) &&
              !set_cn(X509_get_subject_name(x), cn) &&
              X509_set_issuer_name(x, X509_get_subject_name(iss)) == 1 &&
              X509_set_pubkey(x, key) == 1;
    for (size_t i = 0; ok && i < nexts; i++)
        ok = !add_ext(x, iss, exts[i].nid, exts[i].value);
    if (!ok || X509_sign(x, signer ? signer : key, EVP_sha256()) <= 0) {
        rc = ossl_fail(err, cap, what);
        goto out;
    }
    describe(x, out);
    out->cert_pem = pem_of(wr_cert, x);
    out->key_pem = pem_of(wr_key, key);
    rc = out->cert_pem && out->key_pem ? 0 : CN_ENOMEM;
    if (rc)
        snprintf(err, cap, "out of memory");
out:
    if (rc)
        connect_cert_clear(out);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int connect_ca_new_root(const char *trust_domain, int64_t now, int64_t ttl_s,
                        struct connect_cert *out, char *err, size_t cap)
{
    unsigned char r[4];
    char cn[256], san[320];
    memset(out, 0, sizeof(*out));
    if (RAND_bytes(r, sizeof(r)) != 1)
        return ossl_fail(err, cap, "random bytes");
    snprintf(cn, sizeof(cn), "pri-%02x%02x%02x%02x.consul.ca.%.8s.consul", r[0], r[1], r[2], r[3],
             trust_domain);
    snprintf(san, sizeof(san), "URI:spiffe://%s", trust_domain);
    const struct ext exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_subject_alt_name, san},
    };
    return issue(cn, NULL, NULL, exts, sizeof(exts) / sizeof(exts[0]), now, ttl_s,
                 "building the root certificate", out, err, cap);
}

/* The CA certificate and key, checked to belong together. */
static int load_ca(const char *cert_pem, const char *key_pem, X509 **cx, EVP_PKEY **ck, char *err,
                   size_t cap)
{
    *cx = cert_pem ? read_cert(cert_pem) : NULL;
    *ck = key_pem ? read_key(key_pem) : NULL;
    if (!*cx || !*ck || X509_check_private_key(*cx, *ck) != 1) {
        ERR_clear_error();
        X509_free(*cx);
        EVP_PKEY_free(*ck);
        *cx = NULL;
        *ck = NULL;
        snprintf(err, cap, "the CA certificate or its private key is missing or unusable");
        return CN_EINVAL;
    }
    return 0;
}

int connect_ca_sign_leaf(const char *ca_cert_pem, const char *ca_key_pem, const char *uri,
                         const char *cn, int64_t now, int64_t ttl_s, struct connect_cert *out,
                         char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    X509 *ca;
    EVP_PKEY *cakey;
    int rc = load_ca(ca_cert_pem, ca_key_pem, &ca, &cakey, err, cap);
    if (rc)
        return rc;
    char san[1100];
    snprintf(san, sizeof(san), "URI:%s", uri);
    const struct ext exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyEncipherment,keyAgreement"},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_subject_alt_name, san},
    };
    rc = issue(cn, ca, cakey, exts, sizeof(exts) / sizeof(exts[0]), now, ttl_s,
               "signing the leaf certificate", out, err, cap);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}

int connect_ca_cross_sign(const char *old_cert_pem, const char *old_key_pem,
                          const char *new_cert_pem, int64_t now, char **out_pem, char *err,
                          size_t cap)
{
    *out_pem = NULL;
    X509 *ca;
    EVP_PKEY *cakey;
    int rc = load_ca(old_cert_pem, old_key_pem, &ca, &cakey, err, cap);
    if (rc)
        return rc;
    X509 *nw = read_cert(new_cert_pem);
    X509 *x = nw ? X509_dup(nw) : NULL;
    rc = CN_EIO;
    if (!x) {
        rc = ossl_fail(err, cap, "reading the new root");
        goto out;
    }
    /* The same subject, key and extensions, issued by the old root, valid as
     * long as the old root (Consul's CrossSignCA). */
    int64_t until = asn1_unix(X509_get0_notAfter(ca));
    int64_t ttl = until > now ? until - now : 3600;
    int loc;
    while ((loc = X509_get_ext_by_NID(x, NID_authority_key_identifier, -1)) >= 0)
        X509_EXTENSION_free(X509_delete_ext(x, loc));
    if (random_serial(x) || set_times(x, now, ttl) ||
        X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        add_ext(x, ca, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(x, cakey, EVP_sha256()) <= 0) {
        rc = ossl_fail(err, cap, "cross-signing the new root");
        goto out;
    }
    *out_pem = pem_of(wr_cert, x);
    rc = *out_pem ? 0 : CN_ENOMEM;
    if (rc)
        snprintf(err, cap, "out of memory");
out:
    X509_free(x);
    X509_free(nw);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}

int connect_ca_parse(const char *cert_pem, const char *key_pem, struct connect_cert *out, char *err,
                     size_t cap)
{
    memset(out, 0, sizeof(*out));
    X509 *x = cert_pem ? read_cert(cert_pem) : NULL;
    if (!x) {
        ERR_clear_error();
        snprintf(err, cap, "RootCert is not a PEM certificate");
        return CN_EINVAL;
    }
    const char *why = NULL;
    if (key_pem) {
        EVP_PKEY *k = read_key(key_pem);
        if (!k)
            why = "PrivateKey is not a PEM private key";
        else if (X509_check_private_key(x, k) != 1)
            why = "PrivateKey does not match RootCert";
        else if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC || EVP_PKEY_get_bits(k) != 256)
            why = "PrivateKey must be an EC P-256 key (cairn's CA signs with ECDSA P-256 only)";
        EVP_PKEY_free(k);
    }
    ERR_clear_error();
    int rc = 0;
    if (why) {
        snprintf(err, cap, "%s", why);
        rc = CN_EINVAL;
    } else {
        describe(x, out);
        out->cert_pem = cn_strdup(cert_pem);
        if (!out->cert_pem) {
            snprintf(err, cap, "out of memory");
            rc = CN_ENOMEM;
        }
    }
    X509_free(x);
    return rc;
}

/* ---- SPIFFE IDs ----------------------------------------------------------------- */

static int hexv(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One path segment [p, e), percent-decoded into out; -1 when malformed,
 * too long or empty. */
static int segment(const char *p, const char *e, char *out, size_t cap)
{
    size_t n = 0;
    for (; p < e; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            if (e - p < 3 || hexv(p[1]) < 0 || hexv(p[2]) < 0)
                return -1;
            c = hexv(p[1]) * 16 + hexv(p[2]);
            p += 2;
        }
        if (!c || n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return n ? 0 : -1;
}

int connect_spiffe_parse(const char *uri, struct connect_spiffe *out, char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    static const char scheme[] = "spiffe://";
    if (!uri || strncasecmp(uri, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(err, cap, "URI scheme must be spiffe");
        return CN_EINVAL;
    }
    const char *host = uri + sizeof(scheme) - 1, *path = strchr(host, '/');
    if (!path || path == host || (size_t)(path - host) >= sizeof(out->trust_domain)) {
        snprintf(err, cap, "SPIFFE ID has no trust domain or path");
        return CN_EINVAL;
    }
    memcpy(out->trust_domain, host, (size_t)(path - host));
    out->trust_domain[path - host] = 0;
    for (char *c = out->trust_domain; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c); /* hosts ignore case */
    /* split the path into at most 7 segments */
    const char *seg[8], *end[8];
    size_t n = 0;
    for (const char *p = path + 1;;) {
        const char *q = strchr(p, '/');
        const char *e = q ? q : p + strlen(p);
        const char *qf = strpbrk(p, "?#");
        if (n == 8 || (qf && qf < e)) {
            snprintf(err, cap, "SPIFFE ID path is not a service or agent identity");
            return CN_EINVAL;
        }
        seg[n] = p;
        end[n++] = e;
        if (!q)
            break;
        p = q + 1;
    }
    char tmp[16];
#define SEG_IS(i, lit) (segment(seg[i], end[i], tmp, sizeof(tmp)) == 0 && !strcmp(tmp, lit))
    if (n == 6 && SEG_IS(0, "ns") && SEG_IS(2, "dc") && SEG_IS(4, "svc") &&
        !segment(seg[1], end[1], out->ns, sizeof(out->ns)) &&
        !segment(seg[3], end[3], out->dc, sizeof(out->dc)) &&
        !segment(seg[5], end[5], out->service, sizeof(out->service))) {
        out->kind = 1;
        return 0;
    }
    if (n == 6 && SEG_IS(0, "agent") && SEG_IS(1, "client") && SEG_IS(2, "dc") && SEG_IS(4, "id") &&
        !segment(seg[3], end[3], out->dc, sizeof(out->dc)) &&
        !segment(seg[5], end[5], out->agent_node, sizeof(out->agent_node))) {
        out->kind = 2;
        return 0;
    }
#undef SEG_IS
    memset(out, 0, sizeof(*out));
    snprintf(err, cap, "SPIFFE ID path is not a service or agent identity");
    return CN_EINVAL;
}

int connect_spiffe_service(char *out, size_t cap, const char *trust_domain, const char *dc,
                           const char *service)
{
    int n = snprintf(out, cap, "spiffe://%s/ns/default/dc/%s/svc/%s", trust_domain, dc, service);
    return n < 0 || (size_t)n >= cap ? CN_ERANGE : 0;
}
