/* examples/discover.c: discover the healthy instances of a service through
 * the local agent and print which instance each of a few keys goes to.
 *
 *     cc discover.c $(pkg-config --cflags --libs cairn) -o discover
 *     CAIRN_HTTP_ADDR=127.0.0.1:8500 ./discover web user-1 user-2 user-42
 *
 * Usage: discover [-policy=maglev|ring|rendezvous|jump|random] [SERVICE [KEY...]]
 * (SERVICE defaults to "web", the keys to user-1..user-5). Exit 1 when the
 * agent does not answer within 10 s or no instance is healthy. */
#include <stdio.h>
#include <string.h>

#include <cairn/client.h>

int main(int argc, char **argv)
{
    enum cairn_lb_policy policy = CAIRN_LB_MAGLEV;
    int i = 1;
    if (i < argc && strncmp(argv[i], "-policy=", 8) == 0) {
        policy = cairn_lb_policy_parse(argv[i] + 8);
        if (!policy) {
            fprintf(stderr, "unknown policy %s\n", argv[i] + 8);
            return 2;
        }
        i++;
    }
    const char *service = i < argc ? argv[i++] : "web";
    static const char *defaults[] = {"user-1", "user-2", "user-3", "user-4", "user-5"};
    const char **keys = i < argc ? (const char **)argv + i : defaults;
    int nkeys = i < argc ? argc - i : 5;

    int err = 0;
    struct cairn_watch_opts wo = {.policy = policy};
    struct cairn_watch *w = cairn_watch_start(NULL, service, &wo, &err); /* $CAIRN_HTTP_ADDR */
    if (!w) {
        fprintf(stderr, "watch: error %d\n", err);
        return 1;
    }
    if (cairn_watch_wait(w, 10000) != 0) {
        fprintf(stderr, "no answer from the agent within 10 s\n");
        cairn_watch_stop(w);
        return 1;
    }
    struct cairn_snapshot *s = cairn_watch_snapshot(w);
    printf("%s: %zu healthy instance(s) at index %llu\n", service, cairn_snapshot_count(s),
           (unsigned long long)cairn_snapshot_index(s));
    cairn_snapshot_release(s);
    int rc = 0;
    for (int k = 0; k < nkeys; k++) {
        const struct cairn_instance *in = cairn_pick(w, keys[k], policy);
        if (!in) {
            printf("%s -> (none)\n", keys[k]);
            rc = 1;
            continue;
        }
        printf("%s -> %s %s:%d\n", keys[k], in->service_id, in->address, in->port);
        cairn_instance_release(in);
    }
    cairn_watch_stop(w);
    return rc;
}
