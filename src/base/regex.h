/* base/regex.h: compiling a regular expression that came from a user.
 *
 * Consul compiles user patterns (prepared query templates, event filters,
 * ?filter= "matches") with Go's RE2, which refuses counted repetitions above
 * 1000, programs above a size bound and back-references, and so never takes
 * unbounded memory or time. glibc's regcomp expands every counted repetition
 * into copies of its operand (`(a{200}){200}` is 40,000 nodes) and builds
 * per-node closure sets, so one short pattern can take gigabytes. cn_regcomp
 * measures the pattern first and refuses, with Go's wording, what RE2 would
 * refuse and what would expand beyond CN_REGEX_MAX_NODES; only then does it
 * call regcomp. Every regcomp of user input goes through here. */
#ifndef CN_REGEX_H
#define CN_REGEX_H

#include <regex.h>
#include <stddef.h>

/* RE2's limit on a counted repetition's bounds ({n}, {n,}, {n,m}). */
#define CN_REGEX_MAX_REPEAT 1000
/* Nesting depth of groups (RE2's maxHeight is 1000). */
#define CN_REGEX_MAX_DEPTH 1000
/* Bound on the expanded size: the number of atoms after every repetition is
 * copied out (glibc's tree), 1,024 keeps the worst pattern under about 10 MiB and 30 ms. */
#define CN_REGEX_MAX_NODES 1024

/* Check pat without compiling it: 0, or -1 with why (NUL-terminated, at most
 * cap bytes) in RE2's words: "invalid repeat count", "expression too large",
 * "expression nests too deeply", "invalid escape sequence" (back-references
 * \1..\9, which RE2 does not have). */
int cn_regex_check(const char *pat, char *why, size_t cap);

/* cn_regex_check, then regcomp(re, pat, cflags). 0 on success (free re with
 * regfree), or -1 with why as above or regerror's text; re is then not to be
 * freed. */
int cn_regcomp(regex_t *re, const char *pat, int cflags, char *why, size_t cap);

#endif
