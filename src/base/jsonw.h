/* base/jsonw.h: a streaming JSON writer into a cn_buf. Output only: parsing
 * goes through json-c (base/json.h). Keeps Consul's field order and is cheap
 * enough for the hot read path. Commas are inserted automatically.
 * Errors are sticky: check w->err (0 or CN_ENOMEM) once at the end. */
#ifndef CN_JSONW_H
#define CN_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define CN_JSONW_MAX_DEPTH 32

struct cn_jsonw {
    struct cn_buf *b;
    int err;
    int depth;
    int pretty;
    uint8_t need_comma[CN_JSONW_MAX_DEPTH];
    uint8_t after_key;
};

void cn_jsonw_init(struct cn_jsonw *w, struct cn_buf *b, int pretty);
void cn_jsonw_obj_open(struct cn_jsonw *w);
void cn_jsonw_obj_close(struct cn_jsonw *w);
void cn_jsonw_arr_open(struct cn_jsonw *w);
void cn_jsonw_arr_close(struct cn_jsonw *w);
void cn_jsonw_key(struct cn_jsonw *w, const char *k);
void cn_jsonw_str(struct cn_jsonw *w, const char *s); /* NULL writes "" */
void cn_jsonw_strn(struct cn_jsonw *w, const char *s, size_t n);
void cn_jsonw_u64(struct cn_jsonw *w, uint64_t v);
void cn_jsonw_i64(struct cn_jsonw *w, int64_t v);
void cn_jsonw_bool(struct cn_jsonw *w, int v);
void cn_jsonw_null(struct cn_jsonw *w);
void cn_jsonw_base64(struct cn_jsonw *w, const void *p, size_t n); /* a "..." string */
void cn_jsonw_raw(struct cn_jsonw *w, const char *json, size_t n); /* pre-encoded value */

/* Shorthands: key + value. */
void cn_jsonw_kstr(struct cn_jsonw *w, const char *k, const char *s);
void cn_jsonw_ku64(struct cn_jsonw *w, const char *k, uint64_t v);
void cn_jsonw_ki64(struct cn_jsonw *w, const char *k, int64_t v);
void cn_jsonw_kbool(struct cn_jsonw *w, const char *k, int v);

/* Append base64 (standard alphabet, padded) of p to b. */
int cn_base64_encode(struct cn_buf *b, const void *p, size_t n);
/* Decode standard base64 (padding optional, no whitespace). Returns 0, CN_EINVAL
 * or CN_ENOMEM; on error b is unchanged. */
int cn_base64_decode(struct cn_buf *b, const char *s, size_t n);

#endif
