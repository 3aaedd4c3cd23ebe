/* base/buf.h: a growable byte buffer. The struct is owned by the caller;
 * the bytes by the buffer until cn_buf_free().
 * Appends return 0 or CN_ENOMEM; on error the buffer keeps its old contents. */
#ifndef CN_BUF_H
#define CN_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cn_buf {
    char *p;
    size_t len;
    size_t cap;
    /* p is memory the caller owns (an mmap()ed region, say): never grown
     * (appends past cap return CN_ENOMEM) and never freed by cn_buf_free. */
    bool fixed;
};

#define CN_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

void cn_buf_init(struct cn_buf *b);
void cn_buf_free(struct cn_buf *b);
void cn_buf_reset(struct cn_buf *b); /* len = 0, keeps memory */
int cn_buf_reserve(struct cn_buf *b, size_t extra);
int cn_buf_append(struct cn_buf *b, const void *p, size_t n);
int cn_buf_puts(struct cn_buf *b, const char *s);
int cn_buf_putc(struct cn_buf *b, char c);
int cn_buf_printf(struct cn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cn_buf_vprintf(struct cn_buf *b, const char *fmt, va_list ap);
int cn_buf_put_u64(struct cn_buf *b, uint64_t v); /* decimal */
/* Ensure a NUL after the contents (not counted in len). */
int cn_buf_cstr(struct cn_buf *b);

#endif
