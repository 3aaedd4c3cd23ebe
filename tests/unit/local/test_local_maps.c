/* Unit tests for the agent's local maps (local/local.c): every local service
 * is one allocation holding the struct and its strings, every local check's
 * strings are one block beside it (state_service_pack / state_check_pack),
 * and a failed allocation changes nothing. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "local/local_int.h"

static char *tags[] = {"primary", "v2", "zone-a"};
static struct state_pair meta[] = {{"version", "1.2.3"}, {"team", "payments"}};

static struct state_service web(const char *id, int port)
{
    struct state_service s;
    memset(&s, 0, sizeof(s));
    s.node = "n1";
    s.id = (char *)id;
    s.service = "web";
    s.kind = "";
    s.address = "10.0.0.7";
    s.port = port;
    s.tags = tags;
    s.ntags = 3;
    s.meta.items = meta;
    s.meta.n = 2;
    s.weight_passing = s.weight_warning = 1;
    return s;
}

static struct state_check ttl(const char *id, const char *status, const char *output)
{
    struct state_check c;
    memset(&c, 0, sizeof(c));
    c.node = "n1";
    c.check_id = (char *)id;
    c.name = "ttl check";
    c.status = (char *)status;
    c.output = (char *)output;
    c.service_id = "web-1";
    c.service_name = "web";
    c.type = "ttl";
    c.ttl_ns = 30LL * 1000 * 1000 * 1000;
    c.alias_node = NULL; /* agent-only fields stay NULL */
    return c;
}

/* p lies within the allocation [base, base + usable). */
static void assert_inside(const void *p, const void *base)
{
    const char *b = base;
    assert_true((const char *)p >= b && (const char *)p < b + malloc_usable_size((void *)base));
}

struct fx {
    uv_loop_t loop;
    struct local *l;
};

static int setup(void **state)
{
    struct fx *f = cn_calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->l = local_new(&f->loop, NULL, "n1", "id-1", "10.0.0.1", "dc1");
    assert_non_null(f->l);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    local_free(f->l);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* timer handles close, then l goes */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    cn_free(f);
    return 0;
}

static void test_service_one_block(void **state)
{
    struct fx *f = *state;
    struct state_service s = web("web-1", 8080);
    assert_int_equal(local__put_service(f->l, &s), 0);
    const struct state_service *v = local_service(f->l, "web-1");
    assert_non_null(v);
    assert_ptr_not_equal(v->id, s.id); /* a copy, not the caller's strings */
    assert_string_equal(v->service, "web");
    assert_string_equal(v->address, "10.0.0.7");
    assert_int_equal(v->port, 8080);
    assert_int_equal(v->ntags, 3);
    assert_int_equal(v->meta.n, 2);
    assert_string_equal(v->tags[2], "zone-a");
    assert_string_equal(v->meta.items[1].v, "payments");
    /* everything it points to is inside its one allocation, exactly sized */
    const char *ptrs[] = {v->node,
                          v->id,
                          v->service,
                          v->kind,
                          v->address,
                          (const char *)v->tags,
                          v->tags[0],
                          v->tags[2],
                          (const char *)v->meta.items,
                          v->meta.items[0].k,
                          v->meta.items[1].v};
    for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
        assert_inside(ptrs[i], v);
    size_t want = sizeof(struct state_service) + state_service_pack(NULL, &s, NULL);
    assert_true(malloc_usable_size((void *)v) >= want);
    assert_true(malloc_usable_size((void *)v) < want + 16);

    /* a replacement is a new packed copy; the map keeps one entry */
    struct state_service s2 = web("web-1", 9090);
    assert_int_equal(local__put_service(f->l, &s2), 0);
    assert_int_equal(local_service_count(f->l), 1);
    assert_int_equal(local_service(f->l, "web-1")->port, 9090);
}

static void test_check_packed_and_status(void **state)
{
    struct fx *f = *state;
    struct state_check c = ttl("service:web-1", "critical", "");
    assert_int_equal(local__put_check(f->l, &c), 0);
    long i = local__chk_find(f->l, "service:web-1");
    assert_true(i >= 0);
    struct local__chk *ch = f->l->chks[i];
    assert_true(ch->timer_init); /* a TTL check armed its timer */
    const struct state_check *v = local_check(f->l, "service:web-1");
    assert_ptr_equal(v, &ch->c);
    assert_string_equal(v->status, "critical");
    assert_string_equal(v->type, "ttl");
    assert_null(v->alias_node);
    const char *ptrs[] = {v->node,  v->check_id,    v->name,        v->status,
                          v->notes, v->output,      v->service_id,  v->type,
                          v->http,  v->header_json, v->service_name};
    for (size_t k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); k++)
        assert_inside(ptrs[k], ch->packed);
    assert_int_equal(malloc_usable_size(ch->packed) < state_check_pack(NULL, &c, NULL) + 16, 1);

    /* a status change repacks: the check keeps its place and its timer */
    assert_int_equal(local__set_check_status(f->l, (size_t)i, "passing", "all good"), 0);
    assert_ptr_equal(f->l->chks[i], ch);
    assert_string_equal(ch->c.status, "passing");
    assert_string_equal(ch->c.output, "all good");
    assert_string_equal(ch->c.name, "ttl check");
    assert_inside(ch->c.output, ch->packed);
    assert_inside(ch->c.check_id, ch->packed);

    /* out of memory: nothing changes */
    cn_mem_fail_after(0);
    int rc = local__set_check_status(f->l, (size_t)i, "warning", "x");
    cn_mem_fail_after(-1);
    assert_int_equal(rc, CN_ENOMEM);
    assert_string_equal(ch->c.status, "passing");
    assert_string_equal(ch->c.output, "all good");

    struct state_check c2 = ttl("service:web-2", "passing", "");
    cn_mem_fail_after(0);
    rc = local__put_check(f->l, &c2);
    cn_mem_fail_after(-1);
    assert_int_equal(rc, CN_ENOMEM);
    assert_int_equal(local_check_count(f->l), 1);

    struct state_service s = web("web-9", 1);
    cn_mem_fail_after(0);
    rc = local__put_service(f->l, &s);
    cn_mem_fail_after(-1);
    assert_int_equal(rc, CN_ENOMEM);
    assert_null(local_service(f->l, "web-9"));
}

/* Dropping a service drops its checks (the catalog removed them with it). */
static void test_drop_service_takes_checks(void **state)
{
    struct fx *f = *state;
    struct state_service s = web("web-1", 80);
    struct state_check c = ttl("service:web-1", "passing", "ok");
    assert_int_equal(local__put_service(f->l, &s), 0);
    assert_int_equal(local__put_check(f->l, &c), 0);
    local__drop_service(f->l, "web-1");
    assert_int_equal(local_service_count(f->l), 0);
    assert_int_equal(local_check_count(f->l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_one_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_packed_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_service_takes_checks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
