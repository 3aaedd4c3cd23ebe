# /etc/consul.d/server.hcl: a three-server cluster
datacenter       = "dc1"
data_dir         = "/opt/consul"
server           = true
bootstrap_expect = 3
bind_addr        = "10.0.0.10"
client_addr      = "0.0.0.0"
advertise_addr   = "10.0.0.10"
retry_join       = ["10.0.0.11", "10.0.0.12"]
log_level        = "INFO"
ui_config {
  enabled = false
}
ports {
  http     = 8500
  dns      = 8600
  server   = 8300
  serf_lan = 8301
  https    = -1
  grpc     = -1
}
addresses {
  http = "127.0.0.1"
}
performance {
  raft_multiplier = 1
}
limits {
  http_max_conns_per_client = 200
}
acl {
  enabled        = false
  default_policy = "allow"
}
