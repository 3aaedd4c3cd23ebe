#include "base/dur.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"

struct unit {
    const char *name;
    int64_t ns;
};

static const struct unit units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000},
    /* U+03BC greek mu */ {"ms", 1000000},
    {"s", 1000000000LL},
    {"m", 60000000000LL},
    {"h", 3600000000000LL},
};

int cn_dur_parse(const char *s, int64_t *out)
{
    if (!s || !*s)
        return CN_EINVAL;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!*s)
        return CN_EINVAL;
    /* Accumulate in long double-free integer math: whole part and fraction. */
    unsigned __int128 total = 0;
    while (*s) {
        if (!((*s >= '0' && *s <= '9') || *s == '.'))
            return CN_EINVAL;
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0, pre = 0;
        while (*s >= '0' && *s <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                return CN_EINVAL;
            whole = whole * 10 + (uint64_t)(*s++ - '0');
            digits++;
            pre++;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                if (scale < 1000000000000000000ULL) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                digits++;
            }
        }
        if (digits == 0)
            return CN_EINVAL;
        const struct unit *u = NULL;
        size_t ulen = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].name);
            if (strncmp(s, units[i].name, l) == 0 && l > ulen) {
                u = &units[i];
                ulen = l;
            }
        }
        if (!u)
            return CN_EINVAL; /* Go: missing unit */
        s += ulen;
        total += (unsigned __int128)whole * (uint64_t)u->ns;
        total += (unsigned __int128)frac * (uint64_t)u->ns / scale;
        if (total > (unsigned __int128)INT64_MAX)
            return CN_EINVAL;
        (void)pre;
    }
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

/* Format v (< 10^prec units) as "int.frac" with trailing zeros removed. */
static size_t fmt_frac(char *out, size_t cap, uint64_t v, uint64_t unit, const char *suffix)
{
    uint64_t whole = v / unit, frac = v % unit;
    char fb[24] = "";
    if (frac) {
        /* Digits of frac, left-padded with zeros to the width of unit-1. */
        size_t l = 1;
        fb[0] = '.';
        for (uint64_t u = unit / 10; u >= 1 && l < sizeof(fb) - 1; u /= 10)
            fb[l++] = (char)('0' + (frac / u) % 10);
        fb[l] = '\0';
        while (l > 1 && fb[l - 1] == '0')
            fb[--l] = '\0';
    }
    int n = snprintf(out, cap, "%llu%s%s", (unsigned long long)whole, fb, suffix);
    return n < 0 ? 0 : (size_t)n;
}

size_t cn_dur_format(int64_t ns, char *out, size_t cap)
{
    char tmp[64];
    size_t n = 0;
    const char *sign = ns < 0 ? "-" : "";
    uint64_t v = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (v == 0)
        n = (size_t)snprintf(tmp, sizeof(tmp), "0s");
    else if (v < 1000ULL)
        n = (size_t)snprintf(tmp, sizeof(tmp),
                             "%llu"
                             "ns",
                             (unsigned long long)v);
    else if (v < 1000000ULL)
        n = fmt_frac(tmp, sizeof(tmp), v, 1000ULL, "\xc2\xb5s");
    else if (v < 1000000000ULL)
        n = fmt_frac(tmp, sizeof(tmp), v, 1000000ULL, "ms");
    else {
        uint64_t h = v / 3600000000000ULL;
        uint64_t rem = v % 3600000000000ULL;
        uint64_t m = rem / 60000000000ULL;
        uint64_t sns = rem % 60000000000ULL;
        char secs[40];
        fmt_frac(secs, sizeof(secs), sns, 1000000000ULL, "s");
        if (h)
            n = (size_t)snprintf(tmp, sizeof(tmp), "%lluh%llum%s", (unsigned long long)h,
                                 (unsigned long long)m, secs);
        else if (m)
            n = (size_t)snprintf(tmp, sizeof(tmp), "%llum%s", (unsigned long long)m, secs);
        else
            n = (size_t)snprintf(tmp, sizeof(tmp), "%s", secs);
    }
    int w = snprintf(out, cap, "%s%s", sign, tmp);
    (void)n;
    return w < 0 ? 0 : (size_t)w;
}
