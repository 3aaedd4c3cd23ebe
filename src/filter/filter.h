/* filter/filter.h: Consul's `?filter=` expressions (the go-bexpr language as
 * Consul vendors it, v0.1.2; website/content/api-docs/features/filtering.mdx).
 *
 * A pure module: a parser (text -> AST), a validator against a schema (which
 * selectors an endpoint allows, with which operators, and the coercion of
 * each value to the selector's type) and an evaluator over the JSON object an
 * endpoint emits for one item (json-c). No I/O, no globals, no clock.
 *
 * Grammar (go-bexpr grammar.peg):
 *   expr      := or
 *   or        := and (WS "or" WS or)?
 *   and       := not (WS "and" WS and)?
 *   not       := "not" WS not | "(" WS? or WS? ")" | match
 *   match     := selector ("==" | "!=" | "contains" | "not contains" |
 *                          "matches" | "not matches") value
 *              | selector "is" ["not"] "empty"
 *              | value ("in" | "not in") selector
 *   selector  := ident ("." ident | "[" string "]")*,  ident = [a-zA-Z][a-zA-Z0-9_]*
 *   value     := selector (its text) | number | "go string" | `raw string`
 *
 * Semantics (go-bexpr evaluate.go): a list in the middle of a selector
 * (Checks.Status) matches when any element does; a map key that is absent
 * makes ==, `is not empty` and `in` false and the others true; `in` and
 * `contains` are substring tests on strings, element tests on lists and key
 * tests on maps. `matches` uses POSIX extended regular expressions (regcomp),
 * not Go's RE2: docs/consul-compat.md lists the differences. */
#ifndef CN_FILTER_H
#define CN_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* The type of a selectable field, as go-bexpr derives it from the Go type. */
enum filter_type {
    FILTER_STR,         /* ==, !=, in, not in, matches, not matches */
    FILTER_BOOL,        /* ==, != (value parsed like strconv.ParseBool) */
    FILTER_INT,         /* ==, != (strconv.ParseInt base 0) */
    FILTER_STR_LIST,    /* in, not in, is empty, is not empty */
    FILTER_STR_MAP,     /* the same (in: key membership); any key selects a string */
    FILTER_STRUCT,      /* no operator; fields in `sub` */
    FILTER_STRUCT_LIST, /* is empty, is not empty; fields in `sub` (any element) */
    FILTER_STRUCT_MAP,  /* like FILTER_STR_MAP; any key selects sub[0], a FILTER_STRUCT row */
};

/* One field of a schema; a schema is an array ended by a row with name NULL.
 * Names are the JSON keys the endpoint writes (Consul's Go field names). */
struct filter_field {
    const char *name;
    enum filter_type type;
    const struct filter_field *sub; /* STRUCT, STRUCT_LIST: fields; STRUCT_MAP: element row */
};

struct filter;

/* Parse and validate `expr` (len bytes, need not be NUL-terminated) against
 * `schema` (borrowed; must outlive the filter). Returns 0 with *out set,
 * CN_EINVAL with go-bexpr's message in err (e.g. `Selector "Foo" is not
 * valid`, without Consul's "Failed to create boolean expression evaluator: "
 * prefix), or CN_ENOMEM. *out is NULL on error. */
int filter_new(const char *expr, size_t len, const struct filter_field *schema, struct filter **out,
               char *err, size_t errcap);

/* Does `item` (a JSON object, borrowed) match? Absent or null members count
 * as their type's zero value (Go's). */
bool filter_match(const struct filter *f, struct json_object *item);

void filter_free(struct filter *f); /* NULL ok */

#endif
