/* base/json.h: strict JSON input through json-c, and the lookup rules Consul
 * clients rely on: object keys match case-insensitively and snake_case matches
 * CamelCase ("service_id" == "ServiceID" == "serviceid").
 * Values returned are borrowed from the parsed tree. */
#ifndef CN_JSON_H
#define CN_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Parse exactly one JSON value from p[0..n) (trailing whitespace allowed,
 * anything else rejected). On error returns NULL and writes a message with
 * the byte offset into err (e.g. "invalid JSON at offset 17: unexpected ']'"). */
struct json_object *cn_json_parse(const char *p, size_t n, char *err, size_t errcap);

/* Key comparison ignoring case and underscores/dashes: "Service_ID" ~ "serviceid". */
int cn_json_key_eq(const char *a, const char *b);
/* Object member matching `name` by cn_json_key_eq; NULL if absent or obj not an
 * object. A JSON null member is returned as NULL too. */
struct json_object *cn_json_get(struct json_object *obj, const char *name);

/* Typed getters. Return 0 when absent (out untouched), 1 when present and
 * valid, CN_EINVAL when present with the wrong type/range. */
int cn_json_get_str(struct json_object *obj, const char *name, const char **out);
int cn_json_get_u64(struct json_object *obj, const char *name, uint64_t *out);
int cn_json_get_i64(struct json_object *obj, const char *name, int64_t *out);
int cn_json_get_bool(struct json_object *obj, const char *name, int *out);
/* A Go duration string ("10s") or a number of nanoseconds. */
int cn_json_get_dur(struct json_object *obj, const char *name, int64_t *ns);

#endif
