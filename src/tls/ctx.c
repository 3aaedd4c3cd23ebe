/* tls/ctx.c: an SSL_CTX from one interface's resolved settings (see tls.h).
 * Consul's texts where Consul has one (tlsutil/config.go): "VerifyIncoming
 * set, and no CA certificate provided!", and so on. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "base/err.h"
#include "tls/tls.h"

static bool set(const char *s)
{
    return s && *s;
}

/* OpenSSL's last reason, or errno's text for a missing file. */
static const char *why(char *b, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SYS || (!e && errno)) {
        snprintf(b, cap, "%s", strerror(errno ? errno : ERR_GET_REASON(e)));
    } else if (e) {
        const char *r = ERR_reason_error_string(e);
        snprintf(b, cap, "%s", r ? r : "unknown OpenSSL error");
    } else {
        snprintf(b, cap, "unknown error");
    }
    ERR_clear_error();
    return b;
}

static int readable(const struct tls_opts *o, const char *key, const char *path, char *err,
                    size_t errcap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errcap, "%s: %s \"%s\": %s", o->what, key, path, strerror(errno));
        return CN_EINVAL;
    }
    return 0;
}

int tls_min_version_check(const char *v, char *err, size_t errcap)
{
    if (!set(v) || !strcmp(v, "TLSv1_2") || !strcmp(v, "TLSv1_3") || !strcmp(v, "tls12") ||
        !strcmp(v, "tls13"))
        return 0;
    if (!strcmp(v, "TLSv1_0") || !strcmp(v, "TLSv1_1") || !strcmp(v, "tls10") ||
        !strcmp(v, "tls11"))
        snprintf(err, errcap,
                 "tls_min_version \"%s\" is not supported: cairn speaks TLS 1.2 and 1.3 only "
                 "(TLSv1_2, TLSv1_3)",
                 v);
    else
        snprintf(err, errcap,
                 "tls_min_version: invalid value \"%s\" (TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3; "
                 "cairn accepts TLSv1_2 and TLSv1_3)",
                 v);
    return CN_EINVAL;
}

/* Go's cipher suite names (Consul's tls_cipher_suites) to OpenSSL's. TLS 1.3
 * suites are not configurable, as in Go. */
static const struct {
    const char *go, *ossl;
} suites[] = {
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
};

static int cipher_list(const struct tls_opts *o, char *out, size_t cap, char *err, size_t errcap)
{
    size_t len = 0;
    out[0] = 0;
    const char *p = o->cipher_suites;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ')) {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        size_t k = 0;
        for (; k < sizeof(suites) / sizeof(suites[0]); k++)
            if (strlen(suites[k].go) == n && !strncmp(suites[k].go, p, n))
                break;
        if (k == sizeof(suites) / sizeof(suites[0])) {
            snprintf(err, errcap, "%s: tls_cipher_suites: unsupported cipher \"%.*s\"", o->what,
                     (int)(n > 100 ? 100 : n), p);
            return CN_EINVAL;
        }
        int w = snprintf(out + len, cap - len, "%s%s", len ? ":" : "", suites[k].ossl);
        if (w < 0 || (size_t)w >= cap - len) {
            snprintf(err, errcap, "%s: tls_cipher_suites: too many", o->what);
            return CN_EINVAL;
        }
        len += (size_t)w;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* Consul loads every PEM file of ca_path (not OpenSSL's hashed directory). */
static int load_ca_path(const struct tls_opts *o, SSL_CTX *x, char *err, size_t errcap)
{
    DIR *d = opendir(o->ca_path);
    if (!d) {
        snprintf(err, errcap, "%s: ca_path \"%s\": %s", o->what, o->ca_path, strerror(errno));
        return CN_EINVAL;
    }
    X509_STORE *store = SSL_CTX_get_cert_store(x);
    int loaded = 0, rc = 0;
    struct dirent *de;
    char path[4096], b[200];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", o->ca_path, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (X509_STORE_load_file(store, path) != 1) {
            snprintf(err, errcap, "%s: ca_path file \"%s\": %s", o->what, path, why(b, sizeof(b)));
            rc = CN_EINVAL;
            break;
        }
        loaded++;
    }
    closedir(d);
    if (!rc && !loaded) {
        snprintf(err, errcap, "%s: ca_path \"%s\": no certificates", o->what, o->ca_path);
        rc = CN_EINVAL;
    }
    return rc;
}

int tls_ctx_new(const struct tls_opts *o, SSL_CTX **out, char *err, size_t errcap)
{
    *out = NULL;
    char b[200];
    bool ca = set(o->ca_file) || set(o->ca_path);
    bool pair = set(o->cert_file) || set(o->key_file);
    int rc = tls_min_version_check(o->min_version, err, errcap);
    if (rc) {
        char tmp[300];
        snprintf(tmp, sizeof(tmp), "%s: %s", o->what, err);
        snprintf(err, errcap, "%s", tmp);
        return rc;
    }
    if (set(o->cert_file) != set(o->key_file)) {
        snprintf(err, errcap, "%s: cert_file and key_file must be given together", o->what);
        return CN_EINVAL;
    }
    if (o->verify_incoming && !ca) {
        snprintf(err, errcap, "%s: VerifyIncoming set, and no CA certificate provided!", o->what);
        return CN_EINVAL;
    }
    if (o->verify_incoming && !pair) {
        snprintf(err, errcap, "%s: VerifyIncoming set, and no Cert/Key pair provided!", o->what);
        return CN_EINVAL;
    }
    if (o->verify_outgoing && !ca) {
        snprintf(err, errcap, "%s: VerifyOutgoing set, and no CA certificate provided!", o->what);
        return CN_EINVAL;
    }
    bool v13 = set(o->min_version) &&
               (!strcmp(o->min_version, "TLSv1_3") || !strcmp(o->min_version, "tls13"));
    if (v13 && set(o->cipher_suites)) {
        snprintf(err, errcap,
                 "%s: tls_cipher_suites cannot be set with tls_min_version TLSv1_3 (TLS 1.3 "
                 "suites are not configurable)",
                 o->what);
        return CN_EINVAL;
    }
    if (!ca && !pair)
        return 0;
    char ciphers[1024] = "";
    if (set(o->cipher_suites) && (rc = cipher_list(o, ciphers, sizeof(ciphers), err, errcap)))
        return rc;
    if (set(o->ca_file) && (rc = readable(o, "ca_file", o->ca_file, err, errcap)))
        return rc;
    if (set(o->cert_file) && (rc = readable(o, "cert_file", o->cert_file, err, errcap)))
        return rc;
    if (set(o->key_file) && (rc = readable(o, "key_file", o->key_file, err, errcap)))
        return rc;

    ERR_clear_error();
    SSL_CTX *x = SSL_CTX_new(TLS_method());
    if (!x) {
        snprintf(err, errcap, "%s: out of memory", o->what);
        return CN_ENOMEM;
    }
    rc = CN_EINVAL;
    SSL_CTX_set_min_proto_version(x, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (*ciphers && SSL_CTX_set_cipher_list(x, ciphers) != 1) {
        snprintf(err, errcap, "%s: tls_cipher_suites: %s", o->what, why(b, sizeof(b)));
        goto fail;
    }
    if (set(o->ca_file)) {
        if (SSL_CTX_load_verify_locations(x, o->ca_file, NULL) != 1) {
            snprintf(err, errcap, "%s: ca_file \"%s\": %s", o->what, o->ca_file, why(b, sizeof(b)));
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(x, names);
        ERR_clear_error();
    }
    if (set(o->ca_path) && (rc = load_ca_path(o, x, err, errcap)))
        goto fail;
    rc = CN_EINVAL;
    if (pair) {
        if (SSL_CTX_use_certificate_chain_file(x, o->cert_file) != 1) {
            snprintf(err, errcap, "%s: cert_file \"%s\": %s", o->what, o->cert_file,
                     why(b, sizeof(b)));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(x, o->key_file, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                snprintf(err, errcap, "%s: key_file \"%s\" does not match cert_file \"%s\"",
                         o->what, o->key_file, o->cert_file);
                goto fail;
            }
            snprintf(err, errcap, "%s: key_file \"%s\": %s", o->what, o->key_file,
                     why(b, sizeof(b)));
            goto fail;
        }
        if (SSL_CTX_check_private_key(x) != 1) {
            ERR_clear_error();
            snprintf(err, errcap, "%s: key_file \"%s\" does not match cert_file \"%s\"", o->what,
                     o->key_file, o->cert_file);
            goto fail;
        }
    }
    SSL_CTX_set_verify(
        x, o->verify_incoming ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE,
        NULL);
    *out = x;
    return 0;
fail:
    SSL_CTX_free(x);
    ERR_clear_error();
    return rc;
}
