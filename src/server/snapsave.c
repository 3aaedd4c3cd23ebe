/* server/snapsave.c: snapshots asked for by a caller (GET /v1/snapshot):
 * the waiters of srv_snapshot_take, told when a snapshot of the applied
 * index starts and ends (snapshot.c calls in), and the state's place in a
 * snapshot file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "server/server_int.h"

struct srv_snapwait {
    struct srv_snapwait *next;
    srv_snap_taken_cb taken;
    srv_snap_done_cb done;
    void *arg;
    bool started;
    uint64_t index, term;
};

int srv_snapshot_take(struct srv *s, srv_snap_taken_cb taken, srv_snap_done_cb done, void *arg,
                      struct srv_snapwait **h)
{
    *h = NULL;
    if (s->closing)
        return CN_ESHUTDOWN;
    struct srv_snapwait *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return CN_ENOMEM;
    w->taken = taken;
    w->done = done;
    w->arg = arg;
    w->next = s->snapwait;
    s->snapwait = w;
    *h = w;
    s->snap_asap = true;
    srv__maybe_snapshot(s); /* now, unless one is being written: then after it */
    return 0;
}

void srv_snapshot_cancel(struct srv *s, struct srv_snapwait *h)
{
    for (struct srv_snapwait **pp = &s->snapwait; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            cn_free(h);
            return;
        }
    }
}

void srv__snapwait_started(struct srv *s, uint64_t index, uint64_t term)
{
    for (struct srv_snapwait *w = s->snapwait; w; w = w->next) {
        if (w->started)
            continue;
        w->started = true;
        w->index = index;
        w->term = term;
        if (w->taken)
            w->taken(w->arg, index);
    }
}

void srv__snapwait_finished(struct srv *s, int rc)
{
    /* Detach the started ones first: a callback may take another. */
    struct srv_snapwait *done = NULL, **pp = &s->snapwait;
    while (*pp) {
        struct srv_snapwait *w = *pp;
        if (w->started) {
            *pp = w->next;
            w->next = done;
            done = w;
        } else {
            pp = &w->next;
        }
    }
    while (done) {
        struct srv_snapwait *w = done;
        done = w->next;
        w->done(w->arg, rc, w->index, w->term);
        cn_free(w);
    }
    if (s->snapwait)
        s->snap_asap = true; /* waiters that came in while this one was written */
}

void srv__snapwait_close(struct srv *s)
{
    while (s->snapwait) {
        struct srv_snapwait *w = s->snapwait;
        s->snapwait = w->next;
        w->done(w->arg, CN_ESHUTDOWN, 0, 0);
        cn_free(w);
    }
}

int srv_snapshot_open_state(struct srv *s, uint64_t index, uint64_t term, uint64_t *off,
                            uint64_t *len, char *err, size_t errcap)
{
    uint64_t size = 0;
    int fd = stor_snapshot_open(s->st, index, term, STOR_SNAP_READ, &size);
    if (fd < 0) {
        snprintf(err, errcap, "opening the snapshot at index %llu: %s", (unsigned long long)index,
                 cn_strerror(fd));
        return fd;
    }
    /* The payload: SNAP_MAGIC, u32 configuration length, configuration,
     * then the state (snapshot.c). Eight bytes of a file just written: page
     * cache, a read that does not wait on the disk. */
    uint8_t h[8];
    size_t hl = stor_snapshot_header_len();
    ssize_t n;
    do
        n = pread(fd, h, sizeof(h), (off_t)hl);
    while (n < 0 && errno == EINTR);
    uint32_t cl = n == (ssize_t)sizeof(h) ? cn_get_u32(h + 4) : 0;
    if (n != (ssize_t)sizeof(h) || memcmp(h, SNAP_MAGIC, 4) != 0 || hl + 8 + cl > size) {
        close(fd);
        snprintf(err, errcap, "snapshot at index %llu: bad payload header",
                 (unsigned long long)index);
        return CN_ECORRUPT;
    }
    *off = hl + 8 + cl;
    *len = size - *off;
    return fd;
}
