/* base/regex.c: measure a user's POSIX extended pattern before regcomp
 * (regex.h says why). One pass over the pattern with a stack of groups; each
 * group keeps the expanded size of what it holds so far and of its last
 * atom, which a following repetition multiplies. Sizes saturate just above
 * the limit, so no product overflows. The scan only has to be conservative
 * for what regcomp accepts: what it mis-sizes in a malformed pattern, regcomp
 * refuses afterwards. */
#include "base/regex.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CAP ((uint64_t)CN_REGEX_MAX_NODES + 1)

struct level {
    uint64_t sum;  /* expanded size of this group's contents so far */
    uint64_t last; /* size of the last atom (what a repetition applies to) */
};

static uint64_t sat(uint64_t v)
{
    return v > CAP ? CAP : v;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a > CAP / b ? CAP : sat(a * b);
}

static void atom(struct level *l, uint64_t n)
{
    l->last = sat(n);
    l->sum = sat(l->sum + l->last);
}

/* Replace the last atom by `times` copies of it plus `extra` nodes. */
static void repeat(struct level *l, uint64_t times, uint64_t extra)
{
    uint64_t grown = sat(sat_mul(l->last, times) + extra);
    l->sum = sat(l->sum - l->last + grown);
    l->last = grown;
}

/* A bound of {n,m}: up to four digits (more is over the limit anyway). */
static const char *bound(const char *p, long *v)
{
    *v = -1;
    if (*p < '0' || *p > '9')
        return p;
    long n = 0;
    while (*p >= '0' && *p <= '9') {
        if (n <= CN_REGEX_MAX_REPEAT)
            n = n * 10 + (*p - '0');
        p++;
    }
    *v = n;
    return p;
}

/* After '{': parse "n}", "n,}" or "n,m}"; returns the position after '}' or
 * NULL when it is not a repetition (glibc then reads '{' as a literal or
 * refuses the pattern). */
static const char *brace(const char *p, long *lo, long *hi, int *open)
{
    p = bound(p, lo);
    if (*lo < 0)
        return NULL;
    *hi = *lo;
    *open = 0;
    if (*p == ',') {
        p = bound(p + 1, hi);
        if (*hi < 0)
            *open = 1;
    }
    return *p == '}' ? p + 1 : NULL;
}

/* Past a bracket expression starting at '[' (handles "[]...]", "[^]...]",
 * "[:class:]", "[.coll.]", "[=equiv=]"); at the NUL when it is unterminated. */
static const char *bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            char kind = p[1];
            const char *q = p + 2;
            while (*q && !(q[0] == kind && q[1] == ']'))
                q++;
            if (!*q)
                return q;
            p = q + 2;
            continue;
        }
        p++;
    }
    return *p ? p + 1 : p;
}

int cn_regex_check(const char *pat, char *why, size_t cap)
{
    struct level st[CN_REGEX_MAX_DEPTH + 1];
    size_t depth = 0;
    st[0] = (struct level){0, 0};
    const char *p = pat;
    while (*p) {
        struct level *l = &st[depth];
        switch (*p) {
        case '(':
            if (depth == CN_REGEX_MAX_DEPTH) {
                snprintf(why, cap, "expression nests too deeply");
                return -1;
            }
            st[++depth] = (struct level){0, 0};
            p++;
            break;
        case ')':
            if (depth == 0) { /* glibc reads an unmatched ')' as itself */
                atom(l, 1);
            } else {
                uint64_t g = sat(l->sum + 1);
                depth--;
                atom(&st[depth], g);
            }
            p++;
            break;
        case '|':
            l->sum = sat(l->sum + 1);
            l->last = 0;
            p++;
            break;
        case '*':
        case '?':
            repeat(l, 1, 1);
            p++;
            break;
        case '+': /* glibc copies the operand: a+ is aa* */
            repeat(l, 2, 1);
            p++;
            break;
        case '{': {
            long lo, hi;
            int open;
            const char *end = brace(p + 1, &lo, &hi, &open);
            if (!end) {
                atom(l, 1);
                p++;
                break;
            }
            if (lo > CN_REGEX_MAX_REPEAT || (!open && hi > CN_REGEX_MAX_REPEAT)) {
                snprintf(why, cap, "invalid repeat count: `%.*s`", (int)(end - p), p);
                return -1;
            }
            uint64_t times = open ? (uint64_t)lo + 1 : (uint64_t)(hi > lo ? hi : lo);
            repeat(l, times ? times : 1, 1);
            p = end;
            break;
        }
        case '\\':
            if (p[1] >= '1' && p[1] <= '9') {
                snprintf(why, cap, "invalid escape sequence: `\\%c`", p[1]);
                return -1;
            }
            atom(l, 1);
            p += p[1] ? 2 : 1;
            break;
        case '[':
            atom(l, 1);
            p = bracket(p);
            break;
        default:
            atom(l, 1);
            p++;
            break;
        }
        if (st[depth].sum > CN_REGEX_MAX_NODES) {
            snprintf(why, cap, "expression too large");
            return -1;
        }
    }
    /* Unclosed groups still count (regcomp refuses them, but sum them up). */
    while (depth > 0) {
        uint64_t g = sat(st[depth].sum + 1);
        depth--;
        atom(&st[depth], g);
    }
    if (st[0].sum > CN_REGEX_MAX_NODES) {
        snprintf(why, cap, "expression too large");
        return -1;
    }
    return 0;
}

int cn_regcomp(regex_t *re, const char *pat, int cflags, char *why, size_t cap)
{
    if (cn_regex_check(pat, why, cap))
        return -1;
    int rc = regcomp(re, pat, cflags);
    if (rc) {
        regerror(rc, re, why, cap);
        return -1;
    }
    return 0;
}
