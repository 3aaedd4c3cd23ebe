/* base/version.h: the versions cairn reports.
 *
 * CN_CONSUL_API_VERSION is the Consul release whose HTTP API cairn follows:
 * /v1/agent/self Config.Version, /v1/agent/version HumanVersion, the serf
 * "build" tag and `cairn version` report it, because clients gate features
 * on it (Nomad refuses Consul services below 1.8.0; Vault and others parse
 * it). 1.15 is the line whose API documentation cairn's behaviour is checked
 * against (agent services with Datacenter, Partition omitted when empty,
 * hash-based blocking on /v1/agent/service/:id, ?filter, /v1/agent/version)
 * and the first Consul release with long-term support. cairn's own version
 * (CAIRN_VERSION, from CMakeLists) is reported next to it under its own key. */
#ifndef CN_BASE_VERSION_H
#define CN_BASE_VERSION_H

#define CN_CONSUL_API_VERSION "1.15.4"

#endif
