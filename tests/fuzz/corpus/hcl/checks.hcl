check {
  id       = "mem-util"
  name     = "Memory utilization"
  args     = ["/usr/local/bin/check_mem.py", "-limit", "256MB"]
  interval = "10s"
  timeout  = "1s"
}
check {
  id = "api"
  name = "HTTP API on port 5000"
  http = "https://localhost:5000/health"
  tls_skip_verify = true
  method = "POST"
  body = "{\"method\":\"health\"}"
  interval = "10s"
}
