/* cli/output.c: the two table layouts Consul's commands print (the columnize
 * library and Go's text/tabwriter) and Go's JSON string escaping, so our
 * output lines up byte for byte with what scripts written for consul expect. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "cli/cli_int.h"

/* Display width as Go's fmt and tabwriter count it: UTF-8 code points. */
static size_t runes(const char *s, size_t n)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            r++;
    return r;
}

static void pad(FILE *f, size_t n)
{
    while (n--)
        fputc(' ', f);
}

/* columnize trims the spaces around each cell. */
static void cell_bounds(const char *s, size_t n, size_t *off, size_t *len)
{
    size_t a = 0, b = n;
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    *off = a;
    *len = b - a;
}

#define MAX_COLS 16

void cli__columnize(FILE *f, const char *const *rows, size_t nrows)
{
    size_t width[MAX_COLS] = {0};
    for (size_t r = 0; r < nrows; r++) {
        const char *p = rows[r];
        for (size_t col = 0; col < MAX_COLS; col++) {
            size_t n = strcspn(p, "\x1f"), off, len;
            cell_bounds(p, n, &off, &len);
            size_t w = runes(p + off, len);
            if (w > width[col])
                width[col] = w;
            if (!p[n])
                break;
            p += n + 1;
        }
    }
    for (size_t r = 0; r < nrows; r++) {
        const char *p = rows[r];
        for (size_t col = 0; col < MAX_COLS; col++) {
            size_t n = strcspn(p, "\x1f"), off, len;
            cell_bounds(p, n, &off, &len);
            fwrite(p + off, 1, len, f);
            if (!p[n] || col == MAX_COLS - 1)
                break;
            pad(f, width[col] - runes(p + off, len));
            fputs("  ", f);
            p += n + 1;
        }
        fputc('\n', f);
    }
}

/* ---- tabwriter ---------------------------------------------------------------- */

struct tw_line {
    const char *p;
    size_t n;
    size_t ncells; /* cells terminated by '\t' */
    size_t width[MAX_COLS];
};

/* Go's tabwriter: a column block is a run of consecutive lines that all have
 * a terminated cell in that column; its width is the widest cell + padding,
 * and within each block the next column is laid out the same way. */
static void tw_layout(struct tw_line *l, size_t from, size_t to, size_t col)
{
    if (col >= MAX_COLS)
        return;
    size_t i = from;
    while (i < to) {
        if (l[i].ncells <= col) {
            i++;
            continue;
        }
        size_t j = i, w = 0;
        for (; j < to && l[j].ncells > col; j++) {
            const char *c = l[j].p;
            for (size_t k = 0; k < col; k++)
                c = strchr(c, '\t') + 1;
            size_t cw = runes(c, strcspn(c, "\t"));
            if (cw > w)
                w = cw;
        }
        for (size_t k = i; k < j; k++)
            l[k].width[col] = w + 6;
        tw_layout(l, i, j, col + 1);
        i = j;
    }
}

int cli__tabwrite(struct cn_buf *out, const char *text, size_t n)
{
    size_t nl = 1;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\n' && i + 1 < n)
            nl++;
    struct tw_line *l = cn_calloc(nl, sizeof(*l));
    if (!l)
        return CN_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n && k < nl;) {
        size_t e = i;
        while (e < n && text[e] != '\n')
            e++;
        l[k].p = text + i;
        l[k].n = e - i;
        for (size_t q = i; q < e; q++)
            if (text[q] == '\t' && l[k].ncells < MAX_COLS)
                l[k].ncells++;
        k++;
        i = e + 1;
    }
    tw_layout(l, 0, k, 0);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        const char *c = l[i].p, *end = l[i].p + l[i].n;
        for (size_t col = 0; col < l[i].ncells && rc == 0; col++) {
            const char *t = memchr(c, '\t', (size_t)(end - c));
            size_t cw = runes(c, (size_t)(t - c));
            rc = cn_buf_append(out, c, (size_t)(t - c));
            for (size_t s = cw; rc == 0 && s < l[i].width[col]; s++)
                rc = cn_buf_putc(out, ' ');
            c = t + 1;
        }
        if (rc == 0)
            rc = cn_buf_append(out, c, (size_t)(end - c));
        if (rc == 0 && (i + 1 < k || (n > 0 && text[n - 1] == '\n')))
            rc = cn_buf_putc(out, '\n');
    }
    cn_free(l);
    return rc;
}

int cli__go_json_str(struct cn_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = cn_buf_putc(b, '"');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"':
            rc = cn_buf_puts(b, "\\\"");
            break;
        case '\\':
            rc = cn_buf_puts(b, "\\\\");
            break;
        case '\n':
            rc = cn_buf_puts(b, "\\n");
            break;
        case '\r':
            rc = cn_buf_puts(b, "\\r");
            break;
        case '\t':
            rc = cn_buf_puts(b, "\\t");
            break;
        default:
            /* Go escapes <, > and & for HTML safety, and U+2028/U+2029. */
            if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&') {
                char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
                rc = cn_buf_append(b, e, 6);
            } else if (ch == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                       ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
                rc = cn_buf_puts(b, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
                i += 2;
            } else {
                rc = cn_buf_putc(b, (char)ch);
            }
        }
    }
    return rc ? rc : cn_buf_putc(b, '"');
}
