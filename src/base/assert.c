/* base/assert.c: the failure path of CN_ASSERT / CN_INVARIANT. */
#include <stdio.h>
#include <stdlib.h>

#include "base/assert.h"

_Noreturn void cn__assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
