/* api/decode_int.h: shared among the body decoders of api/ (decode_*.c),
 * nobody else. Every helper that takes (err, cap) returns 0, CN_EINVAL with a
 * one-line message written to err (Consul's text), or CN_ENOMEM ("out of
 * memory"); what it allocated is owned by the output it filled, which the
 * caller releases on error too. */
#ifndef CN_API_DECODE_INT_H
#define CN_API_DECODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "api/decode.h"
#include "state/state.h"

#define API_DECODE_FAILED "Request decode failed: "

/* ---- decode_json.c ---------------------------------------------------------- */

/* Write the message; return CN_EINVAL. */
int api__fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Write "out of memory"; return CN_ENOMEM. */
int api__oom(char *err, size_t cap);
/* Go's name of a JSON value's type ("string", "number", ...), for messages. */
const char *api__type_name(struct json_object *v);
/* The body as a JSON object (NULL and err written when it is not one, or
 * carries a "\u0000" escape). The caller puts the object. */
struct json_object *api__parse_object(const char *body, size_t len, char *err, size_t cap);
/* Field getters; keys match as cn_json_get does. A string absent is "" (NULL
 * when null_ok); a bool/int/duration absent leaves *dst unchanged; an int
 * outside [lo, hi] is refused. */
int api__get_str(struct json_object *o, const char *key, char **dst, bool null_ok, char *err,
                 size_t cap);
int api__get_bool(struct json_object *o, const char *key, bool *dst, char *err, size_t cap);
int api__get_int(struct json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *dst,
                 char *err, size_t cap);
int api__get_dur(struct json_object *o, const char *key, int64_t *ns, char *err, size_t cap);
/* An array of strings (absent: NULL, 0); free with api__free_strv. */
int api__get_strv(struct json_object *o, const char *key, char ***dst, size_t *n, char *err,
                  size_t cap);
void api__free_strv(char **v, size_t n);
/* An object of strings -> a sorted state_map (state_map_clear). */
int api__get_map(struct json_object *o, const char *key, struct state_map *m, char *err,
                 size_t cap);
/* *dst = a copy of v ("" for NULL), the old *dst freed. */
int api__set_str(char **dst, const char *v, char *err, size_t cap);
/* Consul's metadata rules (structs.go validateMetaPair); node metadata may
 * carry consul-network-segment. */
int api__validate_meta(const struct state_map *m, bool node, char *err, size_t cap);
/* "0.0.0.0", "::", "[::]": refused as a service or tagged address. */
bool api__is_any_addr(const char *a);

/* ---- decode_check.c ------------------------------------------------------------ */

/* What a check definition carried besides the state fields, for validation. */
struct api__chk_extra {
    bool script; /* ScriptArgs/Args/Script */
    bool other;  /* GRPC/UDP/H2PING/Docker/OSService: not run by cairn */
    const char *other_name;
    bool alias;
    bool meaningful; /* anything set at all (Consul drops empty checks) */
};

/* The check-type fields (HTTP, TCP, TTL, Interval, ...) of the object o into
 * c, what else it carried into *x. */
int api__decode_check_type(struct json_object *o, struct state_check *c, struct api__chk_extra *x,
                           char *err, size_t cap);
/* The type a check's fields imply (STATE_CHECK_*), or "". */
const char *api__derive_type(const struct state_check *c, const struct api__chk_extra *x);
/* Why the check cannot be registered (without "Invalid check: "), or NULL. */
const char *api__validate_check_type(const struct state_check *c, const struct api__chk_extra *x);
/* An agent-style check object (CheckDefinition or a service's CheckType);
 * ID/Name/Status defaults are the caller's. */
int api__decode_agent_check(struct json_object *o, struct state_check *c, struct api__chk_extra *x,
                            char *err, size_t cap);

/* ---- decode_service.c ------------------------------------------------------------ */

/* Fields common to the agent's ServiceDefinition and the catalog's
 * NodeService into s (zeroed first); the name is under name_key. */
int api__decode_service_common(struct json_object *o, const char *name_key, struct state_service *s,
                               char *err, size_t cap);
/* The body's "Check" (*one) and "Checks" array (*many, *nmany entries), and,
 * when there are any, a zeroed array with room for all of them in *checks. */
int api__check_list(struct json_object *o, struct json_object **one, struct json_object **many,
                    size_t *nmany, struct state_check **checks, char *err, size_t errcap);

#endif
