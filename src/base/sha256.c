/* base/sha256.c: SHA-256 through OpenSSL's EVP interface. */
#include "base/sha256.h"

#include <openssl/evp.h>

#include "base/err.h"

int cn_sha256_init(struct cn_sha256 *h)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        h->ctx = NULL;
        return CN_ENOMEM;
    }
    h->ctx = c;
    return 0;
}

void cn_sha256_update(struct cn_sha256 *h, const void *p, size_t n)
{
    if (h->ctx && n)
        EVP_DigestUpdate(h->ctx, p, n);
}

void cn_sha256_final(struct cn_sha256 *h, uint8_t out[CN_SHA256_LEN])
{
    unsigned int len = 0;
    if (h->ctx)
        EVP_DigestFinal_ex(h->ctx, out, &len);
    cn_sha256_free(h);
}

void cn_sha256_free(struct cn_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

int cn_sha256(const void *p, size_t n, uint8_t out[CN_SHA256_LEN])
{
    struct cn_sha256 h;
    int rc = cn_sha256_init(&h);
    if (rc)
        return rc;
    cn_sha256_update(&h, p, n);
    cn_sha256_final(&h, out);
    return 0;
}
