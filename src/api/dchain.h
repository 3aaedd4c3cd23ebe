/* api/dchain.h: Consul's compiled discovery chain (api-docs/discovery-chain
 * .mdx; agent/consul/discoverychain/compile.go, structs.CompiledDiscoveryChain)
 * for the config entries cairn stores. cairn refuses service-resolver,
 * service-router and service-splitter entries, so every chain is Consul's
 * default chain: one resolver node for "<svc>.default.default.<dc>" with one
 * target, its protocol from service-defaults or proxy-defaults, its connect
 * timeout 5s, and the overrides a POST body asks for.
 *
 * Pure: the override body's decoder (fuzzed by fuzz_dchain_override), the
 * compile from the two entries, and the answer's JSON. The endpoint is
 * discovery_chain.c. */
#ifndef CN_API_DCHAIN_H
#define CN_API_DCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jsonw.h"
#include "state/state.h"

/* A POST body's overrides (agent/discovery_chain_endpoint.go
 * discoveryChainReadRequest). */
struct api_dchain_override {
    int64_t connect_timeout_ns; /* OverrideConnectTimeout; 0: none */
    char *protocol;             /* OverrideProtocol; NULL: none */
    bool mgw_none;              /* OverrideMeshGateway.Mode "none" */
};

/* Decode a POST body: keys in any case, with or without '_'
 * ("override_protocol"), null values absent. 0; CN_EINVAL with the 400's
 * text in err (Consul's "Request decoding failed: ..." and "Invalid
 * OverrideMeshGateway.Mode parameter", or cairn's refusal of what it cannot
 * honour: a mesh gateway mode "local" or "remote", an unknown or repeated
 * key, a value of the wrong type, a negative timeout); CN_ENOMEM. o is
 * cleared first; release it with api__dchain_override_clear either way. */
int api__dchain_override_decode(const char *body, size_t len, struct api_dchain_override *o,
                                char *err, size_t cap);
void api__dchain_override_clear(struct api_dchain_override *o);

/* What a chain is compiled from (every pointer borrowed). */
struct api_dchain_in {
    const char *service;                               /* the chain's name (non-empty) */
    const char *datacenter;                            /* ?compile-dc, else the agent's */
    const char *trust_domain;                          /* the CA's "<cluster id>.consul" */
    const struct state_config_entry *proxy_defaults;   /* "global", or NULL */
    const struct state_config_entry *service_defaults; /* the service's, or NULL */
    const struct api_dchain_override *ovr;             /* NULL: none */
};

/* The compiled chain (owned strings; api__dchain_clear). */
struct api_dchain {
    const char *service, *datacenter; /* borrowed from the input */
    char *id;                         /* "<svc>.default.default.<dc>" */
    char *sni;                        /* "<svc>.default.<dc>.internal.<trust domain>" */
    char *protocol;                   /* lower-cased from the entries, or the override */
    int64_t connect_timeout_ns;       /* 5s, or the override */
    const char *mgw_mode;             /* the target's MeshGateway.Mode: "" or a mode (static) */
    char hash[17];                    /* CustomizationHash; "" when no override changed anything */
    struct json_object *service_meta; /* service-defaults' Meta (a reference), or NULL */
};

/* 0, CN_ENOMEM, CN_ECORRUPT (a stored entry that is not the JSON
 * config_defaults.c writes). out is cleared first. */
int api__dchain_compile(const struct api_dchain_in *in, struct api_dchain *out);
void api__dchain_clear(struct api_dchain *c);

/* The endpoint's answer: {"Chain": CompiledDiscoveryChain}, fields in the
 * order Go's encoder writes them, durations as Go's Duration.String(). */
void api__dchain_json(struct cn_jsonw *w, const struct api_dchain *c);

/* Consul's CustomizationHash before it is cut to 8 hex digits:
 * mitchellh/hashstructure (FNV-1 64) of struct {OverrideMeshGateway
 * MeshGatewayConfig; OverrideProtocol string; OverrideConnectTimeout
 * time.Duration} holding the overrides that changed the chain. */
uint64_t api__dchain_customization(const char *mgw_mode, const char *protocol, int64_t timeout_ns);

/* The protocol a proxy-defaults Config value gives, as Consul reads it
 * (mapstructure.WeakDecode into a string: a string as it is, a bool "1" or
 * "0", a number in Go's shortest 'f' form; anything else nothing): an owned
 * string, NULL for nothing, or NULL with *oom set. */
char *api__dchain_weak_string(struct json_object *v, bool *oom);

#endif
