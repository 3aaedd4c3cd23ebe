/* filter/filter.c: parser, validator and evaluator of Consul's filter
 * expressions (filter.h; go-bexpr v0.1.2 grammar.peg, validate.go,
 * evaluate.go). The parser follows the PEG rule for rule, with the same
 * ordered choices and backtracking. */
#include "filter/filter.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/regex.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"

/* Deeper nesting than this is refused (a stack bound; go-bexpr has none). */
#define FILTER_MAX_DEPTH 64
#define FILTER_MAX_SEL 32
/* and/or chains recurse once per operator (parsing and evaluating): bound them */
#define FILTER_MAX_TERMS 4096

enum op { OP_EQ, OP_NE, OP_IN, OP_NOT_IN, OP_EMPTY, OP_NOT_EMPTY, OP_MATCHES, OP_NOT_MATCHES };

static const char *const op_names[] = {
    /* go-bexpr ast.go MatchOperator.String */
    "Equal", "Not Equal", "In", "Not In", "Is Empty", "Is Not Empty", "Matches", "Not Matches",
};

enum ntype { N_AND, N_OR, N_NOT, N_MATCH };

struct node {
    enum ntype t;
    struct node *l, *r; /* AND/OR: both; NOT: l */
    /* N_MATCH */
    enum op op;
    char *sel[FILTER_MAX_SEL];
    size_t nsel;
    char *raw; /* value text (NULL for is [not] empty) */
    size_t rawlen;
    /* filled by validation: the field of each selector part */
    const struct filter_field *fld[FILTER_MAX_SEL];
    bool b;
    long long i;
    bool has_re;
    regex_t re;
};

struct filter {
    struct node *root;
    const struct filter_field *schema;
};

/* ---- parser --------------------------------------------------------------------- */

struct parser {
    const char *s;
    size_t n, pos;
    int depth;
    int terms;
    size_t far; /* the farthest position any rule reached: where pigeon reports "no match" */
    int err;    /* 0, CN_EINVAL (a hard error: stop), CN_ENOMEM */
    char *msg;  /* error text */
    size_t mcap;
};

static void perr(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, size_t at, const char *fmt, ...)
{
    if (p->err)
        return;
    p->err = CN_EINVAL;
    /* pigeon's position prefix: line:column (offset) */
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->n; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int k = snprintf(p->msg, p->mcap, "%zu:%zu (%zu): ", line, col, at);
    if (k < 0 || (size_t)k >= p->mcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg + k, p->mcap - (size_t)k, fmt, ap);
    va_end(ap);
}

static bool ws(struct parser *p) /* [ \t\r\n]+ */
{
    size_t st = p->pos;
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r' ||
                             p->s[p->pos] == '\n'))
        p->pos++;
    if (p->pos > p->far)
        p->far = p->pos;
    return p->pos > st;
}

static bool lit(struct parser *p, const char *w)
{
    size_t l = strlen(w);
    if (p->pos > p->far)
        p->far = p->pos;
    if (p->n - p->pos < l || memcmp(p->s + p->pos, w, l) != 0)
        return false;
    p->pos += l;
    if (p->pos > p->far)
        p->far = p->pos;
    return true;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char *dupn(struct parser *p, const char *s, size_t n)
{
    char *d = cn_malloc(n + 1);
    if (!d) {
        p->err = CN_ENOMEM;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static void node_free(struct node *nd)
{
    if (!nd)
        return;
    node_free(nd->l);
    node_free(nd->r);
    for (size_t i = 0; i < nd->nsel; i++)
        cn_free(nd->sel[i]);
    cn_free(nd->raw);
    if (nd->has_re)
        regfree(&nd->re);
    cn_free(nd);
}

static struct node *node_new(struct parser *p, enum ntype t)
{
    struct node *nd = cn_calloc(1, sizeof(*nd));
    if (!nd)
        p->err = CN_ENOMEM;
    else
        nd->t = t;
    return nd;
}

/* Go's strconv.Unquote of a double-quoted literal's body s[0..n): 0, or -1
 * for invalid syntax. out has room for n+1 bytes (escapes only shrink). */
static int go_unquote(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '\n')
            return -1;
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        if (++i >= n)
            return -1;
        c = s[i++];
        switch (c) {
        case 'a':
            out[o++] = '\a';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'v':
            out[o++] = '\v';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case 'x': {
            if (i + 2 > n || cn_hexval(s[i]) < 0 || cn_hexval(s[i + 1]) < 0)
                return -1;
            out[o++] = (char)(cn_hexval(s[i]) * 16 + cn_hexval(s[i + 1]));
            i += 2;
            break;
        }
        case 'u':
        case 'U': {
            size_t k = c == 'u' ? 4 : 8;
            if (i + k > n)
                return -1;
            uint32_t r = 0;
            for (size_t j = 0; j < k; j++) {
                int h = cn_hexval(s[i + j]);
                if (h < 0)
                    return -1;
                r = r * 16 + (uint32_t)h;
            }
            i += k;
            if (r > 0x10FFFF || (r >= 0xD800 && r < 0xE000))
                return -1;
            /* a \u escape never expands beyond its own length */
            o += cn_utf8_put(out + o, r);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                if (i + 2 > n || s[i] < '0' || s[i] > '7' || s[i + 1] < '0' || s[i + 1] > '7')
                    return -1;
                int v = (c - '0') * 64 + (s[i] - '0') * 8 + (s[i + 1] - '0');
                if (v > 255)
                    return -1;
                out[o++] = (char)v;
                i += 2;
                break;
            }
            return -1; /* \' and \" (cannot occur) and anything else */
        }
    }
    out[o] = 0;
    *outlen = o;
    return 0;
}

/* StringLiteral: 1 parsed (value in v, length in vl), 0 no match, -1 hard error. */
static int string_lit(struct parser *p, char **v, size_t *vl)
{
    if (p->pos >= p->n || (p->s[p->pos] != '"' && p->s[p->pos] != '`'))
        return 0;
    char q = p->s[p->pos];
    size_t start = p->pos;
    const char *end = memchr(p->s + p->pos + 1, q, p->n - p->pos - 1);
    if (!end) {
        perr(p, p->n, "rule \"string\": Unterminated string literal");
        return -1;
    }
    size_t blen = (size_t)(end - (p->s + p->pos + 1));
    const char *body = p->s + p->pos + 1;
    if (q == '`') {
        /* strconv.Unquote drops carriage returns from raw strings */
        char *d = dupn(p, body, blen);
        if (!d)
            return -1;
        size_t o = 0;
        for (size_t i = 0; i < blen; i++)
            if (d[i] != '\r')
                d[o++] = d[i];
        d[o] = 0;
        *v = d;
        *vl = o;
    } else {
        char *d = cn_malloc(blen + 1);
        if (!d) {
            p->err = CN_ENOMEM;
            return -1;
        }
        if (go_unquote(body, blen, d, vl) != 0) {
            cn_free(d);
            perr(p, start, "rule \"string\": invalid syntax");
            return -1;
        }
        *v = d;
    }
    p->pos = (size_t)(end - p->s) + 1;
    return 1;
}

static bool ident(struct parser *p, size_t *st, size_t *len)
{
    if (p->pos >= p->n || !is_alpha(p->s[p->pos]))
        return false;
    *st = p->pos++;
    while (p->pos < p->n &&
           (is_alpha(p->s[p->pos]) || is_digit(p->s[p->pos]) || p->s[p->pos] == '_'))
        p->pos++;
    *len = p->pos - *st;
    if (p->pos > p->far)
        p->far = p->pos;
    return true;
}

static void sel_clear(char **sel, size_t *nsel)
{
    for (size_t i = 0; i < *nsel; i++)
        cn_free(sel[i]);
    *nsel = 0;
}

/* Selector: 1 parsed into sel/nsel, 0 no match (pos unchanged), -1 error. */
static int selector(struct parser *p, char **sel, size_t *nsel)
{
    size_t st, len, save = p->pos;
    *nsel = 0;
    if (!ident(p, &st, &len))
        return 0;
    if (!(sel[(*nsel)++] = dupn(p, p->s + st, len)))
        goto fail;
    for (;;) {
        size_t here = p->pos;
        char *part = NULL;
        size_t plen;
        if (lit(p, ".")) {
            if (!ident(p, &st, &len)) {
                p->pos = here;
                break;
            }
            part = dupn(p, p->s + st, len);
            if (!part)
                goto fail;
        } else if (lit(p, "[")) {
            ws(p);
            int r = string_lit(p, &part, &plen);
            if (r < 0)
                goto fail;
            if (r == 0) {
                perr(p, p->pos, "rule \"index\": Invalid index");
                goto fail;
            }
            ws(p);
            if (!lit(p, "]")) {
                cn_free(part);
                perr(p, p->pos, "rule \"index\": Unclosed index expression");
                goto fail;
            }
        } else {
            break;
        }
        if (*nsel == FILTER_MAX_SEL) {
            cn_free(part);
            perr(p, here, "selector has more than %d parts", FILTER_MAX_SEL);
            goto fail;
        }
        sel[(*nsel)++] = part;
    }
    return 1;
fail:
    sel_clear(sel, nsel);
    p->pos = save;
    return -1;
}

/* Value: 1 parsed, 0 no match, -1 error. */
static int value(struct parser *p, char **v, size_t *vl)
{
    size_t save = p->pos;
    char *sel[FILTER_MAX_SEL];
    size_t nsel;
    int r = selector(p, sel, &nsel);
    if (r < 0)
        return -1;
    if (r > 0) {
        /* the selector's text, parts joined by "." */
        size_t total = 0;
        for (size_t i = 0; i < nsel; i++)
            total += strlen(sel[i]) + 1;
        char *d = cn_malloc(total);
        if (!d) {
            sel_clear(sel, &nsel);
            p->err = CN_ENOMEM;
            return -1;
        }
        size_t o = 0;
        for (size_t i = 0; i < nsel; i++) {
            size_t l = strlen(sel[i]);
            memcpy(d + o, sel[i], l);
            o += l;
            d[o++] = i + 1 < nsel ? '.' : 0;
        }
        sel_clear(sel, &nsel);
        *v = d;
        *vl = o - 1;
        return 1;
    }
    /* NumberLiteral: "-"? ("0" / [1-9][0-9]*) ("." [0-9]+)? followed by space, EOF or ")" */
    size_t st = p->pos;
    lit(p, "-");
    if (p->pos < p->n && is_digit(p->s[p->pos])) {
        if (p->s[p->pos] == '0') {
            p->pos++;
        } else {
            while (p->pos < p->n && is_digit(p->s[p->pos]))
                p->pos++;
        }
        size_t dot = p->pos;
        if (lit(p, ".")) {
            if (p->pos < p->n && is_digit(p->s[p->pos])) {
                while (p->pos < p->n && is_digit(p->s[p->pos]))
                    p->pos++;
            } else {
                p->pos = dot;
            }
        }
        char nx = p->pos < p->n ? p->s[p->pos] : 0;
        if (!(p->pos == p->n || nx == ' ' || nx == '\t' || nx == '\r' || nx == '\n' || nx == ')')) {
            perr(p, p->pos, "rule \"number\": Invalid number literal");
            return -1;
        }
        if (!(*v = dupn(p, p->s + st, p->pos - st)))
            return -1;
        *vl = p->pos - st;
        return 1;
    }
    p->pos = save;
    return string_lit(p, v, vl);
}

static struct node *parse_or(struct parser *p);

static struct node *match_new(struct parser *p, char **sel, size_t nsel, enum op op, char *v,
                              size_t vl)
{
    struct node *nd = node_new(p, N_MATCH);
    if (!nd) {
        sel_clear(sel, &nsel);
        cn_free(v);
        return NULL;
    }
    memcpy(nd->sel, sel, nsel * sizeof(*sel));
    nd->nsel = nsel;
    nd->op = op;
    nd->raw = v;
    nd->rawlen = vl;
    return nd;
}

/* MatchExpression. NULL with p->err 0: no match here. */
static struct node *parse_match(struct parser *p)
{
    size_t save = p->pos;
    char *sel[FILTER_MAX_SEL];
    size_t nsel;
    int r = selector(p, sel, &nsel);
    if (r < 0)
        return NULL;
    if (r > 0) {
        /* MatchSelectorOpValue */
        size_t after = p->pos;
        static const struct {
            bool ws_req;
            const char *w1, *w2;
            enum op op;
        } ops[] = {
            {false, "==", NULL, OP_EQ},          {false, "!=", NULL, OP_NE},
            {true, "contains", NULL, OP_IN},     {true, "not", "contains", OP_NOT_IN},
            {true, "matches", NULL, OP_MATCHES}, {true, "not", "matches", OP_NOT_MATCHES},
        };
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
            p->pos = after;
            bool ok;
            if (!ops[i].ws_req) {
                ws(p);
                ok = lit(p, ops[i].w1);
                if (ok)
                    ws(p);
            } else {
                ok = ws(p) && lit(p, ops[i].w1) && ws(p);
                if (ok && ops[i].w2)
                    ok = lit(p, ops[i].w2) && ws(p);
            }
            if (!ok)
                continue;
            char *v;
            size_t vl;
            int vr = value(p, &v, &vl);
            if (vr < 0) {
                sel_clear(sel, &nsel);
                return NULL;
            }
            if (vr == 0)
                continue;
            return match_new(p, sel, nsel, ops[i].op, v, vl);
        }
        /* MatchSelectorOp: is [not] empty */
        p->pos = after;
        if (ws(p) && lit(p, "is") && ws(p)) {
            size_t k = p->pos;
            if (lit(p, "empty"))
                return match_new(p, sel, nsel, OP_EMPTY, NULL, 0);
            p->pos = k;
            if (lit(p, "not") && ws(p) && lit(p, "empty"))
                return match_new(p, sel, nsel, OP_NOT_EMPTY, NULL, 0);
        }
        sel_clear(sel, &nsel);
        p->pos = save;
    }
    /* MatchValueOpSelector */
    char *v;
    size_t vl;
    r = value(p, &v, &vl);
    if (r <= 0) {
        p->pos = save;
        return NULL;
    }
    size_t after = p->pos;
    enum op op;
    if (ws(p) && lit(p, "in") && ws(p)) {
        op = OP_IN;
    } else {
        p->pos = after;
        if (ws(p) && lit(p, "not") && ws(p) && lit(p, "in") && ws(p)) {
            op = OP_NOT_IN;
        } else {
            cn_free(v);
            p->pos = save;
            return NULL;
        }
    }
    size_t selat = p->pos;
    r = selector(p, sel, &nsel);
    if (r <= 0) {
        cn_free(v);
        if (r == 0)
            perr(p, selat, "rule \"match\": Invalid selector");
        return NULL;
    }
    return match_new(p, sel, nsel, op, v, vl);
}

static struct node *parse_not(struct parser *p)
{
    if (++p->depth > FILTER_MAX_DEPTH) {
        perr(p, p->pos, "expression nested more than %d levels deep", FILTER_MAX_DEPTH);
        return NULL;
    }
    struct node *res = NULL;
    size_t save = p->pos;
    if (lit(p, "not") && ws(p)) {
        struct node *e = parse_not(p);
        if (e) {
            if (e->t == N_NOT) { /* not not X == X */
                res = e->l;
                e->l = NULL;
                node_free(e);
            } else if ((res = node_new(p, N_NOT))) {
                res->l = e;
            } else {
                node_free(e);
            }
            goto out;
        }
        if (p->err)
            goto out;
    }
    p->pos = save;
    if (lit(p, "(")) {
        ws(p);
        struct node *e = parse_or(p);
        if (e) {
            ws(p);
            if (lit(p, ")")) {
                res = e;
                goto out;
            }
            node_free(e);
            perr(p, p->pos, "rule \"grouping\": Unmatched parentheses");
            goto out;
        }
        if (p->err)
            goto out;
        p->pos = save;
    }
    res = parse_match(p);
out:
    p->depth--;
    return res;
}

static struct node *parse_bin(struct parser *p, enum ntype t)
{
    struct node *l = t == N_OR ? parse_bin(p, N_AND) : parse_not(p);
    if (!l)
        return NULL;
    size_t save = p->pos;
    if (ws(p) && lit(p, t == N_OR ? "or" : "and") && ws(p)) {
        if (++p->terms > FILTER_MAX_TERMS) {
            node_free(l);
            perr(p, save, "more than %d and/or operators", FILTER_MAX_TERMS);
            return NULL;
        }
        struct node *r = parse_bin(p, t);
        if (r) {
            struct node *b = node_new(p, t);
            if (!b) {
                node_free(l);
                node_free(r);
                return NULL;
            }
            b->l = l;
            b->r = r;
            return b;
        }
        if (p->err) {
            node_free(l);
            return NULL;
        }
    }
    p->pos = save;
    return l;
}

static struct node *parse_or(struct parser *p)
{
    if (++p->depth > FILTER_MAX_DEPTH) {
        perr(p, p->pos, "expression nested more than %d levels deep", FILTER_MAX_DEPTH);
        return NULL;
    }
    struct node *r = parse_bin(p, N_OR);
    p->depth--;
    return r;
}

/* ---- validation (go-bexpr validate.go) ------------------------------------------- */

static const struct filter_field *field_find(const struct filter_field *fs, const char *name)
{
    for (; fs && fs->name; fs++)
        if (!strcmp(fs->name, name))
            return fs;
    return NULL;
}

static bool op_allowed(enum filter_type t, enum op op)
{
    switch (t) {
    case FILTER_STR:
        return op == OP_EQ || op == OP_NE || op == OP_IN || op == OP_NOT_IN || op == OP_MATCHES ||
               op == OP_NOT_MATCHES;
    case FILTER_BOOL:
    case FILTER_INT:
        return op == OP_EQ || op == OP_NE;
    case FILTER_STR_LIST:
    case FILTER_STR_MAP:
    case FILTER_STRUCT_MAP:
        return op == OP_IN || op == OP_NOT_IN || op == OP_EMPTY || op == OP_NOT_EMPTY;
    case FILTER_STRUCT_LIST:
        return op == OP_EMPTY || op == OP_NOT_EMPTY;
    case FILTER_STRUCT:
        return false;
    }
    return false;
}

/* The selector's text (parts joined by "."), first n parts, into buf. */
static const char *sel_text(const struct node *nd, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o < cap; i++) {
        int k = snprintf(buf + o, cap - o, "%s%s", i ? "." : "", nd->sel[i]);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    return buf;
}

/* The element under any key of a string map. */
static const struct filter_field any_str = {"*", FILTER_STR, NULL};

static int validate(struct node *nd, const struct filter_field *schema, char *err, size_t errcap)
{
    char sb[512];
    if (nd->t != N_MATCH) {
        int rc = validate(nd->l, schema, err, errcap);
        if (rc || !nd->r)
            return rc;
        return validate(nd->r, schema, err, errcap);
    }
    /* Walk the selector through the schema. */
    const struct filter_field *cur = NULL;
    for (size_t i = 0; i < nd->nsel; i++) {
        const struct filter_field *next = NULL;
        if (!cur || cur->type == FILTER_STRUCT || cur->type == FILTER_STRUCT_LIST)
            next = field_find(cur ? cur->sub : schema, nd->sel[i]);
        else if (cur->type == FILTER_STR_MAP)
            next = &any_str;
        else if (cur->type == FILTER_STRUCT_MAP)
            next = cur->sub; /* the element row: a struct */
        if (!next) {
            snprintf(err, errcap, "Selector \"%s\" is not valid",
                     sel_text(nd, i + 1, sb, sizeof(sb)));
            return CN_EINVAL;
        }
        nd->fld[i] = next;
        cur = next;
    }
    enum filter_type t = cur->type;
    if (!op_allowed(t, nd->op)) {
        snprintf(err, errcap, "Invalid match operator \"%s\" for selector \"%s\"", op_names[nd->op],
                 sel_text(nd, nd->nsel, sb, sizeof(sb)));
        return CN_EINVAL;
    }
    if (!nd->raw) {
        if (nd->op != OP_EMPTY && nd->op != OP_NOT_EMPTY) {
            snprintf(err, errcap, "Match operator \"%s\" requires a non-nil value",
                     op_names[nd->op]);
            return CN_EINVAL;
        }
        return 0;
    }
    if (t == FILTER_BOOL) {
        /* strconv.ParseBool */
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
        bool found = false;
        for (size_t i = 0; i < 6 && !found; i++) {
            if (!strcmp(nd->raw, yes[i]))
                found = nd->b = true;
            else if (!strcmp(nd->raw, no[i]))
                found = true, nd->b = false;
        }
        if (!found) {
            snprintf(err, errcap,
                     "Failed to coerce value \"%s\" for selector \"%s\": strconv.ParseBool: "
                     "parsing \"%s\": invalid syntax",
                     nd->raw, sel_text(nd, nd->nsel, sb, sizeof(sb)), nd->raw);
            return CN_EINVAL;
        }
    } else if (t == FILTER_INT) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(nd->raw, &end, 0);
        if (!*nd->raw || *end || errno || strlen(nd->raw) != nd->rawlen) {
            snprintf(err, errcap,
                     "Failed to coerce value \"%s\" for selector \"%s\": strconv.ParseInt: "
                     "parsing \"%s\": %s",
                     nd->raw, sel_text(nd, nd->nsel, sb, sizeof(sb)), nd->raw,
                     errno == ERANGE ? "value out of range" : "invalid syntax");
            return CN_EINVAL;
        }
        nd->i = v;
    }
    if (nd->op == OP_MATCHES || nd->op == OP_NOT_MATCHES) {
        if (strlen(nd->raw) != nd->rawlen) {
            snprintf(err, errcap, "Failed to compile regular expression \"%s\": NUL byte", nd->raw);
            return CN_EINVAL;
        }
        char rb[256];
        if (cn_regcomp(&nd->re, nd->raw, REG_EXTENDED | REG_NOSUB, rb, sizeof(rb))) {
            snprintf(err, errcap, "Failed to compile regular expression \"%s\": %s", nd->raw, rb);
            return CN_EINVAL;
        }
        nd->has_re = true;
    }
    return 0;
}

/* ---- evaluation (go-bexpr evaluate.go) --------------------------------------------- */

static const char *jstr(struct json_object *v, size_t *len)
{
    if (!v || !json_object_is_type(v, json_type_string)) {
        *len = 0;
        return "";
    }
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static bool str_eq(struct json_object *v, const struct node *nd)
{
    size_t l;
    const char *s = jstr(v, &l);
    return l == nd->rawlen && !memcmp(s, nd->raw, l);
}

static bool has_sub(const char *s, size_t l, const char *needle, size_t nl)
{
    if (nl == 0)
        return true;
    if (nl > l)
        return false;
    for (size_t i = 0; i + nl <= l; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, nl))
            return true;
    return false;
}

static bool do_in(const struct node *nd, enum filter_type t, struct json_object *v)
{
    switch (t) {
    case FILTER_STR: {
        size_t l;
        const char *s = jstr(v, &l);
        return has_sub(s, l, nd->raw, nd->rawlen);
    }
    case FILTER_STR_LIST:
        if (!v || !json_object_is_type(v, json_type_array))
            return false;
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (str_eq(json_object_array_get_idx(v, i), nd))
                return true;
        return false;
    case FILTER_STR_MAP:
    case FILTER_STRUCT_MAP:
        /* a key containing NUL cannot be in a json-c object */
        return v && json_object_is_type(v, json_type_object) && strlen(nd->raw) == nd->rawlen &&
               json_object_object_get_ex(v, nd->raw, NULL);
    default:
        return false;
    }
}

static bool do_empty(struct json_object *v)
{
    if (!v)
        return true;
    if (json_object_is_type(v, json_type_array))
        return json_object_array_length(v) == 0;
    if (json_object_is_type(v, json_type_object))
        return json_object_object_length(v) == 0;
    return true;
}

static bool do_eq(const struct node *nd, enum filter_type t, struct json_object *v)
{
    switch (t) {
    case FILTER_STR:
        return str_eq(v, nd);
    case FILTER_BOOL:
        return (v && json_object_get_boolean(v)) == nd->b;
    case FILTER_INT:
        return (v ? (long long)json_object_get_int64(v) : 0) == nd->i;
    default:
        return false;
    }
}

static bool do_op(const struct node *nd, enum filter_type t, struct json_object *v)
{
    switch (nd->op) {
    case OP_EQ:
        return do_eq(nd, t, v);
    case OP_NE:
        return !do_eq(nd, t, v);
    case OP_IN:
        return do_in(nd, t, v);
    case OP_NOT_IN:
        return !do_in(nd, t, v);
    case OP_EMPTY:
        return do_empty(v);
    case OP_NOT_EMPTY:
        return !do_empty(v);
    case OP_MATCHES:
    case OP_NOT_MATCHES: {
        size_t l;
        const char *s = jstr(v, &l);
        /* a string with a NUL inside is matched up to it (regexec's limit) */
        bool m = regexec(&nd->re, s, 0, NULL, 0) == 0;
        (void)l;
        return nd->op == OP_MATCHES ? m : !m;
    }
    }
    return false;
}

/* v: the value at selector depth d, whose field row is `fld` (NULL: the item). */
static bool eval_sel(const struct node *nd, size_t d, const struct filter_field *fld,
                     struct json_object *v, bool elem)
{
    if (d >= nd->nsel)
        return do_op(nd, fld->type, v);
    enum filter_type t = fld ? fld->type : FILTER_STRUCT;
    if (t == FILTER_STRUCT_LIST && !elem) {
        /* any element of the list (evaluate.go: slices are implicitly ANY) */
        if (!v || !json_object_is_type(v, json_type_array))
            return false;
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (eval_sel(nd, d, fld, json_object_array_get_idx(v, i), true))
                return true;
        return false;
    }
    if (t == FILTER_STR_MAP || t == FILTER_STRUCT_MAP) {
        struct json_object *x = NULL;
        if (!v || !json_object_is_type(v, json_type_object) ||
            !json_object_object_get_ex(v, nd->sel[d], &x)) {
            /* the key is absent: evaluate.go's rule */
            return !(nd->op == OP_EQ || nd->op == OP_NOT_EMPTY || nd->op == OP_IN);
        }
        return eval_sel(nd, d + 1, nd->fld[d], x, false);
    }
    /* a struct (or one element of a list of structs): its member */
    struct json_object *x = NULL;
    if (v && json_object_is_type(v, json_type_object))
        json_object_object_get_ex(v, nd->sel[d], &x);
    return eval_sel(nd, d + 1, nd->fld[d], x, false);
}

static bool eval(const struct node *nd, struct json_object *item)
{
    switch (nd->t) {
    case N_AND:
        return eval(nd->l, item) && eval(nd->r, item);
    case N_OR:
        return eval(nd->l, item) || eval(nd->r, item);
    case N_NOT:
        return !eval(nd->l, item);
    case N_MATCH:
        return eval_sel(nd, 0, NULL, item, false);
    }
    return false;
}

/* ---- public ---------------------------------------------------------------------- */

int filter_new(const char *expr, size_t len, const struct filter_field *schema, struct filter **out,
               char *err, size_t errcap)
{
    *out = NULL;
    if (errcap)
        err[0] = 0;
    struct parser p = {.s = expr, .n = len, .msg = err, .mcap = errcap};
    /* Input <- _? "(" _? OrExpression _? ")" _? EOF / _? OrExpression _? EOF:
     * the first form is the second's parenthesized case. */
    ws(&p);
    struct node *root = parse_or(&p);
    if (root && !p.err) {
        ws(&p);
        if (p.pos != p.n) {
            perr(&p, p.far > p.pos ? p.far : p.pos, "no match found");
        }
    } else if (!p.err) {
        perr(&p, p.far, "no match found");
    }
    if (p.err) {
        node_free(root);
        if (p.err == CN_ENOMEM && errcap)
            snprintf(err, errcap, "out of memory");
        return p.err;
    }
    struct filter *f = cn_calloc(1, sizeof(*f));
    if (!f) {
        node_free(root);
        return CN_ENOMEM;
    }
    f->root = root;
    f->schema = schema;
    int rc = validate(root, schema, err, errcap);
    if (rc) {
        filter_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

bool filter_match(const struct filter *f, struct json_object *item)
{
    return eval(f->root, item);
}

void filter_free(struct filter *f)
{
    if (!f)
        return;
    node_free(f->root);
    cn_free(f);
}
