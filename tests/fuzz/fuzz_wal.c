/* fuzz_wal: recovery of arbitrary on-disk bytes must never crash, hang or
 * leak; it either opens (and every entry it reports reads back) or refuses
 * with an error message.
 *
 * The first input byte picks what the rest becomes, so the fuzzer does not
 * have to rediscover magic numbers and checksums:
 *   0: the whole file wal/00000000000000000001.wal
 *   1: a valid segment header (first index 1), then the rest
 *   2: a valid header and one valid record (index 1), then the rest
 *   3: two segments: the rest is split at byte 1's position; the second
 *      segment's first index is byte 2 (each gets a valid header)
 *   4: the whole file snapshots/snap-<1>-<1>.snap (plus a one-entry log)
 *   5: the whole file meta
 *   6: the whole file commit (plus a one-entry log): it never refuses the
 *      open, and the commit reported never passes the log
 *   7: a valid header and one valid record, the rest, then 4 KiB of zeros
 *      (the space stor_prepare writes ahead of the append position)
 * After every open that succeeds the log must go on: zero-fill ahead, append
 * the next entry, sync, and a reopen finds it there. */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc.h"
#include "base/enc.h"
#include "base/mem.h"
#include "storage/storage.h"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void put_file(const char *dir, const char *name, const void *a, size_t an, const void *b,
                     size_t bn)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if ((an && write(fd, a, an) != (ssize_t)an) || (bn && write(fd, b, bn) != (ssize_t)bn))
        abort();
    close(fd);
}

/* Segment header for `first`, optionally followed by one valid record. */
static size_t seg_prefix(uint8_t *h, uint64_t first, int with_record)
{
    memcpy(h, "CNWAL001", 8);
    cn_put_u32(h + 8, 1);
    cn_put_u64(h + 12, first);
    cn_put_u32(h + 20, cn_crc32c(0, h, 20));
    if (!with_record)
        return 24;
    uint8_t *r = h + 24;
    static const char data[] = "seed";
    cn_put_u32(r, 4);
    cn_put_u64(r + 8, first);
    cn_put_u64(r + 16, 1);
    r[24] = 0;
    memcpy(r + 25, data, 4);
    cn_put_u32(r + 4, cn_crc32c(cn_crc32c(0, r + 8, 17), r + 25, 4));
    return 24 + 25 + 4;
}

struct walk {
    uint64_t next;
};

static int walk_cb(void *arg, const struct stor_entry *e)
{
    struct walk *w = arg;
    if (e->index != w->next || (e->len && !e->data))
        abort(); /* recovery promised entries it cannot deliver */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < e->len; i++)
        sink ^= ((const uint8_t *)e->data)[i];
    (void)sink;
    w->next++;
    return 0;
}

static void discard(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
    if (n < 1)
        return 0;
    /* tmpfs when there is one: recovery fsyncs, and disks are slow. */
    char dir[64];
    strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/cn-fuzz-wal-XXXXXX"
                                              : "/tmp/cn-fuzz-wal-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    char sub[128];
    snprintf(sub, sizeof sub, "%s/wal", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/snapshots", dir);
    mkdir(sub, 0755);

    uint8_t h[64], h2[64];
    const uint8_t *rest = in + 1;
    size_t rn = n - 1;
    const char *seg1 = "wal/00000000000000000001.wal";
    switch (in[0] % 8) {
    case 0:
        put_file(dir, seg1, rest, rn, NULL, 0);
        break;
    case 1:
        put_file(dir, seg1, h, seg_prefix(h, 1, 0), rest, rn);
        break;
    case 2:
        put_file(dir, seg1, h, seg_prefix(h, 1, 1), rest, rn);
        break;
    case 3: {
        if (rn < 2)
            break;
        size_t cut = rest[0] < rn - 2 ? rest[0] : rn - 2;
        uint64_t first2 = (uint64_t)rest[1] + 1;
        char name[64];
        snprintf(name, sizeof name, "wal/%020" PRIu64 ".wal", first2);
        put_file(dir, seg1, h, seg_prefix(h, 1, 1), rest + 2, cut);
        if (first2 != 1)
            put_file(dir, name, h2, seg_prefix(h2, first2, 0), rest + 2 + cut, rn - 2 - cut);
        break;
    }
    case 4:
        put_file(dir, seg1, h, seg_prefix(h, 1, 1), NULL, 0);
        put_file(dir, "snapshots/snap-00000000000000000001-00000000000000000001.snap", rest, rn,
                 NULL, 0);
        break;
    case 5:
        put_file(dir, "meta", rest, rn, NULL, 0);
        break;
    case 6:
        put_file(dir, seg1, h, seg_prefix(h, 1, 1), NULL, 0);
        put_file(dir, "commit", rest, rn, NULL, 0);
        break;
    case 7: {
        uint8_t *buf = cn_calloc(1, rn + 4096);
        if (!buf)
            abort();
        if (rn)
            memcpy(buf, rest, rn);
        put_file(dir, seg1, h, seg_prefix(h, 1, 1), buf, rn + 4096);
        cn_free(buf);
        break;
    }
    }

    struct stor_options opt = {.segment_bytes = 4096, .log = discard};
    struct stor *st = NULL;
    char err[256];
    if (stor_open(dir, &opt, &st, err, sizeof err) == 0) {
        struct stor_info info;
        stor_get_info(st, &info);
        if (info.commit > info.last_index && info.commit > info.snap_index)
            abort(); /* a commit past the log would apply what is not there */
        if (info.first_index <= info.last_index) {
            struct walk w = {.next = info.first_index};
            if (stor_read(st, info.first_index, info.last_index, walk_cb, &w) != 0)
                abort(); /* a fresh recovery must read back cleanly */
        }
        void *data;
        size_t len;
        uint64_t idx, term;
        if (stor_snapshot_load(st, &idx, &term, &data, &len) == 0)
            cn_free(data);
        /* The log goes on from what recovery kept. */
        uint64_t next = (info.last_index > info.snap_index ? info.last_index : info.snap_index) + 1;
        uint64_t t = info.last_term > info.snap_term ? info.last_term : info.snap_term;
        struct stor_entry e = {.index = next, .term = t ? t : 1, .data = "next", .len = 4};
        if (stor_prepare(st) != 0 || stor_append(st, &e, 1) != 0 || stor_sync(st) != 0)
            abort(); /* recovery left a log that cannot be appended to */
        stor_close(st);
        st = NULL;
        if (stor_open(dir, &opt, &st, err, sizeof err) != 0)
            abort(); /* an append to a recovered log broke it */
        stor_get_info(st, &info);
        if (info.last_index != next)
            abort();
        stor_close(st);
    } else if (in[0] % 8 == 6 || st != NULL || !err[0]) {
        /* A damaged commit file is ignored, never a refusal. */
        abort(); /* an error must come with a message and no handle */
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
