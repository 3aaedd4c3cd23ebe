service {
  name = "web"
  id   = "web-1"
  port = 80
  tags = ["rails", "v1"]
  meta {
    version = "4.2"
  }
  tagged_addresses {
    lan = { address = "10.0.0.5", port = 80 }
  }
  weights {
    passing = 10
    warning = 1
  }
  enable_tag_override = false
  checks = [
    {
      id       = "web-http"
      name     = "HTTP on port 80"
      http     = "http://localhost:80/health"
      method   = "GET"
      header   = { "X-Probe" = ["consul"] }
      interval = "10s"
      timeout  = "1s"
    },
    {
      id       = "web-tcp"
      tcp      = "localhost:80"
      interval = "30s"
      deregister_critical_service_after = "90m"
    }
  ]
}
