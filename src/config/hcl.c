/* config/hcl.c: one recursive-descent parser for both syntaxes of Consul's
 * configuration files (see hcl.h). The lexer is shared; JSON mode only turns
 * off what JSON does not have (comments, heredocs, bare words, `=`, blocks,
 * trailing commas).
 *
 * Positions ride in json-c's per-object userdata as a packed integer (no
 * allocation): line in the high bits, column below, and one bit saying the
 * object came from block syntax, which is what decides whether a repeated
 * key becomes a list (HCL1's object lists, as Consul reads `service { }`
 * twice) or is an attribute set again (last one wins). */
#include "config/hcl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"

enum tok_kind {
    T_EOF,
    T_LBRACE,
    T_RBRACE,
    T_LBRACK,
    T_RBRACK,
    T_EQUAL,
    T_COLON,
    T_COMMA,
    T_STRING, /* quoted or heredoc, decoded into p->sbuf */
    T_IDENT,
    T_NUMBER,
    T_BAD,
};

struct tok {
    enum tok_kind kind;
    size_t start, len; /* in the text */
    uint32_t line, col;
};

struct parser {
    const char *s;
    size_t n, i;
    uint32_t line, col;
    bool json;
    struct tok t;       /* current token */
    struct cn_buf sbuf; /* decoded text of the current T_STRING */
    char *err;
    size_t errcap;
    bool failed;
    int depth;
};

/* ---- positions ------------------------------------------------------------ */

#define POS_BLOCK ((uintptr_t)1)

static void set_pos(struct json_object *v, uint32_t line, uint32_t col, bool block)
{
    if (!v)
        return;
    uintptr_t packed =
        ((uintptr_t)line << 24) | ((uintptr_t)(col & 0x7fffff) << 1) | (block ? POS_BLOCK : 0);
    json_object_set_userdata(v, (void *)packed, NULL);
}

struct cfg_pos cfg_pos_of(struct json_object *v)
{
    struct cfg_pos p = {0, 0};
    if (!v)
        return p;
    uintptr_t packed = (uintptr_t)json_object_get_userdata(v);
    p.line = (uint32_t)(packed >> 24);
    p.col = (uint32_t)((packed >> 1) & 0x7fffff);
    return p;
}

bool cfg_is_block(struct json_object *v)
{
    return v && ((uintptr_t)json_object_get_userdata(v) & POS_BLOCK) != 0;
}

/* ---- errors ------------------------------------------------------------------ */

static void fail_at(struct parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_at(struct parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    int k = snprintf(p->err, p->errcap, "%u:%u: ", line, col);
    if (k < 0 || (size_t)k >= p->errcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errcap - (size_t)k, fmt, ap);
    va_end(ap);
}

/* The current token's text for a message, cut and made printable. */
static const char *tok_text(struct parser *p, char *out, size_t cap)
{
    if (p->t.kind == T_EOF)
        return "end of file";
    size_t n = p->t.len < 40 ? p->t.len : 40;
    size_t o = 0;
    out[o++] = '"';
    for (size_t k = 0; k < n && o + 5 < cap; k++) {
        unsigned char c = (unsigned char)p->s[p->t.start + k];
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (p->t.len > n && o + 4 < cap)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

static void fail_tok(struct parser *p, const char *what)
{
    char txt[200];
    fail_at(p, p->t.line, p->t.col, "expected %s, got %s", what, tok_text(p, txt, sizeof(txt)));
}

/* ---- lexer ----------------------------------------------------------------- */

static int peekc(struct parser *p, size_t ahead)
{
    return p->i + ahead < p->n ? (unsigned char)p->s[p->i + ahead] : -1;
}

static void adv(struct parser *p)
{
    if (p->i >= p->n)
        return;
    if (p->s[p->i] == '\n')
        p->line++, p->col = 1;
    else
        p->col++;
    p->i++;
}

/* Whitespace and (HCL) comments. */
static void skip_space(struct parser *p)
{
    for (;;) {
        int c = peekc(p, 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            adv(p);
        } else if (!p->json && (c == '#' || (c == '/' && peekc(p, 1) == '/'))) {
            while (p->i < p->n && p->s[p->i] != '\n')
                adv(p);
        } else if (!p->json && c == '/' && peekc(p, 1) == '*') {
            uint32_t l = p->line, col = p->col;
            adv(p), adv(p);
            while (p->i < p->n && !(p->s[p->i] == '*' && peekc(p, 1) == '/'))
                adv(p);
            if (p->i >= p->n) {
                fail_at(p, l, col, "unterminated /* comment");
                return;
            }
            adv(p), adv(p);
        } else {
            return;
        }
    }
}

static int put_utf8(struct cn_buf *b, uint32_t cp)
{
    char u[4];
    return cn_buf_append(b, u, cn_utf8_put(u, cp));
}

/* n hex digits at the cursor; -1 when they are not. */
static long read_hex(struct parser *p, int n)
{
    long v = 0;
    for (int k = 0; k < n; k++) {
        int h = cn_hexval(peekc(p, 0));
        if (h < 0)
            return -1;
        v = v * 16 + h;
        adv(p);
    }
    return v;
}

/* A quoted string: the cursor is on the opening quote. */
static void lex_string(struct parser *p)
{
    uint32_t l = p->line, c0 = p->col, el = 0, ec = 0;
    adv(p);
    cn_buf_reset(&p->sbuf);
    for (;;) {
        int c = peekc(p, 0);
        if (c < 0 || c == '\n') {
            fail_at(p, l, c0, "unterminated string");
            return;
        }
        if (c == '"') {
            adv(p);
            break;
        }
        if (c < 0x20) {
            fail_at(p, p->line, p->col, "control character 0x%02x in a string", (unsigned)c);
            return;
        }
        if (c != '\\') {
            if (cn_buf_putc(&p->sbuf, (char)c))
                goto oom;
            adv(p);
            continue;
        }
        el = p->line, ec = p->col;
        adv(p);
        int e = peekc(p, 0);
        adv(p);
        char out = 0;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            out = (char)e;
            break;
        case 'n':
            out = '\n';
            break;
        case 't':
            out = '\t';
            break;
        case 'r':
            out = '\r';
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'a':
        case 'v':
            if (p->json)
                goto bad_escape;
            out = e == 'a' ? '\a' : '\v';
            break;
        case 'u':
        case 'U': {
            if (e == 'U' && p->json)
                goto bad_escape;
            long cp = read_hex(p, e == 'u' ? 4 : 8);
            if (cp < 0)
                goto bad_escape;
            if (cp >= 0xd800 && cp <= 0xdbff && peekc(p, 0) == '\\' && peekc(p, 1) == 'u') {
                adv(p), adv(p);
                long lo = read_hex(p, 4);
                if (lo < 0xdc00 || lo > 0xdfff)
                    goto bad_escape;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                goto bad_escape;
            }
            if (cp == 0 || cp > 0x10ffff) {
                fail_at(p, el, ec, "escape \\%c produces %s", e,
                        cp ? "an invalid code point" : "a NUL byte (not allowed)");
                return;
            }
            if (put_utf8(&p->sbuf, (uint32_t)cp))
                goto oom;
            continue;
        }
        default:
            goto bad_escape;
        }
        if (cn_buf_putc(&p->sbuf, out))
            goto oom;
    }
    p->t.kind = T_STRING;
    return;
bad_escape:
    fail_at(p, el, ec, "invalid escape sequence in string");
    return;
oom:
    fail_at(p, l, c0, "out of memory");
}

/* A heredoc: the cursor is on "<<". <<-MARK strips the common indentation. */
static void lex_heredoc(struct parser *p)
{
    uint32_t l = p->line, c0 = p->col;
    adv(p), adv(p);
    bool indent = peekc(p, 0) == '-';
    if (indent)
        adv(p);
    size_t ms = p->i;
    while (p->i < p->n && (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '_'))
        adv(p);
    size_t ml = p->i - ms;
    if (ml == 0 || peekc(p, 0) != '\n') {
        fail_at(p, l, c0, "heredoc: expected an identifier and a newline after <<");
        return;
    }
    const char *mark = p->s + ms;
    adv(p);
    /* Lines until one that is (after optional indentation) exactly the marker. */
    size_t body = p->i, end = 0;
    bool found = false;
    while (p->i < p->n) {
        size_t ls = p->i;
        size_t le = ls;
        while (le < p->n && p->s[le] != '\n')
            le++;
        size_t k = ls;
        while (k < le && (p->s[k] == ' ' || p->s[k] == '\t'))
            k++;
        size_t le2 = le;
        if (le2 > k && p->s[le2 - 1] == '\r')
            le2--;
        if (le2 - k == ml && !memcmp(p->s + k, mark, ml) && (indent || k == ls)) {
            end = ls;
            while (p->i < le)
                adv(p);
            found = true;
            break;
        }
        while (p->i < le)
            adv(p);
        adv(p); /* the newline */
    }
    if (!found) {
        fail_at(p, l, c0, "heredoc: no closing marker \"%.*s\"", (int)(ml > 40 ? 40 : ml), mark);
        return;
    }
    cn_buf_reset(&p->sbuf);
    size_t strip = SIZE_MAX;
    if (indent) {
        for (size_t ls = body; ls < end;) {
            size_t k = ls;
            while (k < end && (p->s[k] == ' ' || p->s[k] == '\t'))
                k++;
            if (k < end && p->s[k] != '\n' && k - ls < strip)
                strip = k - ls;
            while (k < end && p->s[k] != '\n')
                k++;
            ls = k + 1;
        }
    }
    if (strip == SIZE_MAX)
        strip = 0;
    for (size_t ls = body; ls < end;) {
        size_t le = ls;
        while (le < end && p->s[le] != '\n')
            le++;
        size_t k = ls;
        for (size_t s = 0; s < strip && k < le && (p->s[k] == ' ' || p->s[k] == '\t'); s++)
            k++;
        if (memchr(p->s + k, '\0', le - k)) {
            fail_at(p, l, c0, "heredoc: NUL byte");
            return;
        }
        if (cn_buf_append(&p->sbuf, p->s + k, le - k) || cn_buf_putc(&p->sbuf, '\n')) {
            fail_at(p, l, c0, "out of memory");
            return;
        }
        ls = le + 1;
    }
    p->t.kind = T_STRING;
}

static bool ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(int c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static void next(struct parser *p)
{
    skip_space(p);
    p->t.start = p->i;
    p->t.line = p->line;
    p->t.col = p->col;
    p->t.len = 0;
    if (p->failed) {
        p->t.kind = T_BAD;
        return;
    }
    int c = peekc(p, 0);
    enum tok_kind k = T_BAD;
    switch (c) {
    case -1:
        p->t.kind = T_EOF;
        return;
    case '{':
        k = T_LBRACE;
        break;
    case '}':
        k = T_RBRACE;
        break;
    case '[':
        k = T_LBRACK;
        break;
    case ']':
        k = T_RBRACK;
        break;
    case '=':
        k = T_EQUAL;
        break;
    case ':':
        k = T_COLON;
        break;
    case ',':
        k = T_COMMA;
        break;
    case '"':
        lex_string(p);
        break;
    default:
        break;
    }
    if (k != T_BAD) {
        adv(p);
        p->t.kind = k;
    } else if (c == '"') {
        if (p->failed)
            p->t.kind = T_BAD;
    } else if (!p->json && c == '<' && peekc(p, 1) == '<') {
        lex_heredoc(p);
        if (p->failed)
            p->t.kind = T_BAD;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (c == '-')
            adv(p);
        while (p->i < p->n && strchr("0123456789.eE+-", p->s[p->i]) &&
               !(p->s[p->i] == '-' && p->i > p->t.start && p->s[p->i - 1] != 'e' &&
                 p->s[p->i - 1] != 'E') &&
               !(p->s[p->i] == '+' && p->s[p->i - 1] != 'e' && p->s[p->i - 1] != 'E'))
            adv(p);
        p->t.kind = T_NUMBER;
    } else if (ident_start(c)) {
        while (p->i < p->n && ident_char((unsigned char)p->s[p->i]))
            adv(p);
        p->t.kind = T_IDENT;
    } else {
        p->t.len = 1;
        p->t.kind = T_BAD;
        return;
    }
    p->t.len = p->i - p->t.start;
}

/* ---- values ------------------------------------------------------------------ */

static bool tok_is(struct parser *p, const char *word)
{
    return p->t.kind == T_IDENT && p->t.len == strlen(word) &&
           !memcmp(p->s + p->t.start, word, p->t.len);
}

static struct json_object *parse_number(struct parser *p)
{
    char buf[80];
    char txt[200];
    if (p->t.len >= sizeof(buf)) {
        fail_at(p, p->t.line, p->t.col, "number too long: %s", tok_text(p, txt, sizeof(txt)));
        return NULL;
    }
    memcpy(buf, p->s + p->t.start, p->t.len);
    buf[p->t.len] = '\0';
    /* JSON's number grammar, which HCL's decimal numbers share. */
    const char *q = buf;
    if (*q == '-')
        q++;
    bool ok = *q >= '0' && *q <= '9' && !(q[0] == '0' && q[1] >= '0' && q[1] <= '9');
    while (*q >= '0' && *q <= '9')
        q++;
    bool is_float = false;
    if (ok && *q == '.') {
        is_float = true;
        q++;
        ok = *q >= '0' && *q <= '9';
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (ok && (*q == 'e' || *q == 'E')) {
        is_float = true;
        q++;
        if (*q == '+' || *q == '-')
            q++;
        ok = *q >= '0' && *q <= '9';
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (!ok || *q) {
        fail_at(p, p->t.line, p->t.col, "invalid number %s", tok_text(p, txt, sizeof(txt)));
        return NULL;
    }
    struct json_object *v;
    errno = 0;
    if (is_float) {
        double d = strtod(buf, NULL);
        if (errno == ERANGE && (isinf(d) || d != 0)) {
            fail_at(p, p->t.line, p->t.col, "number out of range %s",
                    tok_text(p, txt, sizeof(txt)));
            return NULL;
        }
        v = json_object_new_double(d);
    } else {
        long long ll = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            fail_at(p, p->t.line, p->t.col, "integer out of range %s",
                    tok_text(p, txt, sizeof(txt)));
            return NULL;
        }
        v = json_object_new_int64(ll);
    }
    if (!v)
        fail_at(p, p->t.line, p->t.col, "out of memory");
    return v;
}

static struct json_object *parse_value(struct parser *p);
static bool parse_body(struct parser *p, struct json_object *obj, enum tok_kind end);

static struct json_object *new_string(struct parser *p)
{
    struct json_object *v =
        json_object_new_string_len(p->sbuf.p ? p->sbuf.p : "", (int)p->sbuf.len);
    if (!v)
        fail_at(p, p->t.line, p->t.col, "out of memory");
    return v;
}

static struct json_object *parse_list(struct parser *p)
{
    uint32_t l = p->t.line, c = p->t.col;
    struct json_object *arr = json_object_new_array();
    if (!arr) {
        fail_at(p, l, c, "out of memory");
        return NULL;
    }
    set_pos(arr, l, c, false);
    next(p);
    for (;;) {
        if (p->t.kind == T_RBRACK) {
            next(p);
            return arr;
        }
        struct json_object *v = parse_value(p);
        if (p->failed) {
            json_object_put(v);
            break;
        }
        json_object_array_add(arr, v);
        if (p->t.kind == T_COMMA) {
            next(p);
            if (p->json && p->t.kind == T_RBRACK) {
                fail_tok(p, "a value after ','");
                break;
            }
        } else if (p->t.kind != T_RBRACK) {
            fail_tok(p, "',' or ']'");
            break;
        }
    }
    json_object_put(arr);
    return NULL;
}

/* '{' body '}' as a value; the cursor is on '{'. */
static struct json_object *parse_object(struct parser *p, bool block)
{
    uint32_t l = p->t.line, c = p->t.col;
    struct json_object *obj = json_object_new_object();
    if (!obj) {
        fail_at(p, l, c, "out of memory");
        return NULL;
    }
    set_pos(obj, l, c, block);
    next(p);
    if (!parse_body(p, obj, T_RBRACE)) {
        json_object_put(obj);
        return NULL;
    }
    next(p); /* the '}' */
    return obj;
}

static struct json_object *parse_value(struct parser *p)
{
    if (++p->depth > CFG_MAX_DEPTH) {
        fail_at(p, p->t.line, p->t.col, "nested deeper than %d levels", CFG_MAX_DEPTH);
        return NULL;
    }
    uint32_t l = p->t.line, c = p->t.col;
    struct json_object *v = NULL;
    bool null = false;
    switch (p->t.kind) {
    case T_STRING:
        v = new_string(p);
        next(p);
        break;
    case T_NUMBER:
        v = parse_number(p);
        next(p);
        break;
    case T_LBRACK:
        v = parse_list(p);
        break;
    case T_LBRACE:
        v = parse_object(p, false);
        break;
    case T_IDENT:
        if (tok_is(p, "true") || tok_is(p, "false")) {
            v = json_object_new_boolean(tok_is(p, "true"));
            next(p);
            break;
        }
        if (p->json && tok_is(p, "null")) {
            null = true;
            next(p);
            break;
        }
        __attribute__((fallthrough));
    default:
        fail_tok(p, "a value");
        break;
    }
    p->depth--;
    if (p->failed) {
        json_object_put(v);
        return NULL;
    }
    if (!v && !null)
        fail_at(p, l, c, "out of memory");
    set_pos(v, l, c, false);
    return v;
}

/* Add key = v to obj with HCL's rules: a block under a key that already holds
 * a block (or a list of them) makes or extends a list; anything else
 * replaces. Takes v. */
static bool add_member(struct parser *p, struct json_object *obj, const char *key,
                       struct json_object *v, uint32_t l, uint32_t c)
{
    struct json_object *old = NULL;
    if (!p->json && cfg_is_block(v) && json_object_object_get_ex(obj, key, &old) && old) {
        if (cfg_is_block(old)) {
            struct json_object *arr = json_object_new_array();
            if (!arr) {
                json_object_put(v);
                fail_at(p, l, c, "out of memory");
                return false;
            }
            struct cfg_pos op = cfg_pos_of(old);
            set_pos(arr, op.line, op.col, false);
            json_object_array_add(arr, json_object_get(old));
            json_object_array_add(arr, v);
            json_object_object_add(obj, key, arr); /* drops the old reference */
            return true;
        }
        if (json_object_is_type(old, json_type_array) && json_object_array_length(old) > 0 &&
            cfg_is_block(json_object_array_get_idx(old, 0))) {
            json_object_array_add(old, v);
            return true;
        }
    }
    if (json_object_object_add(obj, key, v)) {
        json_object_put(v);
        fail_at(p, l, c, "out of memory");
        return false;
    }
    return true;
}

/* A key: an identifier or a quoted string; copied into key[]. */
static bool take_key(struct parser *p, char *key, size_t cap)
{
    const char *k;
    size_t n;
    if (p->t.kind == T_STRING) {
        k = p->sbuf.p ? p->sbuf.p : "";
        n = p->sbuf.len;
    } else if (p->t.kind == T_IDENT && !p->json) {
        k = p->s + p->t.start;
        n = p->t.len;
    } else {
        fail_tok(p, p->json ? "a quoted key" : "a key");
        return false;
    }
    if (n >= cap) {
        fail_at(p, p->t.line, p->t.col, "key longer than %zu bytes", cap - 1);
        return false;
    }
    memcpy(key, k, n);
    key[n] = '\0';
    return true;
}

/* Members until `end` (T_RBRACE or T_EOF), which is left current. */
static bool parse_body(struct parser *p, struct json_object *obj, enum tok_kind end)
{
    if (++p->depth > CFG_MAX_DEPTH) {
        fail_at(p, p->t.line, p->t.col, "nested deeper than %d levels", CFG_MAX_DEPTH);
        return false;
    }
    bool first = true;
    while (!p->failed && p->t.kind != end) {
        if (p->json && !first) {
            if (p->t.kind != T_COMMA) {
                fail_tok(p, "',' or '}'");
                break;
            }
            next(p);
        }
        first = false;
        char key[512];
        uint32_t l = p->t.line, c = p->t.col;
        if (p->t.kind == T_EOF) /* a block left open */
            break;
        if (!take_key(p, key, sizeof(key)))
            break;
        next(p);
        struct json_object *v = NULL;
        if (p->json) {
            if (p->t.kind != T_COLON) {
                fail_tok(p, "':'");
                break;
            }
            next(p);
            v = parse_value(p);
        } else if (p->t.kind == T_EQUAL) {
            next(p);
            v = parse_value(p);
        } else if (p->t.kind == T_LBRACE) {
            p->depth++;
            v = parse_object(p, true);
            p->depth--;
        } else if (p->t.kind == T_STRING || p->t.kind == T_IDENT) {
            /* key "a" "b" { body }: key = { a = { b = { body } } }, the
             * outermost object counting as the block (HCL1's labels). */
            char labels[4][256];
            int nl = 0;
            while (!p->failed && (p->t.kind == T_STRING || p->t.kind == T_IDENT)) {
                if (nl == 4) {
                    fail_at(p, p->t.line, p->t.col, "more than 4 block labels");
                    break;
                }
                if (!take_key(p, labels[nl], sizeof(labels[nl])))
                    break;
                nl++;
                next(p);
            }
            if (p->failed)
                break;
            if (p->t.kind != T_LBRACE) {
                fail_tok(p, "'{' after block labels");
                break;
            }
            p->depth += nl + 1;
            v = parse_object(p, nl == 0);
            p->depth -= nl + 1;
            for (int k = nl - 1; v && k >= 0; k--) {
                struct json_object *w = json_object_new_object();
                if (!w || json_object_object_add(w, labels[k], v)) {
                    json_object_put(w);
                    json_object_put(v);
                    v = NULL;
                    fail_at(p, l, c, "out of memory");
                    break;
                }
                set_pos(w, l, c, k == 0);
                v = w;
            }
        } else {
            fail_tok(p, "'=' or '{'");
            break;
        }
        if (p->failed) {
            json_object_put(v);
            break;
        }
        if (!v && !p->json) {
            fail_at(p, l, c, "out of memory");
            break;
        }
        if (!add_member(p, obj, key, v, l, c))
            break;
        if (!p->json && p->t.kind == T_COMMA)
            next(p);
    }
    p->depth--;
    if (!p->failed && p->t.kind != end)
        fail_tok(p, end == T_EOF ? "a key or end of file" : "'}'");
    return !p->failed;
}

struct json_object *cfg_parse(const char *text, size_t len, enum cfg_format fmt, char *err,
                              size_t errcap)
{
    struct parser p = {.s = text ? text : "",
                       .n = text ? len : 0,
                       .line = 1,
                       .col = 1,
                       .json = fmt == CFG_FMT_JSON,
                       .err = err,
                       .errcap = errcap};
    cn_buf_init(&p.sbuf);
    if (errcap)
        err[0] = '\0';
    struct json_object *root = NULL;
    if (memchr(p.s, '\0', p.n)) {
        const char *z = memchr(p.s, '\0', p.n);
        uint32_t line = 1, col = 1;
        for (const char *q = p.s; q < z; q++)
            *q == '\n' ? (line++, col = 1) : col++;
        fail_at(&p, line, col, "NUL byte in the file");
        goto out;
    }
    next(&p);
    if (p.json) {
        if (p.t.kind != T_LBRACE) {
            fail_tok(&p, "'{' (a JSON config file is one object)");
            goto out;
        }
        root = parse_object(&p, false);
        if (root && p.t.kind != T_EOF) {
            fail_tok(&p, "end of file");
            json_object_put(root);
            root = NULL;
        }
    } else {
        root = json_object_new_object();
        if (!root) {
            fail_at(&p, 1, 1, "out of memory");
            goto out;
        }
        set_pos(root, 1, 1, false);
        if (!parse_body(&p, root, T_EOF)) {
            json_object_put(root);
            root = NULL;
        }
    }
out:
    cn_buf_free(&p.sbuf);
    return p.failed ? NULL : root;
}

/* ---- HCL output ------------------------------------------------------------------ */

static int put_quoted(struct cn_buf *b, const char *s, size_t n)
{
    int rc = cn_buf_putc(b, '"');
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = cn_buf_putc(b, '\\') || cn_buf_putc(b, (char)c);
        else if (c == '\n')
            rc = cn_buf_puts(b, "\\n");
        else if (c < 0x20 || c == 0x7f)
            rc = cn_buf_printf(b, "\\u%04x", c);
        else
            rc = cn_buf_putc(b, (char)c);
    }
    return rc || cn_buf_putc(b, '"') ? CN_ENOMEM : 0;
}

static int format_value(struct json_object *v, struct cn_buf *b, int indent);

static int format_members(struct json_object *obj, struct cn_buf *b, int indent)
{
    int rc = 0;
    json_object_object_foreach(obj, k, v)
    {
        for (int i = 0; !rc && i < indent; i++)
            rc = cn_buf_puts(b, "  ");
        rc = rc || put_quoted(b, k, strlen(k)) || cn_buf_puts(b, " = ") ||
             format_value(v, b, indent) || cn_buf_putc(b, '\n');
        if (rc)
            return CN_ENOMEM;
    }
    return 0;
}

static int format_value(struct json_object *v, struct cn_buf *b, int indent)
{
    int rc = 0;
    switch (json_object_get_type(v)) {
    case json_type_null:
        return CN_EINVAL; /* HCL has no null */
    case json_type_boolean:
        return cn_buf_puts(b, json_object_get_boolean(v) ? "true" : "false") ? CN_ENOMEM : 0;
    case json_type_int:
        return cn_buf_printf(b, "%lld", (long long)json_object_get_int64(v)) ? CN_ENOMEM : 0;
    case json_type_double: {
        char num[64];
        double d = json_object_get_double(v);
        snprintf(num, sizeof(num), "%.17g", d);
        if (!strpbrk(num, ".eE")) /* keep it a float */
            strncat(num, ".0", sizeof(num) - strlen(num) - 1);
        return cn_buf_puts(b, num) ? CN_ENOMEM : 0;
    }
    case json_type_string:
        return put_quoted(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    case json_type_array: {
        rc = cn_buf_putc(b, '[');
        size_t n = json_object_array_length(v);
        for (size_t i = 0; !rc && i < n; i++) {
            if (i)
                rc = cn_buf_puts(b, ", ");
            if (!rc)
                rc = format_value(json_object_array_get_idx(v, i), b, indent);
        }
        return rc || cn_buf_putc(b, ']') ? (rc ? rc : CN_ENOMEM) : 0;
    }
    case json_type_object:
        rc = cn_buf_puts(b, "{\n");
        if (!rc)
            rc = format_members(v, b, indent + 1);
        for (int i = 0; !rc && i < indent; i++)
            rc = cn_buf_puts(b, "  ");
        return rc || cn_buf_putc(b, '}') ? (rc ? rc : CN_ENOMEM) : 0;
    }
    return CN_EINVAL;
}

int cfg_format_hcl(struct json_object *tree, struct cn_buf *out)
{
    if (!json_object_is_type(tree, json_type_object))
        return CN_EINVAL;
    return format_members(tree, out, 0);
}

enum cfg_format cfg_format_of_path(const char *path)
{
    size_t n = strlen(path);
    if (n >= 4 && !strcmp(path + n - 4, ".hcl"))
        return CFG_FMT_HCL;
    if (n >= 5 && !strcmp(path + n - 5, ".json"))
        return CFG_FMT_JSON;
    return CFG_FMT_AUTO;
}
