/* tests/unit/connect/test_connect_ca.c: the built-in CA (connect/ca.c,
 * connect/ca_doc.c): a root is a self-signed CA with the trust domain's URI;
 * a leaf chains to it, carries the service's SPIFFE ID and its own key; after
 * a rotation a leaf of the new root verifies against the old root through the
 * cross-signed certificate; the CA document round-trips and its update rules
 * hold; the SPIFFE ID parser accepts what Consul writes and refuses the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "base/jsonw.h"
#include "base/err.h"
#include "connect/ca.h"
#include "connect/ca_doc.h"

#define NOW 1800000000LL
#define TD "11111111-2222-3333-4444-555555555555.consul"

static X509 *pem_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

/* Verify leaf against trusted roots (PEM, may hold several) with optional
 * untrusted intermediates, at time NOW. */
static int verify(const char *leaf, const char *trusted, const char *inter)
{
    X509_STORE *st = X509_STORE_new();
    BIO *b = BIO_new_mem_buf(trusted, -1);
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        X509_STORE_add_cert(st, x);
        X509_free(x);
    }
    BIO_free(b);
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (inter && *inter)
        sk_X509_push(chain, pem_cert(inter));
    X509 *lx = pem_cert(leaf);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, st, lx, chain);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)NOW + 10);
    int ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_free(lx);
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(st);
    return ok;
}

static char *uri_san(const char *pem)
{
    static char out[512];
    X509 *x = pem_cert(pem);
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    out[0] = 0;
    for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
        GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
        if (n->type == GEN_URI)
            snprintf(out, sizeof(out), "%s", (const char *)ASN1_STRING_get0_data(n->d.ia5));
    }
    GENERAL_NAMES_free(g);
    X509_free(x);
    return out;
}

static void test_root_and_leaf(void **st)
{
    (void)st;
    struct connect_cert root, leaf;
    char err[256];
    assert_int_equal(connect_ca_new_root(TD, NOW, 87600 * 3600LL, &root, err, sizeof(err)), 0);
    assert_string_equal(uri_san(root.cert_pem), "spiffe://" TD);
    X509 *x = pem_cert(root.cert_pem);
    assert_int_equal(X509_check_ca(x), 1);
    X509_free(x);
    assert_int_equal(root.not_before, NOW - 60);
    assert_int_equal(root.not_after, NOW + 87600 * 3600LL);
    assert_int_equal(strlen(root.id), 59); /* 20 bytes of SHA-1, colon hex */
    assert_true(strlen(root.signing_key_id) > 0);
    assert_int_equal(verify(root.cert_pem, root.cert_pem, NULL), 1);

    const char *uri = "spiffe://" TD "/ns/default/dc/dc1/svc/web";
    assert_int_equal(connect_ca_sign_leaf(root.cert_pem, root.key_pem, uri, "web.svc", NOW, 3600,
                                          &leaf, err, sizeof(err)),
                     0);
    assert_string_equal(uri_san(leaf.cert_pem), uri);
    assert_int_equal(verify(leaf.cert_pem, root.cert_pem, NULL), 1);
    assert_int_equal(leaf.not_after, NOW + 3600);
    x = pem_cert(leaf.cert_pem);
    assert_int_equal(X509_check_ca(x), 0);
    BIO *b = BIO_new_mem_buf(leaf.key_pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    assert_int_equal(X509_check_private_key(x, k), 1);
    EVP_PKEY_free(k);
    BIO_free(b);
    X509_free(x);
    /* a wrong CA key is refused */
    struct connect_cert other, bad;
    assert_int_equal(connect_ca_new_root(TD, NOW, 3600, &other, err, sizeof(err)), 0);
    assert_int_equal(connect_ca_sign_leaf(root.cert_pem, other.key_pem, uri, "x", NOW, 60, &bad,
                                          err, sizeof(err)),
                     CN_EINVAL);
    /* and a leaf of another root does not verify against this one */
    assert_int_equal(connect_ca_sign_leaf(other.cert_pem, other.key_pem, uri, "x", NOW, 60, &bad,
                                          err, sizeof(err)),
                     0);
    assert_int_not_equal(verify(bad.cert_pem, root.cert_pem, NULL), 1);
    connect_cert_clear(&bad);
    connect_cert_clear(&other);
    connect_cert_clear(&leaf);
    connect_cert_clear(&root);
}

static void test_doc_rotation(void **st)
{
    (void)st;
    char err[256];
    struct connect_ca_doc d, back, next, cfgonly;
    assert_int_equal(connect_ca_doc_initial(NOW, &d, err, sizeof(err)), 0);
    assert_int_equal(d.nroots, 1);
    assert_non_null(strstr(d.trust_domain, d.cluster_id));
    assert_int_equal(d.leaf_ttl_s, 72 * 3600);
    struct cn_buf b = CN_BUF_INIT, b2 = CN_BUF_INIT;
    assert_int_equal(connect_ca_doc_encode(&d, &b), 0);
    assert_int_equal(connect_ca_doc_decode(b.p, b.len, &back, err, sizeof(err)), 0);
    assert_int_equal(connect_ca_doc_encode(&back, &b2), 0);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.p, b2.p, b.len);
    /* every truncation and a flipped byte are refused */
    for (size_t n = 0; n < b.len; n += 7) {
        struct connect_ca_doc t;
        assert_int_not_equal(connect_ca_doc_decode(b.p, n, &t, err, sizeof(err)), 0);
    }
    /* a configuration change keeps the root */
    struct connect_ca_config cc;
    void *keep;
    const char *j = "{\"LeafCertTTL\":\"1h\",\"PrivateKeyType\":\"ec\",\"CSRMaxPerSecond\":50}";
    assert_int_equal(connect_ca_config_parse(j, strlen(j), &cc, &keep, err, sizeof(err)), 0);
    assert_false(cc.rotate);
    assert_int_equal(connect_ca_doc_update(&back, 5, &cc, NOW, &cfgonly, err, sizeof(err)), 0);
    json_object_put(keep);
    assert_int_equal(cfgonly.leaf_ttl_s, 3600);
    assert_int_equal(cfgonly.nroots, 1);
    assert_string_equal(cfgonly.roots[0].id, d.roots[0].id);
    assert_int_equal(cfgonly.roots[0].create_index, 5);
    assert_int_equal(cfgonly.config_create_index, 5);
    /* a rotation to a given root: cross-signed, the old one inactive without key */
    struct connect_cert nr;
    assert_int_equal(
        connect_ca_new_root(d.trust_domain, NOW, 3650 * 86400LL, &nr, err, sizeof(err)), 0);
    char body[8192];
    struct cn_buf jb = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &jb, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "PrivateKey", nr.key_pem);
    cn_jsonw_kstr(&w, "RootCert", nr.cert_pem);
    cn_jsonw_obj_close(&w);
    snprintf(body, sizeof(body), "%.*s", (int)jb.len, (const char *)jb.p);
    cn_buf_free(&jb);
    assert_int_equal(connect_ca_config_parse(body, strlen(body), &cc, &keep, err, sizeof(err)), 0);
    assert_true(cc.rotate);
    assert_int_equal(connect_ca_doc_update(&cfgonly, 9, &cc, NOW, &next, err, sizeof(err)), 0);
    json_object_put(keep);
    assert_int_equal(next.nroots, 2);
    const struct connect_ca_root *act = connect_ca_doc_active(&next);
    assert_string_equal(act->id, nr.id);
    assert_false(next.roots[0].active);
    assert_string_equal(next.roots[0].key_pem, "");
    assert_int_equal(next.roots[0].create_index, 5);
    assert_true(strlen(act->intermediates_pem) > 0);
    /* a leaf of the new root verifies against the old root via the cross-signed cert */
    struct connect_cert leaf;
    assert_int_equal(connect_ca_sign_leaf(act->cert_pem, act->key_pem,
                                          "spiffe://x/ns/default/dc/dc1/svc/a", "a", NOW, 600,
                                          &leaf, err, sizeof(err)),
                     0);
    assert_int_equal(verify(leaf.cert_pem, next.roots[0].cert_pem, act->intermediates_pem), 1);
    assert_int_equal(verify(leaf.cert_pem, act->cert_pem, NULL), 1);
    assert_int_not_equal(verify(leaf.cert_pem, next.roots[0].cert_pem, NULL), 1);
    connect_cert_clear(&leaf);
    connect_cert_clear(&nr);
    /* refused configurations */
    const char *bad[] = {"{\"PrivateKeyType\":\"rsa\"}", "{\"PrivateKeyBits\":384}", "{\"Nope\":1}",
                         "{\"LeafCertTTL\":\"soon\"}",   "{\"PrivateKey\":\"x\"}",   "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(
            connect_ca_config_parse(bad[i], strlen(bad[i]), &cc, &keep, err, sizeof(err)),
            CN_EINVAL);
        assert_true(err[0] != 0);
    }
    connect_ca_doc_clear(&next);
    connect_ca_doc_clear(&cfgonly);
    connect_ca_doc_clear(&back);
    connect_ca_doc_clear(&d);
    cn_buf_free(&b);
    cn_buf_free(&b2);
}

static void test_spiffe(void **st)
{
    (void)st;
    struct connect_spiffe id;
    char err[128];
    assert_int_equal(connect_spiffe_parse("spiffe://Ab.consul/ns/default/dc/dc1/svc/web%2Fx", &id,
                                          err, sizeof(err)),
                     0);
    assert_int_equal(id.kind, 1);
    assert_string_equal(id.trust_domain, "ab.consul");
    assert_string_equal(id.ns, "default");
    assert_string_equal(id.dc, "dc1");
    assert_string_equal(id.service, "web/x");
    assert_int_equal(
        connect_spiffe_parse("spiffe://t/agent/client/dc/dc1/id/node-1", &id, err, sizeof(err)), 0);
    assert_int_equal(id.kind, 2);
    assert_string_equal(id.agent_node, "node-1");
    const char *bad[] = {"",
                         "http://t/ns/default/dc/d/svc/s",
                         "spiffe://",
                         "spiffe:///ns/x",
                         "spiffe://t/ns/default/dc/d/svc/",
                         "spiffe://t/ns/default/dc/d/svc/s/x",
                         "spiffe://t/ns/default/dc/d/svc/s%",
                         "spiffe://t/ns/default/dc/d/svc/%00",
                         "spiffe://t/ns/default/dc/d/svc/s?x",
                         "spiffe://t/ns/default/dc/d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(connect_spiffe_parse(bad[i], &id, err, sizeof(err)), CN_EINVAL);
    char out[128];
    assert_int_equal(connect_spiffe_service(out, sizeof(out), "td", "dc1", "web"), 0);
    assert_string_equal(out, "spiffe://td/ns/default/dc/dc1/svc/web");
    assert_int_equal(connect_spiffe_service(out, 10, "td", "dc1", "web"), CN_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_leaf),
        cmocka_unit_test(test_doc_rotation),
        cmocka_unit_test(test_spiffe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
