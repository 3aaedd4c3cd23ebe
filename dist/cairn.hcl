# cairn agent configuration (HCL; Consul's keys). The packaged service runs
#   cairn agent -config-dir=/etc/cairn.d
# which loads every *.hcl and *.json file of this directory in lexical order.
# Options and keys: cairn-agent(1), /usr/share/doc/cairn/config.md.
# After a change: systemctl reload cairn (SIGHUP; ports, data_dir and server
# need a restart).

datacenter = "dc1"

# The node's name in the catalog (default: the hostname).
#node_name = "node1"

# Raft log, snapshots and node id. The service may write only here
# (ReadWritePaths in cairn.service).
data_dir = "/var/lib/cairn"

# cairn agents are always servers (there are no client-mode agents); a
# single server bootstraps its own cluster. For three servers, drop
# bootstrap and set bootstrap_expect = 3 with retry_join on each.
server    = true
bootstrap = true

# HTTP API (and the DNS port, when served) on loopback only; set client_addr
# to serve other hosts.
client_addr = "127.0.0.1"
bind_addr   = "127.0.0.1"
