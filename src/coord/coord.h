/* coord/coord.h: network coordinates, Serf's `coordinate` package semantics
 * (Vivaldi, Dabek et al. 2004, with the height vector of that paper, the
 * adjustment term of Lee et al. 2010, a per-node latency filter and a gravity
 * pull towards the origin, Ledlie et al. 2007). A coordinate estimates the
 * round-trip time to any other node: DistanceTo.
 *
 * PURE: no I/O, no clock; the one random draw (two coordinates at the same
 * spot, pushed apart in a random direction) comes from a PRNG seeded by the
 * caller. Links base only (and libm). Times are seconds as doubles inside,
 * round-trip times nanoseconds as handed in (Serf's time.Duration).
 *
 * The dimensionality is fixed at 8 (Serf's and Consul's default); a
 * coordinate of another size is refused where it enters (codec, API). */
#ifndef CN_COORD_H
#define CN_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define COORD_DIM 8
#define COORD_ADJ_WINDOW_MAX 64               /* adjustment window sizes accepted */
#define COORD_FILTER_MAX 16                   /* latency filter sizes accepted */
#define COORD_MAX_RTT_NS INT64_C(10000000000) /* Serf's maxRTT: 10 s */

struct coord {
    double vec[COORD_DIM];
    double error;      /* confidence: lower is better */
    double adjustment; /* seconds, added to distances (Lee et al.) */
    double height;     /* seconds: the access link (Vivaldi's height vector) */
};

/* Serf's coordinate.DefaultConfig. */
struct coord_config {
    double error_max;           /* VivaldiErrorMax 1.5 (also the initial error) */
    double ce;                  /* VivaldiCE 0.25 */
    double cc;                  /* VivaldiCC 0.25 */
    unsigned adjustment_window; /* AdjustmentWindowSize 20 (0: no adjustment) */
    double height_min;          /* HeightMin 10e-6 s */
    unsigned latency_filter;    /* LatencyFilterSize 3 samples per node */
    double gravity_rho;         /* GravityRho 150 */
};
void coord_config_default(struct coord_config *c);

/* A new coordinate: the origin, error = error_max, height = height_min. */
void coord_init(struct coord *c, const struct coord_config *cfg);
/* Every component finite (Serf's IsValid). */
bool coord_valid(const struct coord *c);
/* Serf's DistanceTo, in seconds: |a - b| + both heights, plus both
 * adjustments when that sum stays positive. */
double coord_distance(const struct coord *a, const struct coord *b);
/* Without the adjustments (rawDistanceTo). */
double coord_raw_distance(const struct coord *a, const struct coord *b);

/* ---- the client: this node's coordinate, updated from observations ---- */
struct coord_client;

/* NULL on out of memory or an invalid config (a size above the maxima, a
 * non-positive rho, error_max or height_min). */
struct coord_client *coord_client_new(const struct coord_config *cfg, uint64_t seed);
void coord_client_free(struct coord_client *cl);
/* This node's coordinate (borrowed until the next update). */
const struct coord *coord_client_get(const struct coord_client *cl);
/* Replace it: CN_EINVAL for an invalid coordinate (nothing changed). */
int coord_client_set(struct coord_client *cl, const struct coord *c);
/* Serf's Client.Update: node `node` at `other` answered in rtt_ns. CN_EINVAL
 * when `other` is invalid, CN_ERANGE when rtt_ns < 0 or > 10 s (nothing
 * changed); else the filter's median RTT moves the coordinate (Vivaldi,
 * adjustment, gravity), and a result that is no longer valid resets it to a
 * new coordinate (counted: coord_client_resets). CN_ENOMEM when the filter
 * cannot remember a new node. */
int coord_client_update(struct coord_client *cl, const char *node, const struct coord *other,
                        int64_t rtt_ns);
/* Drop the latency samples of a node (it left). */
void coord_client_forget(struct coord_client *cl, const char *node);
unsigned coord_client_resets(const struct coord_client *cl);
size_t coord_client_filter_nodes(const struct coord_client *cl); /* nodes with samples */

/* ---- wire form (the gossip ACK's trailer, docs/wire-format.md) -----------
 *   version u8 (1), dimensionality u8 (8), vec 8 x f64, error f64,
 *   adjustment f64, height f64; f64 = IEEE 754 bits as u64 little-endian.
 * Any bit pattern decodes (a NaN too): validity is the receiver's business
 * (coord_valid), as Serf decodes and then refuses in Update. */
#define COORD_WIRE_VERSION 1
#define COORD_WIRE_LEN (2 + 8 * (COORD_DIM + 3))
int coord_wire_put(struct cn_buf *b, const struct coord *c);
/* Exactly COORD_WIRE_LEN bytes of a known version and dimensionality: 0;
 * else CN_ECORRUPT. */
int coord_wire_get(const void *data, size_t len, struct coord *out);

#endif
