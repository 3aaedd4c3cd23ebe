/* acl/repl.h: the pure core of ACL replication between datacenters (Consul's
 * agent/consul/acl_replication.go diffACLPolicies / diffACLRoles /
 * diffACLTokens): what a secondary datacenter must delete and upsert so its
 * copy of the primary's objects equals the primary's.
 *
 * Objects are compared by kind and ID; an object is changed when its unique
 * name, its expiration or its definition bytes differ (the definition is the
 * stored JSON without Raft indexes, the same bytes in both datacenters, so
 * it plays the part of Consul's Hash). Local tokens are the secondary's own:
 * a local object flagged `local` is never deleted, and a remote one flagged
 * `local` is never copied.
 *
 * Pure: no I/O, no allocation beyond the result arrays. */
#ifndef CN_ACL_REPL_H
#define CN_ACL_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acl_repl_obj {
    uint8_t kind; /* token, policy, role (the state's kinds; any order key) */
    const char *id;
    const char *name;
    int64_t expires_unix_ns;
    const uint8_t *def;
    size_t def_len;
    bool local; /* a token with Local: true */
};

/* The diff: indexes into the local array (deletes) and the remote array
 * (upserts), each sorted by (kind, id). Upserts are ordered by kind in the
 * order given by kind_rank (policies before roles before tokens, so a
 * link's target comes first); deletes likewise. */
struct acl_repl_diff {
    size_t *del; /* indexes into local[] */
    size_t ndel;
    size_t *set; /* indexes into remote[] */
    size_t nset;
};

/* kind_rank[kind] (kind < 8) orders kinds in the result. 0, or CN_ENOMEM,
 * or CN_EINVAL when an array holds the same (kind, id) twice. */
int acl_repl_diff(const struct acl_repl_obj *local, size_t nlocal,
                  const struct acl_repl_obj *remote, size_t nremote, const uint8_t kind_rank[8],
                  struct acl_repl_diff *out);
void acl_repl_diff_free(struct acl_repl_diff *d);

/* How many of the diff's operations go into the next batch so that the
 * encoded size (about def_len + id + name + 32 bytes per upsert, id + 8 per
 * delete) stays at most max_bytes, deletes first; always at least one when
 * there is any. *ndel and *nset get the counts taken from the front of
 * d->del (starting at del_from) and d->set (starting at set_from). */
void acl_repl_batch(const struct acl_repl_diff *d, const struct acl_repl_obj *local,
                    const struct acl_repl_obj *remote, size_t del_from, size_t set_from,
                    size_t max_bytes, size_t *ndel, size_t *nset);

#endif
