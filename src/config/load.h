/* config/load.h: which files a configuration is made of, and reading one of
 * them into a tree (config/hcl.h). Consul's rules
 * (https://developer.hashicorp.com/consul/docs/agent/config): a -config-dir
 * contributes its *.hcl and *.json files in lexical order (other files and
 * sub-directories are ignored, unless -config-format forces a format, which
 * then applies to every file); a file's extension picks its syntax.
 *
 * Reads files; keeps no state. Never asserts on what it reads. */
#ifndef CN_CONFIG_LOAD_H
#define CN_CONFIG_LOAD_H

#include <stddef.h>

#include <json-c/json.h>

#include "config/hcl.h"

/* Largest config file read (bytes). */
#define CFG_MAX_FILE (16u << 20)
/* Most files taken from one directory. */
#define CFG_MAX_DIR_FILES 1024

/* "hcl" / "json" / "" (by extension) into *out; CN_EINVAL for anything else. */
int cfg_format_parse(const char *s, enum cfg_format *out);

/* Read and parse one file. fmt AUTO: by extension, and a file with neither
 * .hcl nor .json is an error (as Consul's: "-config-format" is needed).
 * On success *out is a new reference to the top object. On error returns
 * CN_EINVAL (or CN_ENOMEM) with "PATH:LINE:COL: message" (or "PATH: message")
 * in err. */
int cfg_read_file(const char *path, enum cfg_format fmt, struct json_object **out, char *err,
                  size_t errcap);

/* The config files of directory `dir`, as full paths in lexical order of
 * their names; *paths is a cn_malloc'ed array of cn_malloc'ed strings (free
 * with cfg_paths_free). Returns 0, CN_EINVAL ("DIR: reason" in err) or
 * CN_ENOMEM. */
int cfg_dir_files(const char *dir, enum cfg_format forced, char ***paths, size_t *n, char *err,
                  size_t errcap);
void cfg_paths_free(char **paths, size_t n);

#endif
