/* cli/flags.c: command-line flag parsing with Go's flag package syntax, which
 * every Consul command uses, and the help listing of a flag table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "cli/cli_int.h"

int cli__parse_bool(const char *s)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0)
            return 1;
        if (strcmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int is_help(const char *s)
{
    return strcmp(s, "-h") == 0 || strcmp(s, "-help") == 0 || strcmp(s, "--help") == 0;
}

static int find_spec(const struct cli_args *a, const char *name, size_t n)
{
    for (size_t i = 0; i < a->nspec; i++)
        if (strlen(a->spec[i]->name) == n && memcmp(a->spec[i]->name, name, n) == 0)
            return (int)i;
    return -1;
}

static int push(const char ***arr, size_t *n, const char *s)
{
    const char **p = cn_realloc(*arr, (*n + 1) * sizeof(**arr));
    if (!p)
        return CN_ENOMEM;
    p[(*n)++] = s;
    *arr = p;
    return 0;
}

/* Store `v` (borrowed) into flag i, validating it for the flag's kind. */
static int set_value(struct cli_args *a, int i, const char *v, char *err, size_t errcap)
{
    const struct cli_flag *f = a->spec[i];
    struct cli_flag_val *fv = &a->val[i];
    char *end;
    switch (f->kind) {
    case CLI_BOOL: {
        int b = cli__parse_bool(v);
        if (b < 0) {
            snprintf(err, errcap, "invalid boolean value \"%s\" for -%s: parse error", v, f->name);
            return CN_EINVAL;
        }
        fv->b = b;
        break;
    }
    case CLI_STR:
        fv->str = v;
        break;
    case CLI_U64:
        errno = 0;
        /* strtoull accepts a sign and leading spaces: Go's ParseUint does not. */
        if (v[0] < '0' || v[0] > '9')
            goto bad_num;
        fv->u64 = strtoull(v, &end, 10);
        if (errno || *end)
            goto bad_num;
        break;
    case CLI_INT:
        errno = 0;
        if (!((v[0] >= '0' && v[0] <= '9') ||
              ((v[0] == '-' || v[0] == '+') && v[1] >= '0' && v[1] <= '9')))
            goto bad_num;
        fv->i64 = strtoll(v, &end, 10);
        if (errno || *end)
            goto bad_num;
        break;
    case CLI_MAP:
        if (!strchr(v, '=')) {
            snprintf(err, errcap, "invalid value \"%s\" for flag -%s: missing \"=\" in argument", v,
                     f->name);
            return CN_EINVAL;
        }
        /* fall through */
    case CLI_LIST:
        if (push(&fv->list, &fv->nlist, v) < 0)
            return CN_ENOMEM;
        break;
    }
    fv->set = 1;
    return 0;
bad_num:
    snprintf(err, errcap, "invalid value \"%s\" for flag -%s: parse error", v, f->name);
    return CN_EINVAL;
}

int cli__args_parse(struct cli_args *a, const struct cli_flag *const *tables, size_t ntables,
                    int argc, char **argv, char *err, size_t errcap)
{
    memset(a, 0, sizeof(*a));
    err[0] = '\0';
    for (size_t t = 0; t < ntables; t++) {
        for (const struct cli_flag *f = tables[t]; f && f->name; f++) {
            if (a->nspec == CLI_MAX_FLAGS) {
                snprintf(err, errcap, "too many flags defined");
                return CN_EINVAL;
            }
            a->spec[a->nspec++] = f;
        }
    }
    /* Like Consul's CLI framework, a help flag anywhere wins over everything. */
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (is_help(argv[i])) {
            a->help = 1;
            return 0;
        }
    }
    int flags_done = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (flags_done || s[0] != '-' || s[1] == '\0') {
            if (push(&a->pos, &a->npos, s) < 0)
                return CN_ENOMEM;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            flags_done = 1;
            continue;
        }
        const char *name = s + 1;
        if (name[0] == '-')
            name++;
        if (name[0] == '\0' || name[0] == '-' || name[0] == '=') {
            snprintf(err, errcap, "bad flag syntax: %s", s);
            return CN_EINVAL;
        }
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int idx = find_spec(a, name, nlen);
        if (idx < 0) {
            if (a->npos > 0) {
                /* After a positional argument an unknown dash word is data. */
                if (push(&a->pos, &a->npos, s) < 0)
                    return CN_ENOMEM;
                continue;
            }
            snprintf(err, errcap, "flag provided but not defined: -%.*s", (int)nlen, name);
            return CN_EINVAL;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (a->spec[idx]->kind == CLI_BOOL) {
            v = "true";
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            snprintf(err, errcap, "flag needs an argument: -%.*s", (int)nlen, name);
            return CN_EINVAL;
        }
        int rc = set_value(a, idx, v, err, errcap);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void cli__args_free(struct cli_args *a)
{
    for (size_t i = 0; i < CLI_MAX_FLAGS; i++) {
        cn_free(a->val[i].list);
        a->val[i].list = NULL;
        a->val[i].nlist = 0;
    }
    cn_free(a->pos);
    a->pos = NULL;
    a->npos = 0;
}

const struct cli_flag_val *cli__flag(const struct cli_args *a, const char *name)
{
    int i = find_spec(a, name, strlen(name));
    return i < 0 ? NULL : &a->val[i];
}

const char *cli__flag_str(const struct cli_args *a, const char *name, const char *def)
{
    const struct cli_flag_val *v = cli__flag(a, name);
    return v && v->set ? v->str : def;
}

int cli__flag_bool(const struct cli_args *a, const char *name)
{
    const struct cli_flag_val *v = cli__flag(a, name);
    return v && v->set ? v->b : 0;
}

uint64_t cli__flag_u64(const struct cli_args *a, const char *name)
{
    const struct cli_flag_val *v = cli__flag(a, name);
    return v && v->set ? v->u64 : 0;
}

int64_t cli__flag_int(const struct cli_args *a, const char *name)
{
    const struct cli_flag_val *v = cli__flag(a, name);
    return v && v->set ? v->i64 : 0;
}

int cli__flag_isset(const struct cli_args *a, const char *name)
{
    const struct cli_flag_val *v = cli__flag(a, name);
    return v && v->set;
}

/* Word-wrap `text` at 80 columns with a 5-space indent, as Consul's help does. */
static int wrap(struct cn_buf *b, const char *text)
{
    const int indent = 5, width = 80;
    int col = indent;
    int rc = cn_buf_puts(b, "     ");
    const char *p = text;
    while (rc == 0 && *p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (col > indent && col + 1 + (int)w > width) {
            rc = cn_buf_puts(b, "\n     ");
            col = indent;
        } else if (col > indent) {
            rc = cn_buf_putc(b, ' ');
            col++;
        }
        /* Go's flag package shows `word` as the placeholder: drop the backquotes. */
        for (size_t i = 0; rc == 0 && i < w; i++)
            if (p[i] != '`')
                rc = cn_buf_putc(b, p[i]);
        col += (int)w;
        p += w;
    }
    return rc ? rc : cn_buf_putc(b, '\n');
}

int cli__flags_usage(struct cn_buf *b, const char *title, const struct cli_flag *t)
{
    if (!t || !t->name)
        return 0;
    int rc = cn_buf_printf(b, "\n%s\n", title);
    for (; rc == 0 && t->name; t++) {
        if (t->hint)
            rc = cn_buf_printf(b, "\n  -%s=<%s>\n", t->name, t->hint);
        else
            rc = cn_buf_printf(b, "\n  -%s\n", t->name);
        if (rc == 0)
            rc = wrap(b, t->help);
    }
    return rc;
}
