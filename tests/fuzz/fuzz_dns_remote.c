/* Fuzz a client agent's DNS request as a server reads it
 * (dns_remote_answer, src/dns/remote.c: JSON with the query message in
 * base64 and the client's resolver options). Anyone who can reach a
 * server's HTTP port can POST one to /v1/internal/cairn/dns. Inputs whose
 * first byte is 'Q' are the rest as a query message inside a well-formed
 * request, so the resolver is reached too; everything else is the body as
 * sent. An answer must read back strictly (dns_msg_walk) and be at most
 * 65535 bytes; a refused request must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "dns/dns_int.h"
#include "state/state.h"

static struct state *st;

static void reg(const char *node, const char *addr, const char *id, const char *svc, int port)
{
    struct state_register r;
    memset(&r, 0, sizeof(r));
    r.node.name = (char *)node;
    r.node.id = (char *)"";
    r.node.address = (char *)addr;
    struct state_service v;
    memset(&v, 0, sizeof(v));
    v.id = (char *)id;
    v.service = (char *)svc;
    v.kind = (char *)"";
    v.address = (char *)"";
    v.port = port;
    v.weight_passing = 1;
    v.weight_warning = 1;
    r.service = &v;
    struct cn_buf b = CN_BUF_INIT;
    static uint64_t idx = 1;
    if (state_cmd_register(&b, &r) || state_apply(st, idx++, b.p, b.len, NULL))
        abort();
    cn_buf_free(&b);
}

static int fquery(void *arg, const struct state *s, const char *agent_node, const char *name,
                  dns_query_visit visit, void *varg)
{
    (void)arg;
    (void)s;
    if (!agent_node || !name || !*name)
        abort();
    if (name[0] == 'n')
        return CN_ENOTFOUND;
    struct dns_query_answer a = {name, "", NULL, 0, name[0] == 'f'};
    visit(varg, &a);
    return 0;
}

static bool facl(void *arg, bool is_node, const char *name)
{
    (void)arg;
    (void)is_node;
    return name && name[0] != 'x';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st) {
        st = state_new();
        for (int i = 0; i < 12; i++) {
            char n[16], a[32], id[16];
            snprintf(n, sizeof(n), "n%d", i % 5);
            snprintf(a, sizeof(a), i % 4 ? "10.0.0.%d" : "fd00::%d", i);
            snprintf(id, sizeof(id), "web%d", i);
            reg(n, a, id, i % 3 ? "web" : "xdb", 8000 + i);
        }
    }
    struct cn_buf body = CN_BUF_INIT;
    if (size > 0 && data[0] == 'Q') {
        if (cn_buf_puts(&body, "{\"Query\":\"") || cn_base64_encode(&body, data + 1, size - 1) ||
            cn_buf_printf(&body,
                          "\",\"SmallUDP\":%s,\"Limit\":%u,\"Options\":{\"Domain\":\"consul.\","
                          "\"AltDomain\":\"alt.\",\"Datacenter\":\"dc1\",\"NodeName\":\"c1\","
                          "\"NodeAddr\":\"10.1.1.1\",\"NodeTTL\":3,\"ServiceTTL\":[{\"Name\":"
                          "\"w*\",\"TTL\":7}],\"OnlyPassing\":true,\"UDPAnswerLimit\":%u,"
                          "\"Recursors\":%s,\"MaxStaleMs\":0}}",
                          size & 1 ? "true" : "false", 512u + (unsigned)(size % 7) * 300,
                          (unsigned)(size % 4), size & 2 ? "true" : "false"))
            abort();
    } else if (cn_buf_append(&body, data, size)) {
        abort();
    }
    struct dns_remote_env env = {.st = st,
                                 .last_contact_ms = size,
                                 .seed = 7,
                                 .serial = 1,
                                 .query_exec = fquery,
                                 .acl_may = facl};
    static struct dns_remote_failover fo;
    if (size & 1)
        env.failover = &fo; /* a server that can fail over */
    struct cn_buf out = CN_BUF_INIT;
    char err[200] = "";
    int rc = dns_remote_answer(body.p ? body.p : "", body.len, &env, &out, err, sizeof(err));
    if (rc == DNS_REMOTE_ANSWER) {
        if (out.len < DNS_HDR_LEN || out.len > DNS_TCP_MAX ||
            dns_msg_walk((const uint8_t *)out.p, out.len, NULL, NULL))
            abort();
    } else if (rc == DNS_REMOTE_FORWARD) {
        if (out.len)
            abort();
    } else if (rc == DNS_REMOTE_FAILOVER || rc == DNS_REMOTE_OTHER_DC) {
        /* only when asked for: a query named "f..." or a datacenter's name
         * (not this one's), its message kept */
        if (out.len || !env.failover || fo.other_dc != (rc == DNS_REMOTE_OTHER_DC) ||
            (!fo.other_dc && fo.key[0] != 'f') || (fo.other_dc && !fo.key[0]) ||
            fo.qlen < DNS_HDR_LEN || fo.qlen > sizeof(fo.q) || fo.limit < DNS_UDP_MIN)
            abort();
    } else if (rc == CN_EINVAL) {
        if (!err[0])
            abort();
    } else if (rc != CN_ENOMEM) {
        abort();
    }
    cn_buf_free(&out);
    cn_buf_free(&body);
    return 0;
}
