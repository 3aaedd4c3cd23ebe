/* config/hcl.h: the text of Consul configuration files, HCL or JSON, into one
 * tree: json-c objects, the same tree whichever syntax the file used, with
 * each value's line and column kept for error messages (cfg_pos).
 *
 * HCL is the subset Consul's configuration uses (docs/config.md, "HCL"):
 * `key = value` attributes, `key { ... }` blocks (labels: `key "a" { }` is
 * key = { a = { } }), a block repeated under one key becoming a list of
 * objects in source order, lists, object values, quoted strings with escapes,
 * heredocs (`<<EOF`, `<<-EOF`), integers, floats, booleans and `#`, `//` and
 * C-style block comments. JSON is strict RFC 8259 with an object at the top.
 *
 * Pure: no I/O, no globals; allocation through json-c and cn_malloc. Never
 * asserts on input: every malformed text is an error with line:column. */
#ifndef CN_CONFIG_HCL_H
#define CN_CONFIG_HCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/buf.h"

enum cfg_format { CFG_FMT_AUTO = 0, CFG_FMT_HCL, CFG_FMT_JSON };

/* Where a value starts in its file (1-based). */
struct cfg_pos {
    uint32_t line, col;
};

/* Deepest nesting of objects and lists accepted. */
#define CFG_MAX_DEPTH 64

/* Parse text[0..len) (fmt HCL or JSON; AUTO is HCL) into a new object tree
 * (caller owns one reference). On error returns NULL and writes
 * "LINE:COL: message" into err, quoting the offending text. */
struct json_object *cfg_parse(const char *text, size_t len, enum cfg_format fmt, char *err,
                              size_t errcap);

/* The position a value was parsed at; {0,0} for NULL (a JSON null) or a
 * value built elsewhere. */
struct cfg_pos cfg_pos_of(struct json_object *v);
/* True when the object came from HCL block syntax (`key { ... }`). */
bool cfg_is_block(struct json_object *v);

/* Write tree as HCL text (attributes only, strings quoted and escaped) that
 * cfg_parse reads back into an equal tree. Returns 0 or CN_ENOMEM. */
int cfg_format_hcl(struct json_object *tree, struct cn_buf *out);

/* The format a path names by its extension: .hcl, .json, else AUTO. */
enum cfg_format cfg_format_of_path(const char *path);

#endif
