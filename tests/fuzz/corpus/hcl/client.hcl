/* a client agent */
datacenter = "dc1"
data_dir = "/opt/consul"
server = false
retry_join = [
  "consul-1.example.internal",
  "consul-2.example.internal", // trailing comma below
  "consul-3.example.internal",
]
enable_local_script_checks = true
recursors = ["8.8.8.8", "1.1.1.1"]
domain = "consul"
dns_config {
  allow_stale = true
  max_stale = "87600h"
  node_ttl = "30s"
  service_ttl {
    "*" = "10s"
  }
}
