/* cli/tarball.c: a .tar.gz written from memory (`cairn debug`): POSIX ustar
 * headers for regular files and directories, gzip by ISA-L's igzip (already
 * cairn's CRC library). A writer only: cairn reads no tar files. */
#include <isa-l/igzip_lib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "cli/cli_int.h"

static void octal(char *f, size_t n, uint64_t v)
{
    snprintf(f, n, "%0*llo", (int)n - 1, (unsigned long long)v);
}

int cli__tar_add(struct cn_buf *tar, const char *name, const void *data, size_t len, bool dir)
{
    char h[512];
    memset(h, 0, sizeof(h));
    if (strlen(name) >= 100)
        return CN_EINVAL;
    memcpy(h, name, strlen(name));
    octal(h + 100, 8, dir ? 0755 : 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, dir ? 0 : len);
    octal(h + 136, 12, (uint64_t)time(NULL));
    memset(h + 148, ' ', 8);
    h[156] = dir ? '5' : '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(h); i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    CN_TRY(cn_buf_append(tar, h, sizeof(h)));
    if (dir || !len)
        return 0;
    CN_TRY(cn_buf_append(tar, data, len));
    static const char zero[512];
    size_t pad = (512 - len % 512) % 512;
    return cn_buf_append(tar, zero, pad);
}

int cli__tar_gz_write(const struct cn_buf *tar, const char *path, char *err, size_t errcap)
{
    static const char zero[1024];
    struct cn_buf all = CN_BUF_INIT, out = CN_BUF_INIT;
    int rc = cn_buf_append(&all, tar->p, tar->len);
    if (!rc)
        rc = cn_buf_append(&all, zero, sizeof(zero)); /* end of archive */
    if (!rc)
        rc = cn_buf_reserve(&out, all.len + all.len / 2 + 1024);
    if (rc) {
        snprintf(err, errcap, "out of memory");
        cn_buf_free(&all);
        return rc;
    }
    struct isal_zstream z;
    isal_deflate_init(&z);
    z.gzip_flag = IGZIP_GZIP;
    z.end_of_stream = 1;
    z.flush = NO_FLUSH;
    z.next_in = (uint8_t *)all.p;
    z.avail_in = (uint32_t)all.len;
    z.next_out = (uint8_t *)out.p;
    z.avail_out = (uint32_t)out.cap;
    int zr = isal_deflate(&z);
    cn_buf_free(&all);
    if (zr != COMP_OK || z.internal_state.state != ZSTATE_END) {
        snprintf(err, errcap, "gzip failed (%d)", zr);
        cn_buf_free(&out);
        return CN_EIO;
    }
    out.len = z.total_out;
    FILE *f = fopen(path, "wb");
    rc = 0;
    if (!f || fwrite(out.p, 1, out.len, f) != out.len)
        rc = CN_EIO;
    if (f && fclose(f) != 0)
        rc = CN_EIO;
    if (rc)
        snprintf(err, errcap, "writing %s failed", path);
    cn_buf_free(&out);
    return rc;
}
