datacenter = "dc1"
node_name = "consul"
