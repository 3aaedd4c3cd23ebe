/* base/mem.h: allocation hooks. All pure modules allocate through these so that
 * tests can inject allocation failures (cn_mem_fail_after) and prove that an
 * out-of-memory error leaves state unchanged. */
#ifndef CN_MEM_H
#define CN_MEM_H

#include <stddef.h>

void *cn_malloc(size_t n);
void *cn_calloc(size_t n, size_t size);
void *cn_realloc(void *p, size_t n);
void cn_free(void *p);
/* Copy of s (NUL-terminated) or of n bytes + NUL; NULL on OOM. */
char *cn_strdup(const char *s);
char *cn_strndup(const char *s, size_t n);

/* Tests only: after `n` more successful allocations every allocation fails.
 * n < 0 disables injection. Not thread-safe; the loop thread only. */
void cn_mem_fail_after(long n);
/* For allocators built on other memory (base/slab.c): counts as one
 * allocation for cn_mem_fail_after; nonzero when that allocation must fail. */
int cn_mem_fail_now(void);

#endif
