/* Unit tests for src/storage: WAL append/read/roll/truncate, snapshots and
 * compaction, hard state, and crash recovery (torn tails vs corruption). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/crc.h"
#include "base/err.h"
#include "base/mem.h"
#include "storage/storage.h"

/* ---- fixture ------------------------------------------------------------ */

struct fx {
    char dir[64];
    int nlog;
    char lastlog[512];
    struct stor_options opt;
    char err[512];
};

static void log_cb(void *arg, const char *msg)
{
    struct fx *f = arg;
    f->nlog++;
    snprintf(f->lastlog, sizeof f->lastlog, "%s", msg);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/cn-stor-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->opt.log = log_cb;
    f->opt.log_arg = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct stor *open_ok(struct fx *f)
{
    struct stor *st = NULL;
    int rc = stor_open(f->dir, &f->opt, &st, f->err, sizeof f->err);
    if (rc)
        fail_msg("stor_open: %s: %s", cn_strerror(rc), f->err);
    return st;
}

static int open_rc(struct fx *f)
{
    struct stor *st = NULL;
    int rc = stor_open(f->dir, &f->opt, &st, f->err, sizeof f->err);
    assert_true((rc == 0) == (st != NULL));
    stor_close(st);
    return rc;
}

static void seg_path(struct fx *f, uint64_t first, char *out, size_t cap)
{
    snprintf(out, cap, "%s/wal/%020" PRIu64 ".wal", f->dir, first);
}

static int count_files(struct fx *f, const char *sub, const char *prefix)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", f->dir, sub);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* Sorted first indexes of the segment files on disk. */
static int list_segs(struct fx *f, uint64_t *out, int cap)
{
    char p[128];
    snprintf(p, sizeof p, "%s/wal", f->dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == 24 && n < cap)
            out[n++] = strtoull(de->d_name, NULL, 10);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static uint8_t *read_file(const char *p, size_t *len)
{
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *p, const void *b, size_t len)
{
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
}

static void flip_byte(const char *p, size_t off)
{
    size_t len;
    uint8_t *b = read_file(p, &len);
    assert_true(off < len);
    b[off] ^= 0x5a;
    write_file(p, b, len);
    free(b);
}

/* ---- entries ------------------------------------------------------------ */

#define REC_HDR 25
#define SEG_HDR 24

static size_t plen(uint64_t index)
{
    return 20 + (size_t)(index % 13) * 3;
}

static void payload(uint64_t index, uint64_t term, uint8_t *out)
{
    for (size_t j = 0; j < plen(index); j++)
        out[j] = (uint8_t)(index * 31 + term * 7 + j);
}

/* Append lo..hi with term `term`, in batches of `batch`. */
static int append_range(struct stor *st, uint64_t lo, uint64_t hi, uint64_t term, size_t batch)
{
    struct stor_entry es[64];
    uint8_t bufs[64][64];
    assert_true(batch <= 64);
    for (uint64_t i = lo; i <= hi;) {
        size_t n = 0;
        for (; n < batch && i <= hi; n++, i++) {
            payload(i, term, bufs[n]);
            es[n] = (struct stor_entry){.index = i,
                                        .term = term,
                                        .type = (uint8_t)(i % 3),
                                        .data = bufs[n],
                                        .len = plen(i)};
        }
        int rc = stor_append(st, es, n);
        if (rc)
            return rc;
    }
    return 0;
}

struct check {
    uint64_t next;
    const uint64_t *terms; /* terms[index] */
    int stop_at;           /* return 7 at this index (0: never) */
};

static int check_cb(void *arg, const struct stor_entry *e)
{
    struct check *c = arg;
    uint8_t want[64];
    assert_int_equal(e->index, c->next);
    assert_int_equal(e->term, c->terms[e->index]);
    assert_int_equal(e->type, e->index % 3);
    assert_int_equal(e->len, plen(e->index));
    payload(e->index, e->term, want);
    assert_memory_equal(e->data, want, e->len);
    c->next++;
    return (int)e->index == c->stop_at ? 7 : 0;
}

static void check_range(struct stor *st, uint64_t lo, uint64_t hi, const uint64_t *terms)
{
    struct check c = {.next = lo, .terms = terms};
    assert_int_equal(stor_read(st, lo, hi, check_cb, &c), 0);
    assert_int_equal(c.next, hi + 1);
}

static uint64_t terms1[4096];

static void fill_terms(uint64_t *t, uint64_t lo, uint64_t hi, uint64_t term)
{
    for (uint64_t i = lo; i <= hi; i++)
        t[i] = term;
}

/* Byte offset of entry `index` inside a segment whose first is `first`. */
static size_t rec_offset(uint64_t first, uint64_t index)
{
    size_t off = SEG_HDR;
    for (uint64_t i = first; i < index; i++)
        off += REC_HDR + plen(i);
    return off;
}

/* ---- tests -------------------------------------------------------------- */

/* ---- the commit file (DIR/commit) ----------------------------------------- */

/* A data dir written before the commit file existed: no file, the meta
 * file's commit is the floor; noting a commit records it (clamped to the
 * log) in the other slot each time; a reopen honours the highest. */
static void test_commit_file(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 50, 2);
    assert_int_equal(append_range(st, 1, 50, 2, 8), 0);
    assert_int_equal(stor_sync(st), 0);
    struct stor_hard_state hs = {.term = 2, .vote = 1, .commit = 10};
    assert_int_equal(stor_set_hard_state(st, &hs), 0);
    stor_close(st);
    char p[160];
    snprintf(p, sizeof p, "%s/commit", f->dir);
    assert_int_equal(access(p, F_OK), -1); /* the old layout: nothing written */

    /* Old layout readable: the meta file's commit. */
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 10);
    assert_int_equal(in.hs.commit, 10);
    /* Recorded; lower values and repeats write nothing new. */
    assert_int_equal(stor_note_commit(st, 30), 0);
    assert_int_equal(stor_note_commit(st, 20), 0);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 30);
    /* Clamped to the log: never a commit past what is on disk. */
    assert_int_equal(stor_note_commit(st, 500), 0);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 50);
    stor_close(st);
    assert_int_equal(f->nlog, 0);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 50);
    assert_int_equal(in.hs.commit, 10); /* the meta file is untouched */
    check_range(st, 1, 50, terms1);
    stor_close(st);

    /* The file outlives a log that shrank (a torn tail cut after a crash):
     * the commit reported never passes the log that survived. */
    size_t len;
    uint8_t *b = read_file(p, &len);
    assert_int_equal(len, 512 + 20);
    free(b);
    char sp[160];
    seg_path(f, 1, sp, sizeof sp);
    assert_int_equal(truncate(sp, (off_t)rec_offset(1, 45) + 3), 0);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 44);
    assert_int_equal(in.commit, 44);
    stor_close(st);
}

/* A torn or damaged record is ignored (and reported): the other slot, or
 * the meta file's commit, is used; the next record goes to the bad slot. */
static void test_commit_file_torn(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 60, 3);
    assert_int_equal(append_range(st, 1, 60, 3, 16), 0);
    assert_int_equal(stor_sync(st), 0);
    struct stor_hard_state hs = {.term = 3, .vote = 1, .commit = 5};
    assert_int_equal(stor_set_hard_state(st, &hs), 0);
    assert_int_equal(stor_note_commit(st, 20), 0); /* slot 0 */
    assert_int_equal(stor_note_commit(st, 40), 0); /* slot 1 */
    stor_close(st);
    char p[160];
    snprintf(p, sizeof p, "%s/commit", f->dir);

    /* Slot 1 (the newer) torn: a partial record at the end of the file. */
    size_t len;
    uint8_t *b = read_file(p, &len);
    assert_int_equal(len, 512 + 20);
    write_file(p, b, 512 + 11);
    int before = f->nlog;
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 20);
    assert_true(f->nlog > before);
    assert_non_null(strstr(f->lastlog, "commit"));
    /* The next record overwrites the torn slot, keeping slot 0. */
    assert_int_equal(stor_note_commit(st, 50), 0);
    stor_close(st);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 50);
    stor_close(st);

    /* A flipped bit in the newer slot: the older one holds. */
    flip_byte(p, 512 + 9);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 20);
    stor_close(st);

    /* Both slots damaged: back to the meta file's commit. */
    flip_byte(p, 3);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 5);
    check_range(st, 1, 60, terms1);
    stor_close(st);

    /* Garbage of any length never refuses the open. */
    write_file(p, "x", 1);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.commit, 5);
    stor_close(st);
    free(b);
}

static void test_append_reopen(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_true(in.first_index > in.last_index);
    assert_int_equal(in.last_index, 0);
    assert_int_equal(stor_read(st, 1, 1, check_cb, NULL), CN_ENOTFOUND);

    fill_terms(terms1, 1, 100, 3);
    assert_int_equal(append_range(st, 1, 100, 3, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    check_range(st, 1, 100, terms1);
    check_range(st, 37, 37, terms1);
    stor_close(st);

    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.first_index, 1);
    assert_int_equal(in.last_index, 100);
    assert_int_equal(in.last_term, 3);
    check_range(st, 1, 100, terms1);
    assert_int_equal(stor_read(st, 50, 101, check_cb, NULL), CN_ENOTFOUND);
    assert_int_equal(stor_read(st, 0, 3, check_cb, NULL), CN_ENOTFOUND);
    assert_int_equal(stor_read(st, 5, 4, check_cb, NULL), 0); /* empty range */
    /* The callback's nonzero return stops the walk and is returned. */
    struct check c = {.next = 10, .terms = terms1, .stop_at = 12};
    assert_int_equal(stor_read(st, 10, 20, check_cb, &c), 7);
    assert_int_equal(c.next, 13);
    /* Continuing after reopen. */
    fill_terms(terms1, 101, 120, 4);
    assert_int_equal(append_range(st, 101, 120, 4, 7), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    st = open_ok(f);
    check_range(st, 1, 120, terms1);
    stor_close(st);
    assert_int_equal(f->nlog, 0);
}

static void test_invalid_append(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    uint8_t b[4] = {1, 2, 3, 4};
    struct stor_entry e = {.index = 2, .term = 1, .data = b, .len = 4};
    assert_int_equal(stor_append(st, &e, 1), CN_EINVAL); /* gap after empty log */
    e.index = 0;
    assert_int_equal(stor_append(st, &e, 1), CN_EINVAL);
    e.index = 1;
    assert_int_equal(stor_append(st, &e, 1), 0);
    e.index = 3;
    assert_int_equal(stor_append(st, &e, 1), CN_EINVAL); /* gap */
    struct stor_entry two[2] = {{.index = 2, .term = 1, .data = b, .len = 4},
                                {.index = 4, .term = 1, .data = b, .len = 4}};
    assert_int_equal(stor_append(st, two, 2), CN_EINVAL); /* not contiguous */
    e.index = 2;
    e.data = NULL;
    assert_int_equal(stor_append(st, &e, 1), CN_EINVAL);
    e.data = b;
    e.len = (64u << 20) + 1;
    assert_int_equal(stor_append(st, &e, 1), CN_ETOOBIG);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 1);
    stor_close(st);
}

static void test_segment_rolling(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 300, 2);
    assert_int_equal(append_range(st, 1, 150, 2, 1), 0);
    assert_int_equal(append_range(st, 151, 300, 2, 64), 0); /* batches spanning rolls */
    assert_int_equal(stor_sync(st), 0);
    check_range(st, 1, 300, terms1);
    stor_close(st);

    uint64_t segs[512];
    int n = list_segs(f, segs, 512);
    assert_true(n > 20);
    assert_int_equal(segs[0], 1);
    /* Every segment but the last stays within segment_bytes (records here
     * are far smaller than it). */
    for (int i = 0; i < n; i++) {
        char p[128];
        struct stat sb;
        seg_path(f, segs[i], p, sizeof p);
        assert_int_equal(stat(p, &sb), 0);
        assert_true(sb.st_size <= 512);
    }
    st = open_ok(f);
    check_range(st, 1, 300, terms1);
    check_range(st, segs[3] - 1, segs[5] + 1, terms1); /* across boundaries */
    /* stor_bytes: the payload bytes of a range, across segments too. */
    size_t want = 0;
    for (uint64_t i = segs[3] - 1; i <= segs[5] + 1; i++)
        want += plen(i);
    assert_int_equal(stor_bytes(st, segs[3] - 1, segs[5] + 1), want);
    assert_int_equal(stor_bytes(st, 7, 7), plen(7));
    assert_int_equal(stor_bytes(st, 0, 5), 0);   /* not all on disk */
    assert_int_equal(stor_bytes(st, 5, 301), 0); /* past the end */
    assert_int_equal(stor_bytes(st, 6, 5), 0);   /* empty */
    stor_close(st);
    assert_int_equal(f->nlog, 0);
}

static void test_truncate_suffix(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 60, 1);
    assert_int_equal(append_range(st, 1, 60, 1, 8), 0);
    assert_int_equal(stor_truncate_suffix(st, 30), 0);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 30);
    assert_int_equal(in.last_term, 1);
    assert_int_equal(stor_read(st, 31, 31, check_cb, NULL), CN_ENOTFOUND);
    assert_int_equal(stor_truncate_suffix(st, 30), 0); /* no-op */
    /* Durable on return: a reopen without any sync sees the cut. */
    stor_close(st);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 30);
    assert_int_equal(in.last_term, 1);
    fill_terms(terms1, 31, 45, 2);
    assert_int_equal(append_range(st, 31, 45, 2, 4), 0);
    /* A conflicting append overwrites the suffix from its first index. */
    fill_terms(terms1, 40, 50, 3);
    assert_int_equal(append_range(st, 40, 50, 3, 64), 0);
    assert_int_equal(stor_sync(st), 0);
    check_range(st, 1, 50, terms1);
    stor_close(st);

    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 50);
    assert_int_equal(in.last_term, 3);
    check_range(st, 1, 50, terms1);
    /* Truncating at a segment boundary removes whole files. */
    uint64_t segs[64];
    int n = list_segs(f, segs, 64);
    assert_true(n >= 3);
    assert_int_equal(stor_truncate_suffix(st, segs[1] - 1), 0);
    assert_int_equal(list_segs(f, segs, 64), 1);
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, segs[1] - 1);
    fill_terms(terms1, segs[1], segs[1] + 20, 5);
    assert_int_equal(append_range(st, segs[1], segs[1] + 20, 5, 3), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    st = open_ok(f);
    check_range(st, 1, segs[1] + 20, terms1);
    /* Truncating everything leaves an empty log that restarts at 1. */
    assert_int_equal(stor_truncate_suffix(st, 0), 0);
    assert_int_equal(list_segs(f, segs, 64), 0);
    stor_get_info(st, &in);
    assert_true(in.first_index > in.last_index);
    fill_terms(terms1, 1, 5, 9);
    assert_int_equal(append_range(st, 1, 5, 9, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    st = open_ok(f);
    check_range(st, 1, 5, terms1);
    stor_close(st);
    assert_int_equal(f->nlog, 0);
}

static void test_snapshot_compaction(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    uint64_t idx, term;
    void *data;
    size_t len;
    assert_int_equal(stor_snapshot_load(st, &idx, &term, &data, &len), CN_ENOTFOUND);
    fill_terms(terms1, 1, 200, 2);
    assert_int_equal(append_range(st, 1, 200, 2, 16), 0);
    assert_int_equal(stor_sync(st), 0);
    uint64_t before[128];
    int nbefore = list_segs(f, before, 128);

    const char snap1[] = "state at 150";
    assert_int_equal(stor_snapshot_save(st, 150, 2, snap1, sizeof snap1, 2), 0);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 150);
    assert_int_equal(in.snap_term, 2);
    assert_int_equal(in.last_index, 200);
    assert_true(in.first_index > 1 && in.first_index <= 151);
    uint64_t after[128];
    int nafter = list_segs(f, after, 128);
    assert_true(nafter < nbefore);
    assert_int_equal(after[0], in.first_index);
    check_range(st, in.first_index, 200, terms1);
    assert_int_equal(stor_read(st, 1, 5, check_cb, NULL), CN_ENOTFOUND);
    uint64_t first = in.first_index;
    stor_close(st);

    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.first_index, first);
    assert_int_equal(in.last_index, 200);
    assert_int_equal(in.snap_index, 150);
    assert_int_equal(stor_snapshot_load(st, &idx, &term, &data, &len), 0);
    assert_int_equal(idx, 150);
    assert_int_equal(term, 2);
    assert_int_equal(len, sizeof snap1);
    assert_memory_equal(data, snap1, len);
    cn_free(data);
    check_range(st, first, 200, terms1);

    /* Retention keeps the newest two snapshots. */
    assert_int_equal(stor_snapshot_save(st, 170, 2, "b", 1, 2), 0);
    assert_int_equal(stor_snapshot_save(st, 180, 2, "c", 1, 2), 0);
    assert_int_equal(count_files(f, "snapshots", "snap-"), 2);
    assert_int_equal(stor_snapshot_save(st, 100, 2, "old", 3, 2), CN_EINVAL);

    /* A snapshot past the end of the log (InstallSnapshot) empties it. */
    assert_int_equal(stor_snapshot_save(st, 250, 4, NULL, 0, 1), 0);
    assert_int_equal(count_files(f, "snapshots", "snap-"), 1);
    assert_int_equal(list_segs(f, after, 128), 0);
    stor_get_info(st, &in);
    assert_int_equal(in.first_index, 251);
    assert_int_equal(in.last_index, 250);
    assert_int_equal(in.last_term, 4);
    uint8_t b[2] = {0};
    struct stor_entry e = {.index = 253, .term = 4, .data = b, .len = 2};
    assert_int_equal(stor_append(st, &e, 1), CN_EINVAL);
    fill_terms(terms1, 251, 260, 4);
    assert_int_equal(append_range(st, 251, 260, 4, 4), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);

    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.first_index, 251);
    assert_int_equal(in.last_index, 260);
    assert_int_equal(in.snap_index, 250);
    assert_int_equal(stor_snapshot_load(st, &idx, &term, &data, &len), 0);
    assert_int_equal(len, 0);
    cn_free(data);
    check_range(st, 251, 260, terms1);
    stor_close(st);
    assert_int_equal(f->nlog, 0);
}

/* A crash after the snapshot's rename but before compaction: recovery
 * finishes the compaction; an empty log ends at the snapshot. */
static void test_snapshot_only_reopen(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    assert_int_equal(stor_snapshot_save(st, 20, 2, "x", 1, 1), 0);
    stor_close(st);
    /* Leftover tmp file from a save that died is removed on open. */
    char p[160];
    snprintf(p, sizeof p, "%s/snapshots/tmp-junk.snap", f->dir);
    write_file(p, "junk", 4);
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.first_index, 21);
    assert_int_equal(in.last_index, 20);
    assert_int_equal(in.last_term, 2);
    stor_close(st);
    assert_int_equal(count_files(f, "snapshots", "tmp-"), 0);
}

static void test_hard_state(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.hs.term, 0);
    assert_int_equal(in.hs.vote, 0);
    struct stor_hard_state hs = {.term = 7, .vote = 3, .commit = 42};
    assert_int_equal(stor_set_hard_state(st, &hs), 0);
    hs.commit = 43;
    assert_int_equal(stor_set_hard_state(st, &hs), 0);
    stor_close(st);
    char p[160];
    snprintf(p, sizeof p, "%s/meta.tmp", f->dir);
    write_file(p, "partial", 7);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.hs.term, 7);
    assert_int_equal(in.hs.vote, 3);
    assert_int_equal(in.hs.commit, 43);
    stor_close(st);
    assert_int_equal(access(p, F_OK), -1);

    snprintf(p, sizeof p, "%s/meta", f->dir);
    flip_byte(p, 14);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "meta"));
}

static void test_lock(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    assert_int_equal(open_rc(f), CN_EAGAIN);
    assert_non_null(strstr(f->err, "LOCK"));
    stor_close(st);
    assert_int_equal(open_rc(f), 0);
}

/* Cut the last record at every byte inside it: reopening must yield exactly
 * the earlier records, report the truncation once, and leave the file at the
 * end of the last good record. */
static void test_torn_every_offset(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 3), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    size_t len;
    uint8_t *orig = read_file(p, &len);
    size_t last = rec_offset(1, 10);
    assert_int_equal(len, last + REC_HDR + plen(10));
    for (size_t cut = last + 1; cut < len; cut++) {
        write_file(p, orig, cut);
        f->nlog = 0;
        st = open_ok(f);
        struct stor_info in;
        stor_get_info(st, &in);
        assert_int_equal(in.last_index, 9);
        check_range(st, 1, 9, terms1);
        assert_int_equal(f->nlog, 1);
        assert_non_null(strstr(f->lastlog, "wal/00000000000000000001.wal"));
        assert_non_null(strstr(f->lastlog, "torn"));
        struct stat sb;
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal((size_t)sb.st_size, last);
        /* And the log continues cleanly from there. */
        assert_int_equal(append_range(st, 10, 10, 1, 1), 0);
        assert_int_equal(stor_sync(st), 0);
        stor_close(st);
        size_t l2;
        uint8_t *now = read_file(p, &l2);
        assert_int_equal(l2, len);
        assert_memory_equal(now, orig, len);
        free(now);
    }
    /* The whole last record replaced by garbage that claims to reach EOF. */
    memcpy(orig + last, "\xff\xff\xff\x00", 4);
    write_file(p, orig, len);
    f->nlog = 0;
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 9);
    assert_int_equal(f->nlog, 1);
    stor_close(st);
    free(orig);
}

static void test_torn_checksum_last_record(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    flip_byte(p, rec_offset(1, 10) + REC_HDR + 3); /* payload of the last one */
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 9);
    assert_int_equal(f->nlog, 1);
    assert_non_null(strstr(f->lastlog, "checksum mismatch"));
    stor_close(st);
}

static off_t file_size(const char *p)
{
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return sb.st_size;
}

/* Zeros after the last record are the clean end of the log (space that
 * stor_prepare wrote ahead): every record recovers, nothing is logged or
 * truncated, and the next appends overwrite the zeros. */
static void test_zero_tail(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 8, 1);
    assert_int_equal(append_range(st, 1, 5, 1, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    size_t len;
    uint8_t *b = read_file(p, &len);
    b = realloc(b, len + 4096);
    memset(b + len, 0, 4096);
    write_file(p, b, len + 4096);
    free(b);
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 5);
    check_range(st, 1, 5, terms1);
    assert_int_equal(f->nlog, 0);
    assert_int_equal((size_t)file_size(p), len + 4096);
    assert_int_equal(append_range(st, 6, 8, 1, 2), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    assert_int_equal((size_t)file_size(p), len + 4096);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 8);
    check_range(st, 1, 8, terms1);
    assert_int_equal(f->nlog, 0);
    stor_close(st);
}

/* stor_prepare zero-fills 1 MiB ahead of the append position, only when
 * less than 256 KiB is ready, and appends then overwrite the zeros. */
static void test_prepare_zero_fills_ahead(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    assert_int_equal(stor_prepare(st), 0); /* no segment yet: nothing */
    fill_terms(terms1, 1, 40, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    size_t end10 = rec_offset(1, 11);
    assert_int_equal((size_t)file_size(p), end10);
    assert_int_equal(stor_prepare(st), 0);
    assert_int_equal((size_t)file_size(p), end10 + (1u << 20));
    size_t len;
    uint8_t *b = read_file(p, &len);
    for (size_t i = end10; i < len; i++)
        if (b[i])
            fail_msg("byte %zu of the prepared space is not zero", i);
    free(b);
    assert_int_equal(append_range(st, 11, 40, 1, 7), 0);
    assert_int_equal(stor_sync(st), 0);
    assert_int_equal(stor_prepare(st), 0); /* plenty still ready */
    assert_int_equal((size_t)file_size(p), end10 + (1u << 20));
    check_range(st, 1, 40, terms1);
    stor_close(st);
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 40);
    check_range(st, 1, 40, terms1);
    assert_int_equal(f->nlog, 0);
    /* A Raft conflict truncates the zeros with the suffix; appends grow the
     * file again until the next prepare. */
    assert_int_equal(stor_truncate_suffix(st, 30), 0);
    assert_int_equal((size_t)file_size(p), rec_offset(1, 31));
    fill_terms(terms1, 31, 35, 2);
    assert_int_equal(append_range(st, 31, 35, 2, 5), 0);
    assert_int_equal(stor_prepare(st), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 35);
    assert_int_equal(in.last_term, 2);
    check_range(st, 1, 35, terms1);
    stor_close(st);
}

/* With small segments the zeros stop at segment_bytes, and a roll cuts them
 * off the old segment before it is synced: only the live segment may end
 * in zeros. */
static void test_prepare_and_roll(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 1024;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 200, 1);
    for (uint64_t i = 1; i <= 200; i += 4) {
        assert_int_equal(append_range(st, i, i + 3, 1, 4), 0);
        assert_int_equal(stor_sync(st), 0);
        assert_int_equal(stor_prepare(st), 0);
    }
    stor_close(st);
    uint64_t segs[128];
    int n = list_segs(f, segs, 128);
    assert_true(n >= 5);
    char p[128];
    for (int k = 0; k < n; k++) {
        seg_path(f, segs[k], p, sizeof p);
        if (k < n - 1)
            assert_int_equal((size_t)file_size(p), rec_offset(segs[k], segs[k + 1]));
        else
            assert_int_equal((size_t)file_size(p), 1024);
    }
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 200);
    check_range(st, 1, 200, terms1);
    assert_int_equal(f->nlog, 0);
    stor_close(st);
    /* Zeros after the records of an older segment are damage: a roll never
     * leaves them (truncated and synced before the next segment exists). */
    seg_path(f, segs[1], p, sizeof p);
    assert_int_equal(truncate(p, 1024), 0);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "wal/%020" PRIu64 ".wal: offset ", segs[1]);
    assert_non_null(strstr(f->err, want));
}

/* A last segment created and zero-filled but never written (a crash right
 * after its header and zeros reached the disk) holds nothing: removed. */
static void test_prepared_segment_never_written(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 6, 1);
    assert_int_equal(append_range(st, 1, 5, 1, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p1[128], p6[128];
    seg_path(f, 1, p1, sizeof p1);
    seg_path(f, 6, p6, sizeof p6);
    size_t len;
    uint8_t *b = read_file(p1, &len);
    /* Segment 1's header, re-encoded for first index 6. */
    uint8_t h[SEG_HDR + 8192];
    memset(h, 0, sizeof h);
    memcpy(h, b, 12);
    free(b);
    h[12] = 6;
    uint32_t crc = cn_crc32c(0, h, 20);
    for (int i = 0; i < 4; i++)
        h[20 + i] = (uint8_t)(crc >> (8 * i));
    write_file(p6, h, sizeof h);
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 5);
    assert_int_equal(f->nlog, 1);
    assert_non_null(strstr(f->lastlog, "removed empty segment"));
    assert_int_equal(access(p6, F_OK), -1);
    assert_int_equal(append_range(st, 6, 6, 1, 1), 0);
    assert_int_equal(stor_sync(st), 0);
    check_range(st, 1, 6, terms1);
    stor_close(st);
}

/* A crash while zero-filling ahead (some zeros written, the size maybe not
 * synced) or after it, before any append: every synced record is kept. */
static void test_crash_while_preparing(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 12, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    assert_int_equal(stor_prepare(st), 0);
    stor_close(st);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    size_t end10 = rec_offset(1, 11);
    static const size_t cut[] = {1u << 20, 70000, 513, 1};
    for (size_t c = 0; c < sizeof cut / sizeof cut[0]; c++) {
        assert_int_equal(truncate(p, (off_t)(end10 + cut[c])), 0);
        f->nlog = 0;
        st = open_ok(f);
        struct stor_info in;
        stor_get_info(st, &in);
        assert_int_equal(in.last_index, 10);
        check_range(st, 1, 10, terms1);
        assert_int_equal(f->nlog, 0);
        stor_close(st);
    }
    /* And the log goes on from there. */
    st = open_ok(f);
    assert_int_equal(stor_prepare(st), 0);
    assert_int_equal(append_range(st, 11, 12, 1, 2), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    st = open_ok(f);
    check_range(st, 1, 12, terms1);
    stor_close(st);
}

/* A bad last record followed by prepared zeros is a torn write: truncated
 * there. A bad record with valid ones after it and no unwritten sector in
 * it is still damage. */
static void test_torn_record_then_zeros(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(stor_prepare(st), 0);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_prepare(st), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    off_t fsz = file_size(p);
    assert_true((size_t)fsz > rec_offset(1, 11));
    flip_byte(p, rec_offset(1, 5) + REC_HDR + 2);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "followed by more data"));
    flip_byte(p, rec_offset(1, 5) + REC_HDR + 2);
    flip_byte(p, rec_offset(1, 10) + REC_HDR + 2);
    f->nlog = 0;
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 9);
    check_range(st, 1, 9, terms1);
    assert_int_equal(f->nlog, 1);
    assert_non_null(strstr(f->lastlog, "torn tail (checksum mismatch)"));
    stor_close(st);
    assert_int_equal((size_t)file_size(p), rec_offset(1, 10));
}

/* A batch written into zeros whose pages reached the disk out of order
 * (power cut before its sync): a sector of it is still zero, later records
 * of it are whole. Not acknowledged, so cut at the torn record. Unless the
 * commit file says that record was committed (hence synced): damage. */
static void test_torn_batch_out_of_order(void **state)
{
    struct fx *f = *state;
    for (int with_commit = 0; with_commit < 2; with_commit++) {
        struct stor *st = open_ok(f);
        fill_terms(terms1, 1, 40, 1);
        assert_int_equal(stor_prepare(st), 0);
        assert_int_equal(append_range(st, 1, 40, 1, 40), 0);
        assert_int_equal(stor_sync(st), 0);
        if (with_commit)
            assert_int_equal(stor_note_commit(st, 40), 0);
        stor_close(st);
        char p[128];
        seg_path(f, 1, p, sizeof p);
        assert_true(rec_offset(1, 41) > 1536);
        /* The record that runs into offset 512, and the sector after. */
        uint64_t torn = 1;
        while (rec_offset(1, torn + 1) <= 512)
            torn++;
        size_t len;
        uint8_t *b = read_file(p, &len);
        memset(b + 512, 0, 512);
        write_file(p, b, len);
        free(b);
        f->nlog = 0;
        if (with_commit) {
            assert_int_equal(open_rc(f), CN_ECORRUPT);
            assert_non_null(strstr(f->err, "followed by"));
            break;
        }
        st = open_ok(f);
        struct stor_info in;
        stor_get_info(st, &in);
        assert_int_equal(in.last_index, torn - 1);
        check_range(st, 1, torn - 1, terms1);
        assert_int_equal(f->nlog, 1);
        assert_non_null(strstr(f->lastlog, "unwritten (all-zero) sector"));
        stor_close(st);
        /* Start over for the committed case. */
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        assert_int_equal(mkdir(f->dir, 0700), 0);
    }
}

static void test_flip_middle_of_last_segment(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128], want[128];
    seg_path(f, 1, p, sizeof p);
    size_t off = rec_offset(1, 5);
    flip_byte(p, off + REC_HDR + 1);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    snprintf(want, sizeof want, "wal/00000000000000000001.wal: offset %zu: ", off);
    assert_non_null(strstr(f->err, want));
    assert_non_null(strstr(f->err, "checksum mismatch"));
    assert_int_equal(f->nlog, 0);
    /* Nothing was truncated. */
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal((size_t)sb.st_size, rec_offset(1, 11));
}

/* A bad last record followed by non-zero bytes that are not a record is not
 * a torn write (those end in the record or in zeros): refuse. */
static void test_bad_record_then_garbage(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128], want[128];
    seg_path(f, 1, p, sizeof p);
    size_t len;
    uint8_t *b = read_file(p, &len);
    size_t off = rec_offset(1, 10);
    b[off + REC_HDR] ^= 1;
    b = realloc(b, len + 30);
    memset(b + len, 0xab, 30);
    write_file(p, b, len + 30);
    free(b);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    snprintf(want, sizeof want, "wal/00000000000000000001.wal: offset %zu: ", off);
    assert_non_null(strstr(f->err, want));
    assert_non_null(strstr(f->err, "followed by more data"));
    /* The same record followed only by zeros is a torn tail. */
    b = read_file(p, &len);
    memset(b + len - 30, 0, 30);
    write_file(p, b, len);
    free(b);
    f->nlog = 0;
    assert_int_equal(open_rc(f), 0);
    assert_int_equal(f->nlog, 1);
}

/* A flipped length that makes a middle record claim to run past EOF looks
 * like a torn tail, but valid records follow it: corruption. */
static void test_flip_length_middle_record(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    char p[128], want[128];
    seg_path(f, 1, p, sizeof p);
    size_t off = rec_offset(1, 6);
    flip_byte(p, off + 1); /* payload_len byte 1: +0x5a00 */
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    snprintf(want, sizeof want, "wal/00000000000000000001.wal: offset %zu: ", off);
    assert_non_null(strstr(f->err, want));
    assert_non_null(strstr(f->err, "valid data"));
}

static void test_flip_older_segment(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 60, 1);
    assert_int_equal(append_range(st, 1, 60, 1, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    uint64_t segs[64];
    int n = list_segs(f, segs, 64);
    assert_true(n >= 3);
    char p[128], want[128];
    seg_path(f, segs[1], p, sizeof p);
    /* The LAST record of an older segment: a torn tail would be allowed in
     * the last segment only. */
    size_t off = rec_offset(segs[1], segs[2] - 1);
    flip_byte(p, off + REC_HDR);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    snprintf(want, sizeof want, "wal/%020" PRIu64 ".wal: offset %zu: checksum mismatch", segs[1],
             off);
    assert_non_null(strstr(f->err, want));

    /* Truncating an older segment is corruption too. */
    flip_byte(p, off + REC_HDR);
    assert_int_equal(open_rc(f), 0);
    assert_int_equal(truncate(p, (off_t)off + 3), 0);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "partial record header"));
}

static void test_bad_segment_header(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 40, 1);
    assert_int_equal(append_range(st, 1, 40, 1, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    uint64_t segs[64];
    int n = list_segs(f, segs, 64);
    assert_true(n >= 2);
    char p[128], want[128];
    seg_path(f, segs[0], p, sizeof p);
    flip_byte(p, 2);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    snprintf(want, sizeof want, "wal/%020" PRIu64 ".wal: offset 0: bad segment magic", segs[0]);
    assert_non_null(strstr(f->err, want));
    flip_byte(p, 2);
    flip_byte(p, 15); /* first index field: header checksum fails */
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "header checksum"));
    flip_byte(p, 15);
    assert_int_equal(open_rc(f), 0);

    /* A last segment caught while being created (partial or zeroed header)
     * is removed; a wholly bad header on it is not. */
    uint64_t next = 41;
    seg_path(f, next, p, sizeof p);
    write_file(p, "CNWAL0", 6);
    f->nlog = 0;
    assert_int_equal(open_rc(f), 0);
    assert_int_equal(f->nlog, 1);
    assert_int_equal(access(p, F_OK), -1);
    uint8_t zeros[100] = {0};
    write_file(p, zeros, sizeof zeros);
    assert_int_equal(open_rc(f), 0);
    assert_int_equal(access(p, F_OK), -1);
    write_file(p, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 34);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "offset 0: bad segment magic"));
    unlink(p);

    /* A missing middle segment is a gap. */
    seg_path(f, segs[1], p, sizeof p);
    unlink(p);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "does not follow"));
}

static void test_corrupt_snapshot(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 10, 1, 10), 0);
    assert_int_equal(stor_snapshot_save(st, 5, 1, "older", 5, 3), 0);
    assert_int_equal(stor_snapshot_save(st, 8, 1, "newest snapshot", 15, 3), 0);
    stor_close(st);
    char p[160];
    snprintf(p, sizeof p, "%s/snapshots/snap-%020d-%020d.snap", f->dir, 8, 1);
    flip_byte(p, 44 + 4);
    /* No silent fallback to the older one. */
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(
        strstr(f->err, "snapshots/snap-00000000000000000008-00000000000000000001.snap"));
    assert_non_null(strstr(f->err, "payload checksum"));
    flip_byte(p, 44 + 4);
    flip_byte(p, 13); /* index in the header */
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "header checksum"));
    flip_byte(p, 13);
    assert_int_equal(truncate(p, 50), 0);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "payload length"));
}

static void test_gap_at_start(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 40, 1);
    assert_int_equal(append_range(st, 1, 40, 1, 5), 0);
    /* An empty log may not restart past index 1 without a snapshot. */
    assert_int_equal(stor_truncate_suffix(st, 0), 0);
    assert_int_equal(append_range(st, 5, 6, 1, 2), CN_EINVAL);
    assert_int_equal(append_range(st, 1, 40, 1, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
    /* A log whose first segment vanished misses entries: refuse. */
    uint64_t segs[64];
    assert_true(list_segs(f, segs, 64) >= 2);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    unlink(p);
    assert_int_equal(open_rc(f), CN_ECORRUPT);
    assert_non_null(strstr(f->err, "entries are missing"));
}

/* ---- split snapshot: write (any thread) then install (owner) ------------- */

struct snap_writer {
    const struct stor *st;
    uint64_t index, term;
    const uint8_t *data;
    size_t len;
    int rc;
    char err[256];
};

static void *snap_writer_main(void *arg)
{
    struct snap_writer *w = arg;
    w->rc = stor_snapshot_write(w->st, w->index, w->term, w->data, w->len, w->err, sizeof w->err);
    return NULL;
}

static uint8_t *snap_bytes(size_t len)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(i * 7 + i / 4096);
    return b;
}

/* A large snapshot is written on another thread while the owner keeps
 * appending and syncing; the log only shrinks at install. */
static void test_snapshot_write_concurrent_with_appends(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 400, 3);
    assert_int_equal(append_range(st, 1, 100, 3, 8), 0);
    assert_int_equal(stor_sync(st), 0);

    enum { LEN = 4 << 20 };
    struct snap_writer w = {.st = st, .index = 100, .term = 3, .data = snap_bytes(LEN), .len = LEN};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, snap_writer_main, &w), 0);
    for (uint64_t lo = 101; lo <= 400; lo += 20) {
        assert_int_equal(append_range(st, lo, lo + 19, 3, 5), 0);
        assert_int_equal(stor_sync(st), 0);
    }
    check_range(st, 1, 400, terms1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(w.rc, 0);

    /* Written, not installed: bookkeeping and the log are untouched. */
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 0);
    assert_int_equal(in.first_index, 1);
    assert_int_equal(in.last_index, 400);
    assert_int_equal(count_files(f, "snapshots", "snap-"), 1);
    assert_int_equal(count_files(f, "snapshots", "tmp-"), 0);

    assert_int_equal(stor_snapshot_install(st, 100, 3, 2), 0);
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 100);
    assert_int_equal(in.snap_term, 3);
    assert_true(in.first_index > 1 && in.first_index <= 101);
    assert_int_equal(in.last_index, 400);
    check_range(st, in.first_index, 400, terms1);
    uint64_t idx, term;
    void *data;
    size_t len;
    assert_int_equal(stor_snapshot_load(st, &idx, &term, &data, &len), 0);
    assert_int_equal(idx, 100);
    assert_int_equal(len, LEN);
    assert_memory_equal(data, w.data, LEN);
    cn_free(data);
    uint64_t first = in.first_index;
    stor_close(st);

    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 100);
    assert_int_equal(in.first_index, first);
    assert_int_equal(in.last_index, 400);
    check_range(st, first, 400, terms1);
    stor_close(st);
    free((void *)w.data);
    assert_int_equal(f->nlog, 0);
}

/* A crash between stor_snapshot_write and stor_snapshot_install: the next
 * open adopts the new file, finishes the compaction behind it, and the log
 * still holds every entry after it. */
static void test_snapshot_crash_between_write_and_install(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 260, 2);
    assert_int_equal(append_range(st, 1, 200, 2, 16), 0);
    assert_int_equal(stor_sync(st), 0);
    assert_int_equal(stor_snapshot_save(st, 60, 2, "at 60", 5, 2), 0);
    char err[256];
    assert_int_equal(stor_snapshot_write(st, 150, 2, "state at 150", 12, err, sizeof err), 0);
    assert_int_equal(append_range(st, 201, 260, 2, 16), 0);
    assert_int_equal(stor_sync(st), 0);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 60);
    assert_true(in.first_index <= 61);
    stor_close(st); /* "crash": never installed */

    st = open_ok(f);
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 150);
    assert_int_equal(in.snap_term, 2);
    assert_true(in.first_index > 61 && in.first_index <= 151);
    assert_int_equal(in.last_index, 260);
    check_range(st, in.first_index, 260, terms1);
    uint64_t idx, term;
    void *data;
    size_t len;
    assert_int_equal(stor_snapshot_load(st, &idx, &term, &data, &len), 0);
    assert_int_equal(idx, 150);
    assert_int_equal(len, 12);
    assert_memory_equal(data, "state at 150", 12);
    cn_free(data);
    /* Appends continue after recovery. */
    assert_int_equal(append_range(st, 261, 270, 2, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_close(st);
}

/* Snapshots by reference (issue 19): a snapshot file copied byte for byte,
 * in pieces, into the receive temp file of another store is checked whole
 * by stor_snapshot_map (a flipped byte is refused), adopted by rename,
 * installed, and mapped again; an abandoned temp file is discarded, and one
 * left by a crash is removed by the next open. */
static void test_snapshot_stream_files(void **state)
{
    struct fx *f = *state;
    struct stor *src = open_ok(f);
    assert_int_equal(append_range(src, 1, 40, 2, 8), 0);
    assert_int_equal(stor_sync(src), 0);
    size_t n = 100000;
    uint8_t *bytes = snap_bytes(n);
    assert_int_equal(stor_snapshot_save(src, 30, 2, bytes, n, 2), 0);
    uint64_t size = 0;
    int in = stor_snapshot_open(src, 30, 2, STOR_SNAP_READ, &size);
    assert_true(in >= 0);
    assert_int_equal(size, n + 44);
    assert_int_equal(stor_snapshot_open(src, 31, 2, STOR_SNAP_READ, NULL), CN_ENOTFOUND);

    struct fx g = *f;
    strcpy(g.dir, "/tmp/cn-stor-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    struct stor *dst = open_ok(&g);
    int out = stor_snapshot_open(dst, 30, 2, STOR_RECV_CREATE, NULL);
    assert_true(out >= 0);
    uint8_t chunk[777];
    for (uint64_t off = 0; off < size;) {
        size_t k = size - off < sizeof chunk ? (size_t)(size - off) : sizeof chunk;
        assert_int_equal(pread(in, chunk, k, (off_t)off), (ssize_t)k);
        assert_int_equal(pwrite(out, chunk, k, (off_t)off), (ssize_t)k);
        off += k;
    }
    close(in);
    struct stor_snap_map m;
    char err[256];
    assert_int_equal(stor_snapshot_map(dst, 30, 2, true, &m, err, sizeof err), 0);
    assert_int_equal(m.len, n);
    assert_memory_equal(m.data, bytes, n);
    stor_snapshot_unmap(&m);
    /* A flipped payload byte fails the check. */
    uint8_t b;
    assert_int_equal(pread(out, &b, 1, 5000), 1);
    b ^= 1;
    assert_int_equal(pwrite(out, &b, 1, 5000), 1);
    assert_int_equal(stor_snapshot_map(dst, 30, 2, true, &m, err, sizeof err), CN_ECORRUPT);
    assert_non_null(strstr(err, "checksum"));
    b ^= 1;
    assert_int_equal(pwrite(out, &b, 1, 5000), 1);
    close(out);
    /* Adopt and install: the store's snapshot. */
    assert_int_equal(stor_snapshot_adopt_recv(dst, 30, 2), 0);
    assert_int_equal(stor_snapshot_adopt_recv(dst, 30, 2), 0); /* again: already there */
    assert_int_equal(stor_snapshot_install(dst, 30, 2, 2), 0);
    assert_int_equal(stor_snapshot_map(dst, 30, 2, false, &m, err, sizeof err), 0);
    assert_memory_equal(m.data, bytes, n);
    stor_snapshot_unmap(&m);
    /* An abandoned transfer's file goes; one left by a crash goes at open. */
    out = stor_snapshot_open(dst, 50, 3, STOR_RECV_CREATE, NULL);
    assert_true(out >= 0);
    close(out);
    stor_snapshot_discard_recv(dst, 50, 3);
    assert_int_equal(count_files(&g, "snapshots", "tmp-"), 0);
    out = stor_snapshot_open(dst, 60, 3, STOR_RECV_CREATE, NULL);
    assert_true(out >= 0);
    close(out);
    assert_int_equal(count_files(&g, "snapshots", "tmp-"), 1);
    stor_close(dst);
    dst = open_ok(&g);
    assert_int_equal(count_files(&g, "snapshots", "tmp-"), 0);
    struct stor_info info;
    stor_get_info(dst, &info);
    assert_int_equal(info.snap_index, 30);
    stor_close(dst);
    stor_close(src);
    free(bytes);
    nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Install refuses what would lose entries; a failed write does not poison
 * the store. */
static void test_snapshot_install_errors(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 120, 1);
    assert_int_equal(append_range(st, 1, 100, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);

    /* No such file: nothing is compacted. */
    assert_int_equal(stor_snapshot_install(st, 90, 1, 1), CN_ENOTFOUND);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 0);
    assert_int_equal(in.first_index, 1);
    assert_true(f->nlog > 0);

    char err[256];
    assert_int_equal(stor_snapshot_write(st, 50, 1, "a", 1, err, sizeof err), 0);
    assert_int_equal(stor_snapshot_install(st, 50, 1, 1), 0);
    assert_int_equal(stor_snapshot_write(st, 40, 1, "b", 1, err, sizeof err), 0);
    assert_int_equal(stor_snapshot_install(st, 40, 1, 1), CN_EINVAL);
    assert_int_equal(stor_snapshot_write(st, 0, 1, "b", 1, err, sizeof err), CN_EINVAL);

    /* The snapshots directory is gone (say, a failing disk): the write fails
     * with a message, the log goes on. */
    char a[160], b[160];
    snprintf(a, sizeof a, "%s/snapshots", f->dir);
    snprintf(b, sizeof b, "%s/snapshots.away", f->dir);
    assert_int_equal(rename(a, b), 0);
    err[0] = '\0';
    assert_int_equal(stor_snapshot_write(st, 100, 1, "c", 1, err, sizeof err), CN_EIO);
    assert_non_null(strstr(err, "snapshots"));
    assert_int_equal(rename(b, a), 0);
    assert_int_equal(append_range(st, 101, 120, 1, 10), 0);
    assert_int_equal(stor_sync(st), 0);
    stor_get_info(st, &in);
    assert_int_equal(in.snap_index, 50);
    check_range(st, in.first_index, 120, terms1);
    stor_close(st);
}

/* Out-of-memory anywhere in open, append, read or snapshot leaves no leak
 * and, for append, no change. */
static void test_oom(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512;
    struct stor *st = open_ok(f);
    fill_terms(terms1, 1, 100, 1);
    assert_int_equal(append_range(st, 1, 50, 1, 8), 0);
    assert_int_equal(stor_snapshot_save(st, 20, 1, "s", 1, 1), 0);
    stor_close(st);
    int saw_ok = 0;
    for (long k = 0; k < 40 && !saw_ok; k++) {
        cn_mem_fail_after(k);
        struct stor *s2 = NULL;
        int rc = stor_open(f->dir, &f->opt, &s2, f->err, sizeof f->err);
        cn_mem_fail_after(-1);
        if (rc == 0) {
            saw_ok = 1;
            stor_close(s2);
        } else {
            assert_int_equal(rc, CN_ENOMEM);
            assert_null(s2);
        }
    }
    assert_true(saw_ok);
    st = open_ok(f);
    struct stor_info in;
    for (long k = 0; k < 10; k++) {
        cn_mem_fail_after(k);
        int rc = append_range(st, 51, 100, 1, 50);
        cn_mem_fail_after(-1);
        stor_get_info(st, &in);
        if (rc == 0)
            break;
        assert_int_equal(rc, CN_ENOMEM);
        assert_int_equal(in.last_index, 50);
    }
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 100);
    void *data;
    size_t len;
    uint64_t idx, term;
    cn_mem_fail_after(0);
    assert_int_equal(stor_snapshot_load(st, &idx, &term, &data, &len), CN_ENOMEM);
    cn_mem_fail_after(-1);
    stor_close(st);
    st = open_ok(f);
    check_range(st, in.first_index, 100, terms1);
    stor_close(st);
}

/* ---- injected I/O failures (the stor_io seam) ----------------------------- */

enum { INJ_OK, INJ_EIO, INJ_SHORT, INJ_TORN, INJ_ZERO };

/* What the injected calls do next, and how often they were called. */
static struct {
    int write_mode;   /* INJ_*: applies to every pwrite while set */
    size_t short_max; /* INJ_SHORT: at most this many bytes per call */
    int sync_fail;    /* fdatasync and fsync fail with EIO */
    int trunc_fail;   /* ftruncate fails with EIO */
    int n_pwrite, n_sync;
} inj;

static ssize_t inj_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    inj.n_pwrite++;
    switch (inj.write_mode) {
    case INJ_EIO:
        errno = EIO;
        return -1;
    case INJ_SHORT:
        return stor_io_posix.pwrite(fd, buf, n < inj.short_max ? n : inj.short_max, off);
    case INJ_TORN:
        /* Half of it reaches the file, then the device fails. */
        if (stor_io_posix.pwrite(fd, buf, n / 2, off) < 0)
            return -1;
        errno = EIO;
        return -1;
    case INJ_ZERO:
        return 0;
    default:
        return stor_io_posix.pwrite(fd, buf, n, off);
    }
}

static int inj_fdatasync(int fd)
{
    inj.n_sync++;
    if (inj.sync_fail) {
        errno = EIO;
        return -1;
    }
    return stor_io_posix.fdatasync(fd);
}

static int inj_fsync(int fd)
{
    inj.n_sync++;
    if (inj.sync_fail) {
        errno = EIO;
        return -1;
    }
    return stor_io_posix.fsync(fd);
}

static int inj_ftruncate(int fd, off_t len)
{
    if (inj.trunc_fail) {
        errno = EIO;
        return -1;
    }
    return stor_io_posix.ftruncate(fd, len);
}

static const struct stor_io inj_io = {
    .pwrite = inj_pwrite,
    .fdatasync = inj_fdatasync,
    .fsync = inj_fsync,
    .renameat = renameat,
    .ftruncate = inj_ftruncate,
    .openat = NULL, /* set in open_inj */
};

static struct stor *open_inj(struct fx *f)
{
    static struct stor_io io;
    io = inj_io;
    io.openat = stor_io_posix.openat;
    memset(&inj, 0, sizeof inj);
    f->opt.io = &io;
    struct stor *st = open_ok(f);
    f->opt.io = NULL; /* later opens (recovery) use the real calls */
    return st;
}

/* Every mutating call of a poisoned store fails, without any I/O. */
static void assert_poisoned(struct stor *st)
{
    int w = inj.n_pwrite, s = inj.n_sync;
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(append_range(st, in.last_index + 1, in.last_index + 1, 9, 1), CN_EIO);
    assert_int_equal(stor_sync(st), CN_EIO);
    struct stor_hard_state hs = {.term = in.hs.term + 1, .vote = 0, .commit = 0};
    assert_int_equal(stor_set_hard_state(st, &hs), CN_EIO);
    assert_int_equal(stor_truncate_suffix(st, 1), CN_EIO);
    assert_int_equal(stor_snapshot_install(st, in.last_index, 1, 1), CN_EIO);
    /* No retry: in particular no fsync after a failed one (fsyncgate). */
    assert_int_equal(inj.n_pwrite, w);
    assert_int_equal(inj.n_sync, s);
}

static void test_io_eio_on_append(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_inj(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 3, 1, 3), 0);
    assert_int_equal(stor_sync(st), 0);
    inj.write_mode = INJ_EIO;
    assert_int_equal(append_range(st, 4, 5, 1, 2), CN_EIO);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 3); /* nothing of the failed batch counts */
    inj.write_mode = INJ_OK;            /* the device recovers: the store does not */
    assert_poisoned(st);
    stor_close(st);
    st = open_ok(f); /* a restart recovers what was durable */
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 3);
    check_range(st, 1, 3, terms1);
    assert_int_equal(append_range(st, 4, 5, 1, 2), 0);
    stor_close(st);
}

/* A failed zero-fill (write, torn write or sync) poisons like a failed
 * append; a roll that cannot cut the zeros off the old segment too. A
 * restart recovers every synced record in each case. */
static void test_io_prepare_failures(void **state)
{
    struct fx *f = *state;
    for (int mode = 0; mode < 4; mode++) {
        /* A fresh log each time (a zero-fill that reached the page cache
         * before its sync failed is still there after the restart). */
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        assert_int_equal(mkdir(f->dir, 0700), 0);
        f->opt.segment_bytes = mode == 3 ? 1024 : 0;
        struct stor *st = open_inj(f);
        struct stor_info in;
        uint64_t lo = 1, hi = 10;
        fill_terms(terms1, lo, hi + 40, 1);
        assert_int_equal(append_range(st, lo, hi, 1, 10), 0);
        assert_int_equal(stor_sync(st), 0);
        if (mode == 0)
            inj.sync_fail = 1;
        else if (mode == 1)
            inj.write_mode = INJ_EIO;
        else if (mode == 2)
            inj.write_mode = INJ_TORN;
        if (mode < 3) {
            assert_int_equal(stor_prepare(st), CN_EIO);
        } else {
            assert_int_equal(stor_prepare(st), 0);
            inj.trunc_fail = 1;
            /* Enough to roll past 1024 bytes. */
            assert_int_equal(append_range(st, hi + 1, hi + 40, 1, 40), CN_EIO);
        }
        inj.sync_fail = inj.trunc_fail = 0;
        inj.write_mode = INJ_OK;
        assert_poisoned(st);
        stor_close(st);
        f->nlog = 0;
        st = open_ok(f);
        stor_get_info(st, &in);
        /* mode 3: the records written before the failed roll were not
         * synced, but no power was cut: the page cache still has them. */
        if (mode == 3)
            assert_true(in.last_index > hi);
        else
            assert_int_equal(in.last_index, hi);
        check_range(st, 1, in.last_index, terms1);
        assert_int_equal(f->nlog, 0);
        stor_close(st);
    }
}

static void test_io_short_writes(void **state)
{
    struct fx *f = *state;
    f->opt.segment_bytes = 512; /* roll segments too */
    struct stor *st = open_inj(f);
    fill_terms(terms1, 1, 40, 2);
    inj.write_mode = INJ_SHORT;
    inj.short_max = 7;
    assert_int_equal(append_range(st, 1, 40, 2, 8), 0);
    assert_int_equal(stor_sync(st), 0);
    struct stor_hard_state hs = {.term = 2, .vote = 1, .commit = 40};
    assert_int_equal(stor_set_hard_state(st, &hs), 0);
    assert_true(inj.n_pwrite > 100); /* each write was really cut short, and continued */
    check_range(st, 1, 40, terms1);
    stor_close(st);
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, 40);
    assert_int_equal(in.hs.commit, 40);
    check_range(st, 1, 40, terms1);
    stor_close(st);

    /* A write that makes no progress is an error, not an endless loop, and
     * is never silently accepted. */
    st = open_inj(f);
    inj.write_mode = INJ_ZERO;
    assert_int_equal(append_range(st, 41, 41, 2, 1), CN_EIO);
    inj.write_mode = INJ_OK;
    assert_poisoned(st);
    stor_close(st);
}

static void test_io_fsync_failure_poisons(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_inj(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 3, 1, 3), 0);
    assert_int_equal(stor_sync(st), 0);
    assert_int_equal(append_range(st, 4, 6, 1, 3), 0);
    inj.sync_fail = 1;
    int before = inj.n_sync;
    assert_int_equal(stor_sync(st), CN_EIO);
    assert_int_equal(inj.n_sync, before + 1);
    /* The next fsync would probably succeed, and prove nothing: the kernel
     * may have dropped the pages that failed. The store must not ask. */
    inj.sync_fail = 0;
    assert_poisoned(st);
    stor_close(st);

    /* The same for the hard state: a failed fsync of meta.tmp. */
    st = open_inj(f);
    inj.sync_fail = 1;
    struct stor_hard_state hs = {.term = 5, .vote = 2, .commit = 3};
    assert_int_equal(stor_set_hard_state(st, &hs), CN_EIO);
    inj.sync_fail = 0;
    assert_poisoned(st);
    stor_close(st);
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.hs.term, 0); /* never renamed into place */
    assert_true(in.last_index >= 3);
    check_range(st, 1, 3, terms1);
    stor_close(st);

    /* A failed fdatasync before rolling to a new segment, too. */
    f->opt.segment_bytes = 256;
    st = open_inj(f);
    stor_get_info(st, &in);
    inj.sync_fail = 1;
    fill_terms(terms1, in.last_index + 1, in.last_index + 20, 1);
    assert_int_equal(append_range(st, in.last_index + 1, in.last_index + 20, 1, 20), CN_EIO);
    inj.sync_fail = 0;
    assert_poisoned(st);
    stor_close(st);
}

static void test_io_torn_write_repaired_on_reopen(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_inj(f);
    fill_terms(terms1, 1, 10, 3);
    assert_int_equal(append_range(st, 1, 5, 3, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    char p[128];
    seg_path(f, 1, p, sizeof p);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    off_t good = sb.st_size;
    /* Half of the next batch reaches the file and the clean-up truncate
     * fails too: the crash-like state a power cut leaves. */
    inj.write_mode = INJ_TORN;
    inj.trunc_fail = 1;
    assert_int_equal(append_range(st, 6, 9, 3, 4), CN_EIO);
    inj.write_mode = INJ_OK;
    inj.trunc_fail = 0;
    assert_poisoned(st);
    stor_close(st);
    assert_int_equal(stat(p, &sb), 0);
    assert_true(sb.st_size > good); /* the torn half is there */

    /* Recovery (docs/format-storage.md): the whole records before the tear
     * are valid and kept (never acknowledged, but harmless: Raft overwrites
     * them if they lose); the partial record after them was never
     * acknowledged either and is cut off and reported. */
    size_t half = 0, whole = 0;
    for (uint64_t i = 6; i <= 9; i++)
        half += REC_HDR + plen(i);
    half /= 2;
    uint64_t last = 5;
    while (whole + REC_HDR + plen(last + 1) <= half)
        whole += REC_HDR + plen(++last);
    assert_true(last < 9 && whole < half); /* a record really is torn */
    f->nlog = 0;
    st = open_ok(f);
    struct stor_info in;
    stor_get_info(st, &in);
    assert_int_equal(in.last_index, last);
    assert_int_equal(in.last_term, 3);
    assert_true(f->nlog > 0);
    assert_non_null(strstr(f->lastlog, "torn tail"));
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, good + (off_t)whole);
    check_range(st, 1, last, terms1);
    assert_int_equal(stor_truncate_suffix(st, 5), 0);
    assert_int_equal(append_range(st, 6, 9, 3, 4), 0);
    assert_int_equal(stor_sync(st), 0);
    check_range(st, 1, 9, terms1);
    stor_close(st);
}

static void test_io_snapshot_write_failure_does_not_poison(void **state)
{
    struct fx *f = *state;
    struct stor *st = open_inj(f);
    fill_terms(terms1, 1, 10, 1);
    assert_int_equal(append_range(st, 1, 5, 1, 5), 0);
    assert_int_equal(stor_sync(st), 0);
    inj.sync_fail = 1;
    char err[256];
    assert_int_equal(stor_snapshot_write(st, 5, 1, "snap", 4, err, sizeof err), CN_EIO);
    assert_non_null(strstr(err, "fsync"));
    inj.sync_fail = 0;
    /* Nothing the store relies on changed: the log goes on. */
    assert_int_equal(append_range(st, 6, 7, 1, 2), 0);
    assert_int_equal(stor_sync(st), 0);
    assert_int_equal(count_files(f, "snapshots", ""), 0);
    stor_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_rolling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_only_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hard_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_file_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_checksum_last_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_zero_fills_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_and_roll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepared_segment_never_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_while_preparing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_record_then_zeros, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_batch_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_middle_of_last_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_length_middle_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_then_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_older_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_segment_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_write_concurrent_with_appends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_crash_between_write_and_install, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_install_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_stream_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_eio_on_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_short_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_prepare_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_fsync_failure_poisons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_torn_write_repaired_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_snapshot_write_failure_does_not_poison, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
