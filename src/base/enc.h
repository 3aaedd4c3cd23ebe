/* base/enc.h: little-endian binary encoding used by commands, log records and
 * snapshots. Writers append to a cn_buf (errors: CN_ENOMEM). Readers never read
 * past the end: the first short read sets d->err = CN_ECORRUPT and every later
 * read returns zeros, so a decoder checks d->err once at the end. */
#ifndef CN_ENC_H
#define CN_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

int cn_enc_u8(struct cn_buf *b, uint8_t v);
int cn_enc_u32(struct cn_buf *b, uint32_t v);
int cn_enc_u64(struct cn_buf *b, uint64_t v);
/* u32 length then bytes. s may be NULL when n == 0. */
int cn_enc_bytes(struct cn_buf *b, const void *s, size_t n);
/* A C string (NULL encodes like ""). */
int cn_enc_str(struct cn_buf *b, const char *s);

void cn_put_u32(uint8_t *p, uint32_t v);
void cn_put_u64(uint8_t *p, uint64_t v);
uint32_t cn_get_u32(const uint8_t *p);
uint64_t cn_get_u64(const uint8_t *p);

struct cn_dec {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err;
};

void cn_dec_init(struct cn_dec *d, const void *p, size_t len);
uint8_t cn_dec_u8(struct cn_dec *d);
uint32_t cn_dec_u32(struct cn_dec *d);
uint64_t cn_dec_u64(struct cn_dec *d);
/* Borrowed view into the input; *n set to its length. NULL on error. */
const uint8_t *cn_dec_bytes(struct cn_dec *d, size_t *n);
/* Newly allocated NUL-terminated copy (caller frees); NULL and d->err set on
 * error (CN_ECORRUPT, or CN_ENOMEM). Embedded NULs are rejected as corrupt. */
char *cn_dec_strdup(struct cn_dec *d);
/* True when every byte has been consumed and no error occurred. */
int cn_dec_done(const struct cn_dec *d);

#endif
