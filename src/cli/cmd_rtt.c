/* cli/cmd_rtt.c: `cairn rtt`, Consul's `consul rtt`
 * (https://developer.hashicorp.com/consul/commands/rtt): the round trip
 * between two nodes estimated from their LAN network coordinates
 * (/v1/coordinate/nodes; the second node defaults to the agent's own). The
 * WAN form (-wan) needs a WAN pool, which cairn does not have yet. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli_int.h"
#include "coord/coord.h"

const struct cli_flag cli__rtt_flags[] = {
    {"wan", CLI_BOOL, NULL,
     "Use WAN coordinates instead of LAN coordinates (not supported: cairn has no WAN pool "
     "yet)."},
    {NULL, 0, NULL, NULL},
};

static int num(struct json_object *o, const char *k, double *out)
{
    struct json_object *v = cn_json_get(o, k);
    if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return -1;
    *out = json_object_get_double(v);
    return 0;
}

/* coordinate.Coordinate from its JSON; -1 when malformed. */
static int coord_of(struct json_object *o, struct coord *c)
{
    struct json_object *vec = cn_json_get(o, "Vec");
    if (!vec || !json_object_is_type(vec, json_type_array) ||
        json_object_array_length(vec) != COORD_DIM)
        return -1;
    for (size_t i = 0; i < COORD_DIM; i++) {
        struct json_object *x = json_object_array_get_idx(vec, i);
        if (!x ||
            !(json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)))
            return -1;
        c->vec[i] = json_object_get_double(x);
    }
    return num(o, "Error", &c->error) || num(o, "Adjustment", &c->adjustment) ||
                   num(o, "Height", &c->height)
               ? -1
               : 0;
}

int cli__run_rtt(struct cli_ctx *c, const struct cli_args *a)
{
    if (cli__flag_bool(a, "wan")) {
        fprintf(c->err, "Error: -wan is not supported: cairn has no WAN gossip pool yet, so "
                        "there are no WAN coordinates\n");
        return 1;
    }
    if (a->npos < 1 || a->npos > 2) {
        fprintf(c->err, "One or two node names must be specified\n");
        return 1;
    }
    const char *nodes[2] = {a->pos[0], a->npos > 1 ? a->pos[1] : NULL};
    struct cli_resp r = {0};
    struct json_object *self = NULL, *root = NULL;
    int ret = 1;
    if (!nodes[1]) { /* the agent's own node */
        if (cli__call(c, "Unable to look up agent info", "GET", "/v1/agent/self", "", NULL, 0, 0,
                      &r))
            goto out;
        self = cli__json_body(c, "Unable to look up agent info", &r);
        struct json_object *cfg = self ? cn_json_get(self, "Config") : NULL;
        if (!cfg || cn_json_get_str(cfg, "NodeName", &nodes[1]) != 1) {
            if (self)
                fprintf(c->err, "Unable to look up agent info: no Config.NodeName\n");
            goto out;
        }
        cli__resp_free(&r);
        memset(&r, 0, sizeof(r));
    }
    if (cli__call(c, "Error getting coordinates", "GET", "/v1/coordinate/nodes", "", NULL, 0, 0,
                  &r))
        goto out;
    root = cli__json_body(c, "Error getting coordinates", &r);
    if (!root)
        goto out;
    if (!json_object_is_type(root, json_type_array)) {
        fprintf(c->err, "Error getting coordinates: expected a JSON array\n");
        goto out;
    }
    /* Consul compares coordinates of the same segment only */
    const char *seg[2] = {NULL, NULL};
    struct coord co[2];
    bool have[2] = {false, false};
    size_t n = json_object_array_length(root);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(root, i);
        const char *node = NULL, *segment = "";
        if (cn_json_get_str(e, "Node", &node) != 1)
            continue;
        cn_json_get_str(e, "Segment", &segment);
        for (int k = 0; k < 2; k++) {
            if (strcmp(node, nodes[k]))
                continue;
            if (coord_of(cn_json_get(e, "Coord"), &co[k])) {
                fprintf(c->err, "Error getting coordinates: malformed coordinate of %s\n", node);
                goto out;
            }
            have[k] = true;
            seg[k] = segment;
        }
        if (have[0] && have[1] && !strcmp(seg[0], seg[1]))
            break;
    }
    if (have[0] && have[1] && strcmp(seg[0], seg[1]))
        have[0] = have[1] = false;
    for (int k = 0; k < 2; k++)
        if (!have[k]) {
            fprintf(c->err, "Could not find a coordinate for node \"%s\"\n", nodes[k]);
            goto out;
        }
    fprintf(c->out, "Estimated %s <-> %s rtt: %.3f ms (using LAN coordinates)\n", nodes[0],
            nodes[1], coord_distance(&co[0], &co[1]) * 1000.0);
    ret = 0;
out:
    json_object_put(root);
    json_object_put(self);
    cli__resp_free(&r);
    return ret;
}
