/* bench/nodeid/nodeid_micro.c: what the node ID checks cost a registration
 * (state/nodeid.c, Consul's ensureNodeTxn). In-process, no I/O: a state is
 * filled with N nodes that have IDs (plus a passing serfHealth check each,
 * so the name checks find a reserving node), then R more registrations are
 * applied and timed in thread CPU time: new nodes with new IDs, new nodes
 * without ID (the peer: no ID lookup at all), renames (an existing ID under
 * a new name: the old node removed, the new one written) and, their peer,
 * deregistrations of other existing nodes, and a renamed-away name
 * registered again in another case (found through the index of names
 * ignoring case; before it, a walk of every node). Run at
 * N = 1,000 and N = 100,000 in the same process: the 100k/1k ratio shows the
 * growth (O(log n) gives ~1.5-2x from tree depth and cache misses; a scan
 * of all nodes would give ~100x). Prints numbers, never passes or fails.
 *
 *   ninja -C build/release bench_nodeid && build/release/bench_nodeid
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdbool.h>

#include "base/buf.h"
#include "state/state.h"

enum { R = 500 }; /* < the smaller N: every rename and deregister names another node */

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A UUID-shaped ID, distinct per (tag, i), its first group scattered as
 * random UUIDs' are (agents make random ones). */
static void mkid(char *out, unsigned tag, unsigned i)
{
    unsigned h = (i + 1) * 2654435761u ^ tag * 40503u;
    snprintf(out, 37, "%08x-%04x-4000-8000-%012x", h, tag & 0xffffu, i);
}

/* Encode one registration (node, optional ID, optional serfHealth). */
static int enc(struct cn_buf *b, const char *name, const char *id, bool serf)
{
    struct state_register r;
    struct state_check c;
    memset(&r, 0, sizeof(r));
    memset(&c, 0, sizeof(c));
    r.node.name = (char *)name;
    r.node.id = (char *)id;
    r.node.address = (char *)"10.0.0.1";
    if (serf) {
        c.check_id = c.name = (char *)"serfHealth";
        c.status = (char *)"passing";
        c.service_id = (char *)"";
        r.checks = &c;
        r.nchecks = 1;
    }
    return state_cmd_register(b, &r);
}

static uint64_t idx;

static int apply1(struct state *s, const char *name, const char *id, bool serf)
{
    struct cn_buf b = CN_BUF_INIT;
    int rc = enc(&b, name, id, serf);
    if (!rc)
        rc = state_apply(s, ++idx, b.p, b.len, NULL);
    cn_buf_free(&b);
    return rc;
}

/* ns per registration of R commands, encoded beforehand (apply only). */
static double timed(struct state *s, unsigned n, int kind)
{
    struct cn_buf *cmds = calloc(R, sizeof(*cmds));
    char name[48], id[40];
    for (unsigned i = 0; i < R; i++) {
        cn_buf_init(&cmds[i]);
        if (kind == 0) { /* new node, new ID */
            snprintf(name, sizeof(name), "new-%u-%u", n, i);
            mkid(id, 0xbbbb0000u + n % 0xffffu, i);
        } else if (kind == 1) { /* new node, no ID */
            snprintf(name, sizeof(name), "noid-%u-%u", n, i);
            id[0] = '\0';
        } else if (kind == 2) { /* rename: node j's ID under a new name */
            snprintf(name, sizeof(name), "ren-%u-%u", n, i);
            mkid(id, 0xaaaa0000u, i * (n / R));
        } else if (kind == 4) { /* a renamed-away name back, another case, no ID */
            snprintf(name, sizeof(name), "NODE-%07u", i * (n / R));
            id[0] = '\0';
        } else { /* the peer of a rename: deregister node j + 1 */
            snprintf(name, sizeof(name), "node-%07u", i * (n / R) + 1);
            if (state_cmd_deregister(&cmds[i], name, NULL, NULL))
                abort();
            continue;
        }
        if (enc(&cmds[i], name, id, false))
            abort();
    }
    double t0 = cpu_now();
    for (unsigned i = 0; i < R; i++)
        if (state_apply(s, ++idx, cmds[i].p, cmds[i].len, NULL))
            abort();
    double ns = (cpu_now() - t0) * 1e9 / R;
    for (unsigned i = 0; i < R; i++)
        cn_buf_free(&cmds[i]);
    free(cmds);
    return ns;
}

int main(void)
{
    const unsigned sizes[] = {1000, 100000};
    double v[2][5];
    for (int k = 0; k < 2; k++) {
        unsigned n = sizes[k];
        struct state *s = state_new();
        char name[32], id[40];
        for (unsigned i = 0; i < n; i++) {
            snprintf(name, sizeof(name), "node-%07u", i);
            mkid(id, 0xaaaa0000u, i);
            if (apply1(s, name, id, true))
                abort();
        }
        for (int kind = 0; kind < 5; kind++)
            v[k][kind] = timed(s, n, kind);
        printf("N=%-6u new node: with ID %5.0f ns, without ID %5.0f ns;  rename %5.0f ns, "
               "deregister %5.0f ns;  a renamed-away name again (other case) %5.0f ns\n",
               n, v[k][0], v[k][1], v[k][2], v[k][3], v[k][4]);
        state_free(s);
    }
    printf("100k/1k: with ID %.2f, without ID %.2f, rename %.2f, deregister %.2f, name again "
           "%.2f;  at 100k: with/without ID %.2f, rename/(deregister + new with ID) %.2f\n",
           v[1][0] / v[0][0], v[1][1] / v[0][1], v[1][2] / v[0][2], v[1][3] / v[0][3],
           v[1][4] / v[0][4], v[1][0] / v[1][1], v[1][2] / (v[1][3] + v[1][0]));
    return 0;
}
