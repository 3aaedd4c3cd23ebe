/* raft/quorum.c: majority math. Only voters are passed in: learners are in
 * no quorum (pitfall #25), and a leader removed from the configuration does
 * not pass itself (pitfall #24). Single-server changes only (thesis §4.2), so
 * there is never a joint quorum. */
#include "raft/raft_int.h"

uint64_t raft__quorum_index(uint64_t *vals, size_t n)
{
    if (n == 0)
        return 0;
    /* Insertion sort, descending: n <= RAFT_MAX_SERVERS. */
    for (size_t i = 1; i < n; i++) {
        uint64_t v = vals[i];
        size_t j = i;
        for (; j > 0 && vals[j - 1] < v; j--)
            vals[j] = vals[j - 1];
        vals[j] = v;
    }
    /* The (n/2+1)-th largest value is held by a majority. */
    return vals[n / 2];
}

enum raft_vote_result raft__quorum_vote(size_t voters, size_t granted, size_t rejected)
{
    size_t q = voters / 2 + 1;
    if (granted >= q)
        return RAFT_VOTE_WON;
    if (voters - rejected < q)
        return RAFT_VOTE_LOST;
    return RAFT_VOTE_PENDING;
}

uint64_t raft__quorum_commit(uint64_t *match, size_t n, const struct raft_log *l, uint64_t term,
                             uint64_t commit)
{
    if (n == 0)
        return commit;
    uint64_t qi = raft__quorum_index(match, n);
    /* Figure 8 (pitfall #3, thesis §3.6.2): only an entry of the leader's own
     * term commits by counting; earlier ones commit with it. */
    if (qi > commit && raft__log_term0(l, qi) == term)
        return qi;
    return commit;
}
