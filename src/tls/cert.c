/* tls/cert.c: the built-in CA of `cairn tls ca create` and `cairn tls cert
 * create`, as Consul's (command/tls, lib/tlsutil/generate.go): ECDSA P-256
 * keys, SHA-256 signatures, a random 128-bit serial; the CA with
 * basicConstraints CA:TRUE, keyCertSign/cRLSign and (with name constraints)
 * permitted DNS subtrees <domain>, localhost and any additional; leaf
 * certificates naming <kind>.<dc>.<domain> (CN and SAN), localhost and,
 * for servers and clients, 127.0.0.1, with serverAuth+clientAuth (servers,
 * clients) or clientAuth (CLI). Keys are written 0600, certificates 0644,
 * never over an existing file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "tls/tls.h"

static const char *ossl_why(void)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "OpenSSL error";
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return CN_EINVAL;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : CN_ENOMEM;
}

static int write_pem(const char *path, bool key, void *obj, char *err, size_t errcap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, key ? 0600 : 0644);
    if (fd < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EIO;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EIO;
    }
    int ok = key ? PEM_write_PrivateKey(f, obj, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, obj);
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        snprintf(err, errcap, "%s: write failed", path);
        unlink(path);
        return CN_EIO;
    }
    return 0;
}

/* A certificate with the common fields: serial, validity, subject, key. */
static X509 *cert_base(EVP_PKEY *key, int days, const char *cn, const char *org)
{
    X509 *c = X509_new();
    unsigned char ser[16];
    if (!c || RAND_bytes(ser, sizeof(ser)) != 1)
        goto fail;
    ser[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(ser, sizeof(ser), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c))) {
        BN_free(bn);
        goto fail;
    }
    BN_free(bn);
    X509_set_version(c, 2);
    /* Go's NotBefore is now; a minute back tolerates small clock skew. */
    X509_gmtime_adj(X509_getm_notBefore(c), -60);
    X509_time_adj_ex(X509_getm_notAfter(c), days, 0, NULL);
    X509_NAME *n = X509_get_subject_name(c);
    if (org)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    if (!X509_set_pubkey(c, key))
        goto fail;
    return c;
fail:
    X509_free(c);
    return NULL;
}

int tls_ca_create(const struct tls_ca_req *r, char *err, size_t errcap)
{
    int rc = CN_EIO;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *c = NULL;
    if (!key) {
        snprintf(err, errcap, "generating the CA key: %s", ossl_why());
        return CN_EIO;
    }
    unsigned char id[4];
    RAND_bytes(id, sizeof(id));
    char cn[96];
    snprintf(cn, sizeof(cn), "Cairn Agent CA %u",
             (unsigned)id[0] << 24 | (unsigned)id[1] << 16 | (unsigned)id[2] << 8 | id[3]);
    c = cert_base(key, r->days, cn, "cairn");
    if (!c)
        goto fail;
    X509_set_issuer_name(c, X509_get_subject_name(c));
    if (add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(c, c, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") ||
        add_ext(c, c, NID_subject_key_identifier, "hash") ||
        add_ext(c, c, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    if (r->name_constraint) {
        char nc[2048];
        size_t len = (size_t)snprintf(nc, sizeof(nc),
                                      "critical,permitted;DNS:%s,permitted;DNS:"
                                      "localhost",
                                      r->domain);
        for (size_t i = 0; i < r->nextra && len < sizeof(nc); i++)
            len += (size_t)snprintf(nc + len, sizeof(nc) - len, ",permitted;DNS:%s",
                                    r->extra_constraints[i]);
        if (len >= sizeof(nc) || add_ext(c, c, NID_name_constraints, nc)) {
            snprintf(err, errcap, "invalid name constraint");
            rc = CN_EINVAL;
            goto out;
        }
    }
    if (!X509_sign(c, key, EVP_sha256()))
        goto fail;
    if ((rc = write_pem(r->cert_path, false, c, err, errcap)))
        goto out;
    if ((rc = write_pem(r->key_path, true, key, err, errcap))) {
        unlink(r->cert_path);
        goto out;
    }
    rc = 0;
    goto out;
fail:
    snprintf(err, errcap, "creating the CA: %s", ossl_why());
    rc = CN_EIO;
out:
    X509_free(c);
    EVP_PKEY_free(key);
    return rc;
}

static int load(const char *path, bool key, void **out, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EIO;
    }
    *out = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
               : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!*out) {
        snprintf(err, errcap, "%s: not a PEM %s: %s", path, key ? "private key" : "certificate",
                 ossl_why());
        return CN_EINVAL;
    }
    return 0;
}

int tls_cert_create(const struct tls_cert_req *r, char *err, size_t errcap)
{
    X509 *ca = NULL, *c = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    int rc = load(r->ca_cert, false, (void **)&ca, err, errcap);
    if (rc)
        return rc;
    if ((rc = load(r->ca_key, true, (void **)&cakey, err, errcap)))
        goto out;
    if (X509_check_private_key(ca, cakey) != 1) {
        ERR_clear_error();
        snprintf(err, errcap, "%s does not match %s", r->ca_key, r->ca_cert);
        rc = CN_EINVAL;
        goto out;
    }
    static const char *const kinds[] = {"server", "client", "cli"};
    const char *kind = kinds[r->kind];
    char name[512];
    snprintf(name, sizeof(name), "%s.%s.%s", kind, r->dc, r->domain);
    char san[8192];
    size_t len = (size_t)snprintf(san, sizeof(san), "DNS:%s", name);
    if (r->kind == TLS_CERT_SERVER && r->node && *r->node)
        len += (size_t)snprintf(san + len, sizeof(san) - len, ",DNS:%s.%s", r->node, name);
    len += (size_t)snprintf(san + len, sizeof(san) - len, ",DNS:localhost");
    for (size_t i = 0; i < r->ndns && len < sizeof(san); i++)
        len += (size_t)snprintf(san + len, sizeof(san) - len, ",DNS:%s", r->dnsnames[i]);
    if (r->kind != TLS_CERT_CLI)
        len += (size_t)snprintf(san + len, sizeof(san) - len, ",IP:127.0.0.1");
    for (size_t i = 0; i < r->nips && len < sizeof(san); i++)
        len += (size_t)snprintf(san + len, sizeof(san) - len, ",IP:%s", r->ips[i]);
    if (len >= sizeof(san)) {
        snprintf(err, errcap, "too many names");
        rc = CN_EINVAL;
        goto out;
    }
    rc = CN_EIO;
    key = EVP_EC_gen("P-256");
    if (!key || !(c = cert_base(key, r->days, name, NULL)))
        goto fail;
    X509_set_issuer_name(c, X509_get_subject_name(ca));
    if (add_ext(c, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(c, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        add_ext(c, ca, NID_ext_key_usage,
                r->kind == TLS_CERT_CLI ? "clientAuth" : "serverAuth,clientAuth") ||
        add_ext(c, ca, NID_subject_key_identifier, "hash") ||
        add_ext(c, ca, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    if (add_ext(c, ca, NID_subject_alt_name, san)) {
        snprintf(err, errcap, "invalid -additional-dnsname or -additional-ipaddress: %s",
                 ossl_why());
        rc = CN_EINVAL;
        goto out;
    }
    if (!X509_sign(c, cakey, EVP_sha256()))
        goto fail;
    if ((rc = write_pem(r->cert_path, false, c, err, errcap)))
        goto out;
    if ((rc = write_pem(r->key_path, true, key, err, errcap))) {
        unlink(r->cert_path);
        goto out;
    }
    rc = 0;
    goto out;
fail:
    snprintf(err, errcap, "creating the certificate: %s", ossl_why());
    rc = CN_EIO;
out:
    X509_free(c);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cakey);
    return rc;
}
