/* libFuzzer target for the prepared query definition decoder (api/query.h,
 * api/query_def.c). Beyond "no crash, no leak": a definition that decodes
 * encodes to a canonical stored form that decodes again to the same bytes
 * (after one more round when it held invalid UTF-8),
 * and a template renders (or refuses) for a name without crashing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_pq q;
    char err[512];
    int status = 0;
    int rc = api__pq_decode((const char *)data, size, "dc1", &q, &status, err, sizeof(err));
    if (rc) {
        if ((rc != CN_EINVAL && rc != CN_ENOMEM) || !err[0] || (status != 400 && status != 500))
            abort();
        return 0;
    }
    struct cn_buf a = CN_BUF_INIT, b = CN_BUF_INIT;
    if (api__pq_encode_def(&q, &a))
        abort();
    struct state_query sq = {.id = (char *)"id",
                             .name = q.name,
                             .session = q.session,
                             .is_template = *q.tmpl_type != '\0',
                             .def = (uint8_t *)a.p,
                             .def_len = a.len};
    struct api_pq back;
    if (api__pq_from_state(&sq, &back))
        abort();
    if (api__pq_encode_def(&back, &b))
        abort();
    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
        /* One difference is allowed: an invalid UTF-8 byte is stored as Go
         * encodes it ("\ufffd"), which decodes to U+FFFD, written raw the
         * next time. From there the form is a fixed point. */
        if (!memmem(a.p, a.len, "\\ufffd", 6))
            abort();
        struct state_query sq2 = sq;
        sq2.def = (uint8_t *)b.p;
        sq2.def_len = b.len;
        struct api_pq again;
        struct cn_buf c = CN_BUF_INIT;
        if (api__pq_from_state(&sq2, &again) || api__pq_encode_def(&again, &c) || c.len != b.len ||
            memcmp(c.p, b.p, b.len) != 0)
            abort();
        api__pq_clear(&again);
        cn_buf_free(&c);
    }
    if (*q.tmpl_type) {
        struct api_pq r;
        char name[80];
        size_t n = strlen(q.name) < 40 ? strlen(q.name) : 40;
        memcpy(name, q.name, n);
        memcpy(name + n, "-db-customer-primary", 21);
        if (api__pq_render(&q, name, &r, err, sizeof(err)) == 0)
            api__pq_clear(&r);
    }
    api__pq_clear(&back);
    api__pq_clear(&q);
    cn_buf_free(&a);
    cn_buf_free(&b);
    return 0;
}
