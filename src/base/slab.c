/* base/slab.c: size-class slabs (slab.h). */
#include "base/slab.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "base/assert.h"
#include "base/mem.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_MIN ((size_t)4096)
#define CHUNK_HUGE ((size_t)2 << 20)

struct chunk {
    struct chunk *next;
    size_t len;
};

void cn_slab_init(struct cn_slab *s)
{
    memset(s, 0, sizeof(*s));
}

/* A chunk of len bytes; huge ones (2 MiB) aligned to 2 MiB and advised for
 * huge pages. The mapping is zero-filled and touched only as slots are
 * carved. */
static struct chunk *map_chunk(size_t len, bool huge)
{
    if (!huge || len != CHUNK_HUGE) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    char *p =
        mmap(NULL, len + CHUNK_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + CHUNK_HUGE - 1) & ~(uintptr_t)(CHUNK_HUGE - 1);
    size_t head = a - (uintptr_t)p, tail = CHUNK_HUGE - head;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + len, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)a, len, MADV_HUGEPAGE); /* advice only: 4 KiB pages otherwise */
#endif
    return (struct chunk *)a;
}

static int grow(struct cn_slab *s, struct cn_slab_class *c, size_t slot)
{
    size_t len = c->next_len ? c->next_len : CHUNK_MIN;
    while (len - sizeof(struct chunk) < slot)
        len *= 2;
    struct chunk *k = map_chunk(len, c->mapped >= CN_SLAB_HUGE_AFTER);
    if (!k)
        return -1;
    k->next = s->chunks;
    k->len = len;
    s->chunks = k;
    s->mapped += len;
    c->mapped += len;
    /* The previous chunk's tail (less than one slot) is given up. */
    c->cur = (char *)(k + 1);
    c->left = (len - sizeof(struct chunk)) / slot;
    POISON(c->cur, len - sizeof(struct chunk));
    c->next_len = len * 2 > CHUNK_HUGE ? CHUNK_HUGE : len * 2;
    return 0;
}

void *cn_slab_alloc(struct cn_slab *s, size_t n)
{
    CN_ASSERT(n >= 1 && n <= CN_SLAB_MAX);
    if (cn_mem_fail_now())
        return NULL;
    size_t slot = cn_slab_slot(n);
    struct cn_slab_class *c = &s->cls[slot / 8 - 1];
    void *p = c->free;
    if (p) {
        UNPOISON(p, slot);
        memcpy(&c->free, p, sizeof(void *));
    } else {
        if (!c->left && grow(s, c, slot))
            return NULL;
        p = c->cur;
        UNPOISON(p, slot);
        c->cur += slot;
        c->left--;
    }
    s->live++;
    s->live_bytes += slot;
    return p;
}

void cn_slab_free(struct cn_slab *s, void *p, size_t n)
{
    if (!p)
        return;
    CN_ASSERT(n >= 1 && n <= CN_SLAB_MAX && s->live > 0);
    size_t slot = cn_slab_slot(n);
    struct cn_slab_class *c = &s->cls[slot / 8 - 1];
    memcpy(p, &c->free, sizeof(void *));
    c->free = p;
    POISON(p, slot);
    s->live--;
    s->live_bytes -= slot;
}

void cn_slab_destroy(struct cn_slab *s)
{
    CN_ASSERT(s->live == 0); /* the owner frees every slot first: a leak otherwise */
    for (struct chunk *k = s->chunks, *next; k; k = next) {
        next = k->next;
        size_t len = k->len;
        UNPOISON(k, len);
        munmap(k, len);
    }
    cn_slab_init(s);
}
