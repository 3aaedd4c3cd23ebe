/* tests/unit/state/test_event.c: user events (state/event.c): EVENT_FIRE
 * appends to a ring of the newest 256 with the log index as LTime, rejects
 * a malformed ID or an empty name without change, is no part of a snapshot,
 * and survives a snapshot restore (agent memory). */
#include "helpers.h"

static const char *ID1 = "b54fe110-7af5-cafc-d1fb-afc8ba432b1c";

static int fire(struct state *s, uint64_t idx, const char *id, const char *name,
                const char *payload, struct state_result *res)
{
    struct state_event e = {.id = (char *)id,
                            .name = (char *)name,
                            .payload = (uint8_t *)payload,
                            .payload_len = payload ? strlen(payload) : 0,
                            .node_filter = (char *)"",
                            .service_filter = (char *)"web",
                            .tag_filter = (char *)""};
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_event_fire(&b, &e), 0);
    return apply_buf(s, idx, &b, res);
}

struct seen {
    const struct state_event *v[STATE_EVENTS_MAX];
    size_t n;
};

static int seen_cb(void *arg, const struct state_event *e)
{
    struct seen *x = arg;
    x->v[x->n++] = e;
    return 0;
}

static void test_fire_and_list(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(fire(s, 3, ID1, "deploy", "v1.2", &res), 0);
    assert_true(res.ok);
    assert_int_equal(fire(s, 4, "00000000-0000-0000-0000-000000000001", "deploy", NULL, NULL), 0);
    assert_int_equal(recorded(&r, STATE_T_EVENTS, "deploy"), 2);
    assert_int_equal(state_table_index(s, STATE_T_EVENTS), 4);
    assert_int_equal(state_last_index(s), 4);
    struct seen x = {.n = 0};
    state_events_foreach(s, seen_cb, &x);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.v[0]->id, ID1);
    assert_string_equal(x.v[0]->name, "deploy");
    assert_int_equal(x.v[0]->payload_len, 4);
    assert_memory_equal(x.v[0]->payload, "v1.2", 4);
    assert_string_equal(x.v[0]->service_filter, "web");
    assert_string_equal(x.v[0]->node_filter, "");
    assert_int_equal(x.v[0]->ltime, 3);
    assert_null(x.v[1]->payload); /* Consul's "Payload": null */
    assert_int_equal(x.v[1]->ltime, 4);
    /* Nothing else moved. */
    assert_int_equal(state_table_index(s, STATE_T_KV), 0);
    assert_int_equal(state_table_index(s, STATE_T_NODES), 0);
    state_result_free(&res);
    state_free(s);
}

static void test_rejects_bad_id_and_name(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(fire(s, 1, "not-a-uuid", "x", NULL, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "invalid event ID");
    assert_int_equal(fire(s, 2, "b54fe110x7af5-cafc-d1fb-afc8ba432b1c", "x", NULL, NULL),
                     CN_EINVAL);
    assert_int_equal(fire(s, 3, ID1, "", NULL, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "User event missing name");
    assert_int_equal(state_event_count(s), 0);
    assert_int_equal(state_last_index(s), 3); /* applied, changed nothing */
    /* A truncated command is corrupt and not even applied. */
    struct cn_buf b = CN_BUF_INIT;
    struct state_event e = {.id = (char *)ID1, .name = (char *)"n"};
    assert_int_equal(state_cmd_event_fire(&b, &e), 0);
    assert_int_equal(state_apply(s, 4, b.p, b.len - 1, NULL), CN_ECORRUPT);
    assert_int_equal(state_last_index(s), 3);
    cn_buf_free(&b);
    assert_int_equal(state_cmd_event_fire(&b, &(struct state_event){.id = NULL}), CN_EINVAL);
    state_result_free(&res);
    state_free(s);
}

static void test_ring_keeps_newest(void **st)
{
    (void)st;
    struct state *s = state_new();
    size_t base = state_mem_bytes(s);
    char id[40];
    for (unsigned i = 1; i <= STATE_EVENTS_MAX + 44; i++) {
        snprintf(id, sizeof(id), "00000000-0000-0000-0000-%012u", i);
        assert_int_equal(fire(s, i, id, "e", "p", NULL), 0);
    }
    assert_int_equal(state_event_count(s), STATE_EVENTS_MAX);
    struct seen x = {.n = 0};
    state_events_foreach(s, seen_cb, &x);
    assert_int_equal(x.n, STATE_EVENTS_MAX);
    assert_int_equal(x.v[0]->ltime, 45); /* the 44 oldest are gone */
    assert_int_equal(x.v[STATE_EVENTS_MAX - 1]->ltime, STATE_EVENTS_MAX + 44);
    for (size_t i = 1; i < x.n; i++)
        assert_true(x.v[i]->ltime == x.v[i - 1]->ltime + 1);
    assert_true(state_mem_bytes(s) > base);
    state_free(s);
}

static void test_not_in_snapshot_kept_by_restore(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state *t = state_new();
    struct cn_buf empty;
    snap(s, &empty);
    kvset(s, 1, "k", "v");
    assert_int_equal(fire(s, 2, ID1, "deploy", "x", NULL), 0);
    struct cn_buf a;
    snap(s, &a);
    /* The event changes no snapshot byte but the last index. */
    struct state *u = state_new();
    kvset(u, 1, "k", "v");
    assert_int_equal(state_apply(u, 2, "\0\1", 2, NULL), 0); /* a NOOP at 2 */
    assert_same_snap(&a, u);
    /* A restore keeps this server's ring. */
    assert_int_equal(fire(t, 1, ID1, "old", NULL, NULL), 0);
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_int_equal(state_event_count(t), 1);
    struct seen x = {.n = 0};
    state_events_foreach(t, seen_cb, &x);
    assert_string_equal(x.v[0]->name, "old");
    assert_non_null(kvget(t, "k"));
    cn_buf_free(&a);
    cn_buf_free(&empty);
    state_free(s);
    state_free(t);
    state_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fire_and_list),
        cmocka_unit_test(test_rejects_bad_id_and_name),
        cmocka_unit_test(test_ring_keeps_newest),
        cmocka_unit_test(test_not_in_snapshot_kept_by_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
