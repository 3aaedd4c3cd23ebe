watches = [
  {
    type = "key"
    key = "foo/bar/baz"
    handler_type = "script"
    args = ["/usr/bin/my-service-handler.sh", "-redis"]
  },
  {
    type = "service"
    service = "redis"
    tag = ["primary"]
    passing = true
    handler = "/usr/bin/handler.sh"
  },
  { type = "checks", state = "critical", args = ["/bin/true"] }
]
