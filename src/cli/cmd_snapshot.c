/* cli/cmd_snapshot.c: `cairn snapshot save|restore|inspect FILE`, Consul's
 * `consul snapshot` (https://developer.hashicorp.com/consul/commands/snapshot)
 * over GET/PUT /v1/snapshot. The archive is cairn's own (base/snaparch.h):
 * save streams it to FILE.tmp, verifies every checksum, then renames it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/err.h"
#include "base/json.h"
#include "base/snaparch.h"
#include "cli/cli_int.h"

const struct cli_flag cli__snapshot_inspect_flags[] = {
    {"format", CLI_STR, "pretty|json", "Output format {pretty|json}. The default is pretty."},
    {NULL, 0, NULL, NULL},
};

struct mapped {
    void *p;
    size_t len;
};

static int map_file(const char *path, struct mapped *m, char *err, size_t errcap)
{
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        close(fd);
        return CN_EIO;
    }
    m->len = (size_t)st.st_size;
    if (m->len) {
        m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->p == MAP_FAILED) {
            m->p = NULL;
            snprintf(err, errcap, "%s: %s", path, strerror(errno));
            close(fd);
            return CN_EIO;
        }
    }
    close(fd);
    return 0;
}

static void unmap_file(struct mapped *m)
{
    if (m->p)
        munmap(m->p, m->len);
    m->p = NULL;
}

static int one_file(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 1) {
        fprintf(c->err, "This command takes one argument: <file>\n");
        return 1;
    }
    return 0;
}

int cli__run_snapshot_save(struct cli_ctx *c, const struct cli_args *a)
{
    if (one_file(c, a))
        return 1;
    const char *file = a->pos[0];
    char tmp[4096], err[512];
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(c->err, "Error creating snapshot file: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    struct cli_resp r = {0};
    r.sink = f;
    r.no_timeout = 1;
    int rc = cli__http(c, "GET", "/v1/snapshot", "", NULL, 0, &r, err, sizeof(err));
    int werr = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    fclose(f);
    cli__resp_free(&r);
    if (rc || werr || r.code != 200) {
        if (rc)
            fprintf(c->err, "Error saving snapshot: %s\n", err);
        else if (werr)
            fprintf(c->err, "Error saving snapshot: writing %s failed\n", tmp);
        else {
            struct mapped m;
            char body[512] = "";
            if (map_file(tmp, &m, err, sizeof(err)) == 0 && m.p)
                snprintf(body, sizeof(body), "%.*s", (int)(m.len < 400 ? m.len : 400),
                         (const char *)m.p);
            unmap_file(&m);
            fprintf(c->err, "Error saving snapshot: Unexpected response code: %ld (%s)\n", r.code,
                    body);
        }
        unlink(tmp);
        return 1;
    }
    struct mapped m;
    struct snaparch sa;
    rc = map_file(tmp, &m, err, sizeof(err));
    if (!rc)
        rc = snaparch_read(m.p, m.len, &sa, err, sizeof(err));
    unmap_file(&m);
    if (rc) {
        fprintf(c->err, "Error verifying snapshot file: %s\n", err);
        unlink(tmp);
        return 1;
    }
    if (rename(tmp, file) != 0) {
        fprintf(c->err, "Error renaming %s to %s: %s\n", tmp, file, strerror(errno));
        unlink(tmp);
        return 1;
    }
    fprintf(c->out, "Saved and verified snapshot to index %" PRIu64 "\n", sa.index);
    return 0;
}

int cli__run_snapshot_restore(struct cli_ctx *c, const struct cli_args *a)
{
    if (one_file(c, a))
        return 1;
    char err[512];
    struct mapped m;
    if (map_file(a->pos[0], &m, err, sizeof(err))) {
        fprintf(c->err, "Error opening snapshot file: %s\n", err);
        return 1;
    }
    /* Checked here too, so a damaged file never leaves this machine. */
    struct snaparch sa;
    if (snaparch_read(m.p, m.len, &sa, err, sizeof(err))) {
        fprintf(c->err, "Error verifying snapshot file: %s\n", err);
        unmap_file(&m);
        return 1;
    }
    struct cli_resp r = {0};
    r.no_timeout = 1;
    int ret =
        cli__call(c, "Error restoring snapshot", "PUT", "/v1/snapshot", "", m.p, m.len, 0, &r);
    cli__resp_free(&r);
    unmap_file(&m);
    if (ret)
        return 1;
    fprintf(c->out, "Restored snapshot\n");
    return 0;
}

static uint64_t table(struct json_object *t, const char *name)
{
    uint64_t v = 0;
    cn_json_get_u64(t, name, &v);
    return v;
}

int cli__run_snapshot_inspect(struct cli_ctx *c, const struct cli_args *a)
{
    if (one_file(c, a))
        return 1;
    const char *fmt = cli__flag_str(a, "format", "pretty");
    if (strcmp(fmt, "pretty") != 0 && strcmp(fmt, "json") != 0) {
        fprintf(c->err, "Error: format must be pretty or json\n");
        return 1;
    }
    char err[512];
    struct mapped m;
    if (map_file(a->pos[0], &m, err, sizeof(err))) {
        fprintf(c->err, "Error opening snapshot file: %s\n", err);
        return 1;
    }
    struct snaparch sa;
    if (snaparch_read(m.p, m.len, &sa, err, sizeof(err))) {
        fprintf(c->err, "Error verifying snapshot file: %s\n", err);
        unmap_file(&m);
        return 1;
    }
    struct json_object *meta = cn_json_parse(sa.meta, sa.meta_len, err, sizeof(err));
    if (!meta) {
        fprintf(c->err, "Error reading the snapshot's meta.json: %s\n", err);
        unmap_file(&m);
        return 1;
    }
    struct json_object *t = cn_json_get(meta, "Tables");
    static const char *const names[] = {"KV",     "KVTombstones", "Nodes",          "Services",
                                        "Checks", "Sessions",     "PreparedQueries"};
    if (!strcmp(fmt, "json")) {
        fprintf(c->out,
                "{\n    \"Meta\": {\n        \"ID\": \"%s\",\n        \"Size\": %zu,\n"
                "        \"Index\": %" PRIu64 ",\n        \"Term\": %" PRIu64
                ",\n        \"Version\": %u\n    },\n    \"Stats\": {",
                sa.id, m.len, sa.index, sa.term, sa.version);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            fprintf(c->out, "%s\n        \"%s\": %" PRIu64, i ? "," : "", names[i],
                    table(t, names[i]));
        fprintf(c->out, "\n    },\n    \"StateBytes\": %zu\n}\n", sa.state_len);
    } else {
        struct cn_buf text = CN_BUF_INIT, out = CN_BUF_INIT;
        cn_buf_printf(
            &text, " ID\t%s\n Size\t%zu\n Index\t%" PRIu64 "\n Term\t%" PRIu64 "\n Version\t%u\n",
            sa.id, m.len, sa.index, sa.term, sa.version);
        cli__tabwrite(&out, text.p, text.len);
        cn_buf_reset(&text);
        cn_buf_printf(&text, "\n Type\tCount\n ----\t----\n");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            cn_buf_printf(&text, " %s\t%" PRIu64 "\n", names[i], table(t, names[i]));
        cn_buf_printf(&text, " ----\t----\n Total state bytes\t%zu\n", sa.state_len);
        cli__tabwrite(&out, text.p, text.len);
        fwrite(out.p, 1, out.len, c->out);
        cn_buf_free(&text);
        cn_buf_free(&out);
    }
    json_object_put(meta);
    unmap_file(&m);
    return 0;
}
