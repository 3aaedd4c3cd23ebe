/* libFuzzer target for the service mesh's inputs: an intention body in both
 * forms (api/intention.c: create/update and PUT .../exact), a source or
 * destination name ("name" or "default/name"), a SPIFFE ID
 * (connect/ca.c), a CA configuration (connect/ca_doc.c) and a CA record as
 * the state holds it. Beyond "no crash, no leak": every refusal carries a
 * message, a parsed name points inside the input, a SPIFFE ID that parses
 * has a kind and a trust domain, and a CA record that decodes re-encodes to
 * bytes that decode again to the same encoding. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "connect/ca.h"
#include "connect/ca_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ca_record(const uint8_t *data, size_t size)
{
    char err[256];
    struct connect_ca_doc d, e;
    if (connect_ca_doc_decode(data, size, &d, err, sizeof(err)))
        return;
    struct cn_buf a = CN_BUF_INIT, b = CN_BUF_INIT;
    if (connect_ca_doc_encode(&d, &a) || connect_ca_doc_decode(a.p, a.len, &e, err, sizeof(err)) ||
        connect_ca_doc_encode(&e, &b) || a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
        abort();
    connect_ca_doc_clear(&d);
    connect_ca_doc_clear(&e);
    cn_buf_free(&a);
    cn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[600];
    for (int exact = 0; exact < 2; exact++) {
        err[0] = 0;
        int rc = api__ixn_check_body((const char *)data, size, exact != 0, err, sizeof(err));
        if (rc && ((rc != CN_EINVAL && rc != CN_ENOMEM) || !err[0]))
            abort();
    }
    struct connect_ca_config cc;
    void *keep = NULL;
    err[0] = 0;
    int rc = connect_ca_config_parse((const char *)data, size, &cc, &keep, err, sizeof(err));
    if (rc ? (rc != CN_EINVAL || !err[0]) : (cc.rotate && (!cc.private_key || !cc.root_cert)))
        abort();
    json_object_put(keep);
    ca_record(data, size);
    char *s = cn_strndup((const char *)data, size);
    if (!s)
        return 0;
    const char *name = NULL;
    err[0] = 0;
    rc = api__ixn_entry_name(s, &name, err, sizeof(err));
    if (rc ? (rc != CN_EINVAL || !err[0]) : (!name || name < s || name > s + strlen(s)))
        abort();
    struct connect_spiffe id;
    err[0] = 0;
    rc = connect_spiffe_parse(s, &id, err, sizeof(err));
    if (rc ? (rc != CN_EINVAL || !err[0]) : (!id.kind || !id.trust_domain[0]))
        abort();
    cn_free(s);
    return 0;
}
