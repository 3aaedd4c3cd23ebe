/* base/snaparch.h: cairn's snapshot archive (`cairn snapshot save`,
 * GET/PUT /v1/snapshot): a framed, checksummed file, written as a stream and
 * read strictly. Layout (little endian; docs/format-state.md):
 *
 *   "CAIRNSNP"  u32 version (1)
 *   part "META" u64 len, len bytes of JSON (meta.json), SHA-256 of them
 *   part "STAT" u64 len, len bytes: the encoded state (state.bin), SHA-256
 *   "CNSNPEND"  SHA-256 of every byte before this trailer
 *
 * The codec treats both parts as opaque bytes except for the meta fields
 * it reports (Index, Term, ID). It knows no other module. */
#ifndef CN_SNAPARCH_H
#define CN_SNAPARCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/sha256.h"

#define SNAPARCH_MAGIC "CAIRNSNP"
#define SNAPARCH_TRAILER "CNSNPEND"
#define SNAPARCH_VERSION 1u
#define SNAPARCH_HEAD_LEN 12u /* magic + version */
#define SNAPARCH_PART_HDR 12u /* tag + length */
/* Bytes an archive adds around its two parts. */
#define SNAPARCH_OVERHEAD                                                                          \
    (SNAPARCH_HEAD_LEN + 2 * (SNAPARCH_PART_HDR + CN_SHA256_LEN) + 8 + CN_SHA256_LEN)

/* ---- writing, as a stream ---- */
struct snaparch_w {
    struct cn_sha256 all, part;
    uint64_t state_len, state_seen;
};
/* Appends the header, the META part and the STAT part's header for
 * state_len bytes to out. 0, CN_ENOMEM. On error the writer is freed. */
int snaparch_w_begin(struct snaparch_w *w, struct cn_buf *out, const void *meta, size_t meta_len,
                     uint64_t state_len);
/* The state bytes, in order, as the caller sends them (hashed here). */
void snaparch_w_state(struct snaparch_w *w, const void *p, size_t n);
/* Appends the STAT part's checksum and the trailer; frees the writer.
 * CN_EINVAL if the state bytes seen differ from state_len, CN_ENOMEM. */
int snaparch_w_end(struct snaparch_w *w, struct cn_buf *out);
void snaparch_w_free(struct snaparch_w *w);

/* A whole archive in memory (tests, small states). */
int snaparch_write(struct cn_buf *out, const void *meta, size_t meta_len, const void *state,
                   size_t state_len);

/* ---- reading ---- */
struct snaparch {
    uint32_t version;
    const char *meta; /* JSON, not NUL-terminated */
    size_t meta_len;
    const uint8_t *state;
    size_t state_len;
    uint64_t state_off; /* offset of the state bytes in the file */
    uint64_t index, term;
    char id[96];
};
/* Check everything (magic, version, part tags and bounds, both parts'
 * SHA-256, the whole-file SHA-256, nothing trailing, the meta's Index, Term
 * and ID) before reporting anything. CN_ECORRUPT with a message naming the
 * part and the byte offset ("snapshot archive: part state.bin at offset
 * 130: SHA-256 mismatch"), or CN_ENOMEM. Points into p. */
int snaparch_read(const void *p, size_t len, struct snaparch *a, char *err, size_t errcap);

#endif
