/* tests/sim/main.c: cairn-sim, the command line of the Raft simulator.
 *
 *   cairn-sim --seeds N [--start S] [--nodes 3|5] [--steps M]   sweep N seeds
 *   cairn-sim --seed S [--nodes 3|5] [--steps M] [--trace] [--trace-core]
 *   cairn-sim --scenario NAME|all [--trace]                     scripted scenarios
 *   cairn-sim --list
 *
 * Exit status: 0 all passed, 1 a safety or scenario failure, 2 only liveness
 * failures, 64 usage. Every failure prints the one-line replay command. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define DEFAULT_STEPS 300

static void usage(void)
{
    fprintf(stderr, "usage: cairn-sim --seeds N [--start S] [--nodes 3|5] [--steps M]\n"
                    "       cairn-sim --seed S [--nodes 3|5] [--steps M] [--trace] [--trace-core]\n"
                    "       cairn-sim --scenario NAME|all [--trace] [--trace-core]\n"
                    "       cairn-sim --list\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *kind_name(enum sim_fail_kind k)
{
    return k == SIM_LIVENESS ? "LIVENESS" : k == SIM_SAFETY ? "SAFETY" : "FAIL";
}

static int run_scenarios(const char *name, FILE *trace, const char *argv0)
{
    int failed = 0, ran = 0;
    for (size_t i = 0; i < sim_n_scenarios; i++) {
        const struct sim_scenario *sc = &sim_scenarios[i];
        if (strcmp(name, "all") != 0 && strcmp(name, sc->name) != 0)
            continue;
        ran++;
        char why[700] = "";
        int rc = sc->run(trace, why, sizeof why);
        printf("%-34s %s%s%s\n", sc->name, rc ? "FAIL" : "ok", rc ? ": " : "", rc ? why : "");
        if (rc) {
            printf("  replay: %s --scenario %s --trace\n", argv0, sc->name);
            failed++;
        }
    }
    if (!ran) {
        fprintf(stderr, "cairn-sim: no scenario named '%s' (try --list)\n", name);
        return 64;
    }
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    uint64_t seeds = 0, start = 1, seed = 0, nodes = 0, steps = DEFAULT_STEPS;
    bool one = false, trace = false, trace_core = false, list = false;
    const char *scenario = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "--seeds"))
            ok = parse_u64(v, &seeds), i++;
        else if (!strcmp(a, "--start"))
            ok = parse_u64(v, &start), i++;
        else if (!strcmp(a, "--seed"))
            ok = parse_u64(v, &seed), one = true, i++;
        else if (!strcmp(a, "--nodes"))
            ok = parse_u64(v, &nodes) && (nodes == 3 || nodes == 5), i++;
        else if (!strcmp(a, "--steps"))
            ok = parse_u64(v, &steps) && steps > 0 && steps < 10000000, i++;
        else if (!strcmp(a, "--scenario"))
            ok = (scenario = v) != NULL, i++;
        else if (!strcmp(a, "--trace"))
            trace = true;
        else if (!strcmp(a, "--trace-core"))
            trace = trace_core = true;
        else if (!strcmp(a, "--list"))
            list = true;
        else
            ok = false;
        if (!ok) {
            usage();
            return 64;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (list) {
        for (size_t i = 0; i < sim_n_scenarios; i++)
            printf("%-34s %s\n", sim_scenarios[i].name, sim_scenarios[i].what);
        return 0;
    }
    sim_scenario_trace_core = trace_core;
    if (scenario)
        return run_scenarios(scenario, trace ? stdout : NULL, argv[0]);
    if (!one && !seeds) {
        usage();
        return 64;
    }

    uint64_t first = one ? seed : start, count = one ? 1 : seeds;
    uint64_t n_safety = 0, n_live = 0, events = 0, commits = 0, rb = 0, rbc = 0;
    struct sim_cw_stats cw = {0};
    double t0 = now_s();
    for (uint64_t k = 0; k < count; k++) {
        struct sim_run_opts ro = {.seed = first + k,
                                  .nodes = (int)nodes,
                                  .steps = (unsigned)steps,
                                  .trace = trace ? stdout : NULL,
                                  .trace_core = trace_core};
        struct sim_run_result res;
        sim_run_random(&ro, &res);
        events += res.events;
        commits += res.commits;
        rb += res.rb_entries;
        rbc += res.rb_compacted;
        cw.submitted += res.cw.submitted;
        cw.acked += res.cw.acked;
        cw.unknown += res.cw.unknown;
        cw.failed += res.cw.failed;
        cw.forwards += res.cw.forwards;
        cw.resends += res.cw.resends;
        cw.dups += res.cw.dups;
        cw.not_leader += res.cw.not_leader;
        cw.busy += res.cw.busy;
        cw.stale += res.cw.stale;
        cw.reads += res.cw.reads;
        cw.reads_ok += res.cw.reads_ok;
        cw.reads_local += res.cw.reads_local;
        cw.reads_failed += res.cw.reads_failed;
        if (one)
            printf("seed %" PRIu64 ": nodes=%d events=%" PRIu64 " committed=%" PRIu64
                   " leaders=%" PRIu64 " crashes=%" PRIu64 " partitions=%" PRIu64 " conf=%" PRIu64
                   " snapshots=%" PRIu64 " reads=%" PRIu64 " read-back=%" PRIu64 "/%" PRIu64 "\n",
                   ro.seed, res.nodes, res.events, res.commits, res.elections, res.crashes,
                   res.partitions, res.conf_changes, res.snapshots, res.reads, res.rb_entries,
                   res.rb_compacted);
        if (res.kind != SIM_OK) {
            if (res.kind == SIM_LIVENESS)
                n_live++;
            else
                n_safety++;
            if (n_safety + n_live <= 20) {
                printf("%s seed=%" PRIu64 " nodes=%d: %s\n", kind_name(res.kind), ro.seed,
                       res.nodes, res.msg);
                printf("  replay: %s --seed %" PRIu64 " --nodes %d --steps %" PRIu64 " --trace\n",
                       argv[0], ro.seed, res.nodes, steps);
            }
        }
        if (!one && (k + 1) % 500 == 0)
            fprintf(stderr, "  ... %" PRIu64 " seeds\n", k + 1);
    }
    double dt = now_s() - t0;
    printf("%" PRIu64 " seed%s (%" PRIu64 "..%" PRIu64 ", steps=%" PRIu64 ") in %.1f s: "
           "%.1f seeds/s, %" PRIu64 " events, %" PRIu64 " entries committed; "
           "%" PRIu64 " safety, %" PRIu64 " liveness failures\n",
           count, count == 1 ? "" : "s", first, first + count - 1, steps, dt,
           dt > 0 ? (double)count / dt : 0.0, events, commits, n_safety, n_live);
    printf("client writes: %" PRIu64 " submitted, %" PRIu64 " acknowledged, %" PRIu64
           " outcome unknown, %" PRIu64 " failed (nothing committed); %" PRIu64
           " forwards, %" PRIu64 " resent, leaders answered %" PRIu64 " from their table, %" PRIu64
           " not-leader, %" PRIu64 " busy, %" PRIu64 " late copies dropped\n",
           cw.submitted, cw.acked, cw.unknown, cw.failed, cw.forwards, cw.resends, cw.dups,
           cw.not_leader, cw.busy, cw.stale);
    printf("client reads: %" PRIu64 " submitted, %" PRIu64 " answered (%" PRIu64
           " at once under the lease), %" PRIu64 " failed\n",
           cw.reads, cw.reads_ok, cw.reads_local, cw.reads_failed);
    printf("log window: %" PRIu64 " entries read back from disk, %" PRIu64
           " read-backs found their range compacted (a snapshot followed)\n",
           rb, rbc);
    return n_safety ? 1 : n_live ? 2 : 0;
}
