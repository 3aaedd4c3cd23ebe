/* config/load.c: config directories and files (see load.h). */
#include "config/load.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"

int cfg_format_parse(const char *s, enum cfg_format *out)
{
    if (!s || !*s)
        *out = CFG_FMT_AUTO;
    else if (!strcmp(s, "hcl"))
        *out = CFG_FMT_HCL;
    else if (!strcmp(s, "json"))
        *out = CFG_FMT_JSON;
    else
        return CN_EINVAL;
    return 0;
}

int cfg_read_file(const char *path, enum cfg_format fmt, struct json_object **out, char *err,
                  size_t errcap)
{
    *out = NULL;
    if (fmt == CFG_FMT_AUTO)
        fmt = cfg_format_of_path(path);
    if (fmt == CFG_FMT_AUTO) {
        snprintf(err, errcap,
                 "%s: cannot tell the format: the name ends neither in .hcl nor in .json "
                 "(use -config-format)",
                 path);
        return CN_EINVAL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EINVAL;
    }
    struct cn_buf b = CN_BUF_INIT;
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > CFG_MAX_FILE) {
            snprintf(err, errcap, "%s: larger than %u bytes", path, CFG_MAX_FILE);
            rc = CN_EINVAL;
            break;
        }
        if (cn_buf_append(&b, chunk, n)) {
            snprintf(err, errcap, "%s: out of memory", path);
            rc = CN_ENOMEM;
            break;
        }
    }
    if (!rc && ferror(f)) {
        snprintf(err, errcap, "%s: read error", path);
        rc = CN_EINVAL;
    }
    fclose(f);
    if (rc) {
        cn_buf_free(&b);
        return rc;
    }
    char perr[512];
    struct json_object *t = cfg_parse(b.p, b.len, fmt, perr, sizeof(perr));
    cn_buf_free(&b);
    if (!t) {
        snprintf(err, errcap, "%s:%s", path, perr);
        return CN_EINVAL;
    }
    *out = t;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cfg_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        cn_free(paths[i]);
    cn_free(paths);
}

int cfg_dir_files(const char *dir, enum cfg_format forced, char ***paths, size_t *n, char *err,
                  size_t errcap)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errcap, "%s: %s", dir, strerror(errno));
        return CN_EINVAL;
    }
    char **v = cn_calloc(CFG_MAX_DIR_FILES, sizeof(*v));
    size_t k = 0;
    int rc = v ? 0 : CN_ENOMEM;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (forced == CFG_FMT_AUTO && cfg_format_of_path(de->d_name) == CFG_FMT_AUTO)
            continue;
        struct cn_buf p = CN_BUF_INIT;
        if (cn_buf_printf(&p, "%s/%s", dir, de->d_name) || cn_buf_cstr(&p)) {
            cn_buf_free(&p);
            rc = CN_ENOMEM;
            break;
        }
        struct stat st;
        if (stat(p.p, &st) || !S_ISREG(st.st_mode)) { /* sub-directories are not read */
            cn_buf_free(&p);
            continue;
        }
        if (k == CFG_MAX_DIR_FILES) {
            cn_buf_free(&p);
            snprintf(err, errcap, "%s: more than %d config files", dir, CFG_MAX_DIR_FILES);
            rc = CN_EINVAL;
            break;
        }
        v[k++] = p.p; /* the buffer's memory is the string */
    }
    closedir(d);
    if (rc) {
        if (rc == CN_ENOMEM)
            snprintf(err, errcap, "%s: out of memory", dir);
        cfg_paths_free(v, k);
        return rc;
    }
    qsort(v, k, sizeof(*v), cmp_str);
    *paths = v;
    *n = k;
    return 0;
}
