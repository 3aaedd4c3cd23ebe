/* base/logfile.c: the agent's log file, rotated as Consul's (logging/
 * logfile.go): the active file keeps its name (cairn.log); a rotation, by
 * size or age, renames it to cairn-<unix ns of its creation>.log, opens a
 * new one and prunes the oldest rotated files beyond max_files. Writes are
 * plain write(2)s under the logger's lock, as the stderr lines are. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/log_int.h"

static struct {
    int fd;
    char dir[1024], name[256], stem[256], ext[32];
    uint64_t bytes, created_ns, rotate_bytes, rotate_ns;
    int max_files;
} lf = {.fd = -1};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_new(void)
{
    char p[1400];
    snprintf(p, sizeof(p), "%s/%s", lf.dir, lf.name);
    lf.fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    lf.bytes = 0;
    lf.created_ns = now_ns();
    return lf.fd < 0 ? CN_EIO : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keep the newest max_files rotated files (their names sort by time). */
static void prune(void)
{
    if (lf.max_files == 0)
        return;
    DIR *d = opendir(lf.dir);
    if (!d)
        return;
    char **v = NULL;
    size_t n = 0, cap = 0, sl = strlen(lf.stem), el = strlen(lf.ext);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= sl + 1 + el || strncmp(e->d_name, lf.stem, sl) != 0 || e->d_name[sl] != '-' ||
            strcmp(e->d_name + l - el, lf.ext) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), cmp_str);
    size_t keep = lf.max_files < 0 ? 0 : (size_t)lf.max_files;
    for (size_t i = 0; i < n; i++) {
        if (i + keep < n) {
            char p[1400];
            snprintf(p, sizeof(p), "%s/%s", lf.dir, v[i]);
            unlink(p);
        }
        free(v[i]);
    }
    free(v);
}

static void rotate(void)
{
    close(lf.fd);
    lf.fd = -1;
    char from[1400], to[1400];
    snprintf(from, sizeof(from), "%s/%s", lf.dir, lf.name);
    /* 20 digits: names sort by creation time for years to come. */
    snprintf(to, sizeof(to), "%s/%s-%020" PRIu64 "%s", lf.dir, lf.stem, lf.created_ns, lf.ext);
    rename(from, to);
    prune();
    open_new();
}

void cn__logfile_write(const char *line, size_t len)
{
    if (lf.fd < 0 && !lf.name[0])
        return;
    if (lf.fd >= 0 && ((lf.rotate_bytes && lf.bytes >= lf.rotate_bytes) ||
                       (lf.rotate_ns && now_ns() - lf.created_ns >= lf.rotate_ns)))
        rotate();
    if (lf.fd < 0)
        return;
    ssize_t w;
    do
        w = write(lf.fd, line, len);
    while (w < 0 && errno == EINTR);
    if (w > 0)
        lf.bytes += (uint64_t)w;
}

int cn_log_file_open(const struct cn_log_file_opts *o, char *err, size_t errcap)
{
    cn_log_file_close();
    const char *p = o->path;
    size_t pl = strlen(p);
    const char *slash = strrchr(p, '/');
    if (pl == 0) {
        snprintf(err, errcap, "log_file: empty path");
        return CN_EINVAL;
    }
    if (p[pl - 1] == '/') { /* a directory: Consul's default file name */
        snprintf(lf.dir, sizeof(lf.dir), "%.*s", (int)((pl - 1) ? (pl - 1) : 1), p);
        snprintf(lf.name, sizeof(lf.name), "cairn.log");
    } else if (slash) {
        snprintf(lf.dir, sizeof(lf.dir), "%.*s", (int)((slash - p) ? (slash - p) : 1), p);
        snprintf(lf.name, sizeof(lf.name), "%s", slash + 1);
    } else {
        snprintf(lf.dir, sizeof(lf.dir), ".");
        snprintf(lf.name, sizeof(lf.name), "%s", p);
    }
    const char *dot = strrchr(lf.name, '.');
    snprintf(lf.ext, sizeof(lf.ext), "%s", dot && dot != lf.name ? dot : ".log");
    snprintf(lf.stem, sizeof(lf.stem), "%.*s",
             (int)(dot && dot != lf.name ? (size_t)(dot - lf.name) : strlen(lf.name)), lf.name);
    lf.rotate_bytes = o->rotate_bytes;
    lf.rotate_ns = o->rotate_ns;
    lf.max_files = o->max_files;
    if (open_new() != 0) {
        snprintf(err, errcap, "log_file: cannot open %s/%s: %s", lf.dir, lf.name, strerror(errno));
        lf.name[0] = '\0';
        return CN_EIO;
    }
    return 0;
}

void cn_log_file_close(void)
{
    if (lf.fd >= 0)
        close(lf.fd);
    lf.fd = -1;
    lf.name[0] = '\0';
}
