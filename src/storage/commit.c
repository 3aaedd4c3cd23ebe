/* storage/commit.c: the commit file, a durable-enough record of how far the
 * log is known committed, so that a restart applies that far at once
 * instead of waiting for a leader to tell it again.
 *
 * DIR/commit holds two 20-byte slots, at offsets 0 and 512 (separate
 * sectors): magic "CNCOMIT1", u64 commit, u32 crc32c of the 16 bytes before.
 * Writes alternate between the slots and are never fsynced: the value is a
 * hint that only ever rises, and a slot torn by a power cut leaves the
 * other one, so recovery takes the highest slot that checks out and
 * ignores damage. A value is safe to record only when the log on disk up
 * to it is the committed log (stor_note_commit): applying up to it never
 * applies an uncommitted entry. The meta file's commit (written at term and
 * vote changes and at a clean close) is the floor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/err.h"
#include "storage/storage_int.h"

static void slot_encode(uint8_t *p, uint64_t commit)
{
    memcpy(p, STOR_COMMIT_MAGIC, 8);
    cn_put_u64(p + 8, commit);
    cn_put_u32(p + 16, stor__crc(0, p, 16));
}

void stor__commit_load(struct stor *st)
{
    st->commit_noted = 0;
    st->commit_slot = 0;
    int fd = openat(st->dirfd, "commit", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            stor__logf(st, "commit: open: %s (ignored)", strerror(errno));
        return; /* written by an older version, or nothing committed yet */
    }
    uint8_t buf[STOR_COMMIT_SLOT * 2];
    memset(buf, 0, sizeof buf);
    ssize_t n;
    do
        n = pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        stor__logf(st, "commit: read: %s (ignored)", strerror(errno));
        return;
    }
    int best = -1;
    for (int k = 0; k < 2; k++) {
        const uint8_t *p = buf + (size_t)k * STOR_COMMIT_SLOT;
        if ((size_t)n < (size_t)k * STOR_COMMIT_SLOT + STOR_COMMIT_LEN) {
            if (n > (ssize_t)((size_t)k * STOR_COMMIT_SLOT))
                stor__logf(st, "commit: slot %d: partial record (ignored)", k);
            continue;
        }
        if (memcmp(p, STOR_COMMIT_MAGIC, 8) != 0 || cn_get_u32(p + 16) != stor__crc(0, p, 16)) {
            stor__logf(st, "commit: slot %d: damaged record (ignored)", k);
            continue;
        }
        uint64_t v = cn_get_u64(p + 8);
        if (best < 0 || v > st->commit_noted) {
            st->commit_noted = v;
            best = k;
        }
    }
    /* The next write goes to the other slot, keeping the best one. */
    st->commit_slot = best == 0 ? 1 : 0;
}

int stor_note_commit(struct stor *st, uint64_t commit)
{
    if (!st)
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    /* Never past the log: what is noted must be on disk up to it. */
    if (commit > st->last_index)
        commit = st->last_index;
    if (commit <= st->commit_noted)
        return 0;
    if (st->cfd < 0) {
        st->cfd = st->io->openat(st->dirfd, "commit", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (st->cfd < 0) {
            stor__logf(st, "commit: open: %s", strerror(errno));
            return CN_EIO;
        }
    }
    uint8_t rec[STOR_COMMIT_LEN];
    slot_encode(rec, commit);
    if (stor__pwrite_all(st, st->cfd, rec, sizeof rec,
                         (uint64_t)st->commit_slot * STOR_COMMIT_SLOT) != 0) {
        /* Not poisoning: the log is intact and the record is only a hint.
         * The slot may be torn; the other one still holds a value. */
        stor__logf(st, "commit: write: %s", strerror(errno));
        close(st->cfd);
        st->cfd = -1;
        return CN_EIO;
    }
    st->commit_slot ^= 1;
    st->commit_noted = commit;
    return 0;
}
