/* gossip/keyfile.c: the keyring file on disk (see keyfile.h). */
#include "gossip/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

int gossip_keyring_load_file(const char *path, struct gossip_keyring *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return CN_ENOTFOUND;
        snprintf(err, errcap, "keyring file %s: %s", path, strerror(errno));
        return CN_EIO;
    }
    char buf[GOSSIP_KEYRING_FILE_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errcap, "keyring file %s: %s", path, strerror(errno));
            close(fd);
            return CN_EIO;
        }
        if (r == 0 || n + (size_t)r == sizeof(buf)) {
            n += (size_t)r;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    char why[200];
    int rc = gossip_keyring_parse(buf, n, out, why, sizeof(why));
    if (rc)
        snprintf(err, errcap, "keyring file %s: %s", path, why);
    return rc;
}

int gossip_keyring_write_file(const char *path, const char *data, size_t len, char *err,
                              size_t errcap)
{
    char dir[4096], tmp[4200];
    if (strlen(path) >= sizeof(dir)) {
        snprintf(err, errcap, "path too long");
        return CN_EINVAL;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) && errno != EEXIST) {
            snprintf(err, errcap, "mkdir %s: %s", dir, strerror(errno));
            return CN_EIO;
        }
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
        return CN_EIO;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return CN_EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
        unlink(tmp);
        return CN_EIO;
    }
    if (rename(tmp, path)) {
        snprintf(err, errcap, "rename %s: %s", path, strerror(errno));
        unlink(tmp);
        return CN_EIO;
    }
    if (slash && slash != dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}
