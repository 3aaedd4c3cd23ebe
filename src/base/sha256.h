/* base/sha256.h: SHA-256 (OpenSSL's libcrypto), one-shot and incremental. */
#ifndef CN_SHA256_H
#define CN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CN_SHA256_LEN 32

struct cn_sha256 {
    void *ctx; /* EVP_MD_CTX */
};

/* 0 or CN_ENOMEM. */
int cn_sha256_init(struct cn_sha256 *h);
void cn_sha256_update(struct cn_sha256 *h, const void *p, size_t n);
/* Writes the digest and frees the context. */
void cn_sha256_final(struct cn_sha256 *h, uint8_t out[CN_SHA256_LEN]);
/* Frees the context without a digest (NULL-safe, idempotent). */
void cn_sha256_free(struct cn_sha256 *h);
/* One shot: 0 or CN_ENOMEM. */
int cn_sha256(const void *p, size_t n, uint8_t out[CN_SHA256_LEN]);

#endif
