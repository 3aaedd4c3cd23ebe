services {
  name = "redis"
  port = 6379
  check {
    args     = ["/usr/local/bin/check_redis.py", "--port", "6379"]
    interval = "10s"
  }
}
services {
  name = "db"
  port = 5432
  check {
    ttl    = "30s"
    notes  = <<-EOT
      Updated by the app through
      /v1/agent/check/pass.
    EOT
    status = "passing"
  }
}
