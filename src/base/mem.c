#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

static long fail_after = -1;

static int should_fail(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after == 0)
        return 1;
    fail_after--;
    return 0;
}

int cn_mem_fail_now(void)
{
    return should_fail();
}

void cn_mem_fail_after(long n)
{
    fail_after = n;
}

void *cn_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *cn_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *cn_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void cn_free(void *p)
{
    free(p);
}

char *cn_strndup(const char *s, size_t n)
{
    char *d = cn_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cn_strdup(const char *s)
{
    return cn_strndup(s, strlen(s));
}
