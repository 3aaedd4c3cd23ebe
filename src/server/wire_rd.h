/* server/wire_rd.h: the strict reader the server's wire codecs share
 * (cl_codec.c, fwd_codec.c): little-endian integers and u32-length byte
 * strings (base/enc.h) from a bounded buffer; the first failure is kept with
 * the byte offset it happened at ("at byte N: ..."), and every read after it
 * returns zero. Pure; changes nothing in the wire formats
 * (docs/wire-format.md). */
#ifndef CN_SERVER_WIRE_RD_H
#define CN_SERVER_WIRE_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct srv_rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
    char *err; /* where the reason goes (may be NULL) */
    size_t errcap;
};

/* Mark r failed with a reason (the first one is kept). */
void srv_rd_fail(struct srv_rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* n bytes, or NULL ("truncated WHAT (N bytes needed, M left)"). */
const uint8_t *srv_rd_take(struct srv_rd *r, size_t n, const char *what);
uint8_t srv_rd_u8(struct srv_rd *r, const char *what);
uint32_t srv_rd_u32(struct srv_rd *r, const char *what);
uint64_t srv_rd_u64(struct srv_rd *r, const char *what);
/* A u32 length then that many bytes (*n = the length); NULL when failed. */
const uint8_t *srv_rd_bytes(struct srv_rd *r, size_t *n, const char *what);
/* The end: trailing bytes fail. 0 or CN_EPROTO (r failed). */
int srv_rd_end(struct srv_rd *r);

#endif
