/* libFuzzer target for the intention inputs (api/intention.c): a request body
 * in both forms (create/update and PUT .../exact) and a source/destination
 * name ("name" or "default/name"). Beyond "no crash, no leak": every refusal
 * carries a message, and a name that parses points inside the input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[600];
    for (int exact = 0; exact < 2; exact++) {
        err[0] = 0;
        int rc = api__ixn_check_body((const char *)data, size, exact != 0, err, sizeof(err));
        if (rc && ((rc != CN_EINVAL && rc != CN_ENOMEM) || !err[0]))
            abort();
    }
    char *s = cn_strndup((const char *)data, size);
    if (!s)
        return 0;
    const char *name = NULL;
    err[0] = 0;
    int rc = api__ixn_entry_name(s, &name, err, sizeof(err));
    if (rc ? (rc != CN_EINVAL || !err[0]) : (!name || name < s || name > s + strlen(s)))
        abort();
    cn_free(s);
    return 0;
}
