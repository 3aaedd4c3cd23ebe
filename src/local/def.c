/* local/def.c: struct local_svc_def. Its own file so that a user of the
 * struct alone (the api/ decoders and their tests) links no more than state/. */
#include <string.h>

#include "base/mem.h"
#include "local/local.h"

void local_svc_def_free(struct local_svc_def *d)
{
    if (!d)
        return;
    state_service_clear(&d->svc);
    for (size_t i = 0; i < d->nchecks; i++)
        state_check_clear(&d->checks[i]);
    cn_free(d->checks);
    if (d->sidecar) {
        local_svc_def_free(d->sidecar);
        cn_free(d->sidecar);
    }
    memset(d, 0, sizeof(*d));
}
