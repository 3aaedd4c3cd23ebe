/* base/slab.h: a size-class slab allocator for many small records of one
 * owner (the KV table's records: state/kv.c).
 *
 * A request of n bytes (1..CN_SLAB_MAX) takes a slot of n rounded up to 8
 * bytes, with no header (glibc adds 8 bytes and rounds to 16). Slots are
 * carved from chunks mapped per size class: the first chunk of a class is
 * 4 KiB and each next one doubles, up to 2 MiB. Once a class has mapped
 * CN_SLAB_HUGE_AFTER bytes, its next chunks are 2 MiB aligned and advised
 * for transparent huge pages (one page fault per 2 MiB while a large table
 * loads); before, a chunk's untouched pages cost nothing, so a small table
 * never holds a mostly empty huge page (at most 2 MiB resident beyond what
 * is used, for a class of at least 32 MiB). A freed slot goes on its class's free list and
 * is the next one that class hands out, so updates and deletes reuse memory.
 * Chunks are returned to the system only by cn_slab_destroy. Bound: a class
 * never maps more than its peak of live slots plus its last chunk (at most
 * max(4 KiB, what it already mapped, 2 MiB)) plus 16 bytes per chunk.
 *
 * Not thread-safe: one owner (the loop thread). A forked child may read the
 * slots (copy-on-write) but must not allocate from the parent's slab.
 *
 * Under AddressSanitizer freed slots and the unused tails of chunks are
 * poisoned, so a use after cn_slab_free is reported as with malloc; and
 * cn_slab_destroy asserts that every slot was freed (the owner frees its
 * records one by one), so a leaked record is caught in every build. */
#ifndef CN_SLAB_H
#define CN_SLAB_H

#include <stddef.h>

#define CN_SLAB_MAX 1024 /* larger requests are the caller's to cn_malloc */
#define CN_SLAB_CLASSES (CN_SLAB_MAX / 8)
#define CN_SLAB_HUGE_AFTER ((size_t)32 << 20)

struct cn_slab_class {
    void *free;      /* freed slots, linked through their first 8 bytes */
    char *cur;       /* next uncarved byte of the newest chunk */
    size_t left;     /* slots left to carve there */
    size_t next_len; /* bytes of the next chunk this class maps */
    size_t mapped;   /* bytes of this class's chunks */
};

struct cn_slab {
    void *chunks;  /* every chunk, linked through its header */
    size_t mapped; /* bytes of all chunks */
    size_t live;   /* slots handed out and not freed */
    size_t live_bytes;
    struct cn_slab_class cls[CN_SLAB_CLASSES];
};

void cn_slab_init(struct cn_slab *s);
/* Unmap every chunk. Every slot must have been freed (CN_ASSERT). */
void cn_slab_destroy(struct cn_slab *s);
/* The slot size a request of n (1..CN_SLAB_MAX) bytes takes. */
static inline size_t cn_slab_slot(size_t n)
{
    return (n + 7) & ~(size_t)7;
}
/* A slot of cn_slab_slot(n) bytes, 8-byte aligned, contents undefined; NULL
 * when out of memory (also when cn_mem_fail_after says so). */
void *cn_slab_alloc(struct cn_slab *s, size_t n);
/* p from cn_slab_alloc(s, m) with cn_slab_slot(m) == cn_slab_slot(n). */
void cn_slab_free(struct cn_slab *s, void *p, size_t n);

#endif
