/* api/acl_repl.h: the primary's answer to a secondary's replication query
 * (GET /v1/internal/acl/replicate), decoded (api/acl_repl.c; fuzzed by
 * fuzz_acl_repl_answer). */
#ifndef CN_API_ACL_REPL_H
#define CN_API_ACL_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl/repl.h"

struct json_object;

/* The objects point into doc (owned). */
struct api_acl_repl_answer {
    struct json_object *doc;
    struct acl_repl_obj *objs;
    size_t n;
    uint64_t index;
};

/* {"Index": n, "Objects": [{"Kind": 1..3, "ID", "Name", "Expires", "Def"}]}:
 * 0 and *out, CN_EINVAL (malformed: a missing or mistyped field, an empty or
 * over-long ID (more than 128 bytes), a NUL inside an ID or a name, a token
 * when tokens is false), or CN_ENOMEM. */
int api_acl_repl_parse(const void *body, size_t len, bool tokens, struct api_acl_repl_answer *out);
void api_acl_repl_answer_free(struct api_acl_repl_answer *a);

#endif
