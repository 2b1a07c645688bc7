# Sightline as a Nomad service in front of a ClickHouse server or cluster.
#
#   nomad var put nomad/jobs/sightline clickhouse_password=@clickhouse-password config=@sightline.yaml tls_cert=@cert.pem tls_key=@key.pem
#   nomad job run -var 'clickhouse_url=clickhouse://sightline@clickhouse.service.consul:8123/traces' sightline.nomad.hcl
#
# Sightline processes are stateless apart from their local WAL: run as many
# as ingest and query need. Off loopback Sightline requires identities and
# this job gives it TLS too: put the config file (tokens as hashes, made by
# `sightline token create`) and the certificate and key in the Nomad
# variable nomad/jobs/sightline under the keys config, tls_cert and tls_key.
# Changing them sends SIGHUP, which re-reads tokens and certificates
# without a restart. The ClickHouse password goes in the same variable
# under clickhouse_password, never in the URL (where `ps` and the job spec
# would show it); Sightline reads it once at start, so changing it restarts
# the task. The WAL lives in an ephemeral disk marked sticky
# and migrating, so an allocation replaced on the same node (or migrated)
# replays what it had acknowledged but not yet stored.

variable "image" {
  type        = string
  default     = "registry.internal/sightline:0.1.0"
  description = "A container image with Node 20 and Sightline built (npm install && npm run build)."
}

variable "clickhouse_url" {
  type        = string
  default     = ""
  description = "clickhouse://user@host:8123[,host2:8123]/database, without a password (that is clickhouse_password in the Nomad variable). Empty: read it from Consul KV sightline/clickhouse_url."
}

variable "clickhouse_cluster" {
  type        = string
  default     = ""
  description = "remote_servers cluster name when the URL lists several shards."
}

variable "instances" {
  type    = number
  default = 3
}

job "sightline" {
  datacenters = ["dc1"]
  type        = "service"

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "3m"
    auto_revert      = true
  }

  group "sightline" {
    count = var.instances

    network {
      port "otlp_grpc" { to = 4317 }
      port "otlp_http" { to = 4318 }
      port "http" { to = 3200 }
    }

    ephemeral_disk {
      size    = 4096
      sticky  = true
      migrate = true
    }

    service {
      name     = "sightline"
      port     = "http"
      provider = "consul"
      tags     = ["query", "tempo-api"]

      check {
        name            = "ready"
        type            = "http"
        protocol        = "https"
        tls_skip_verify = true
        path            = "/ready"
        interval        = "10s"
        timeout         = "2s"
      }
    }

    service {
      name     = "sightline-otlp-grpc"
      port     = "otlp_grpc"
      provider = "consul"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    service {
      name     = "sightline-otlp-http"
      port     = "otlp_http"
      provider = "consul"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "sightline" {
      driver = "docker"

      config {
        image   = var.image
        command = "node"
        args    = ["bin/sightline.cjs", "serve", "--data", "${NOMAD_ALLOC_DIR}/data/sightline"]
        ports   = ["otlp_grpc", "otlp_http", "http"]
      }

      # SIGTERM makes Sightline stop accepting, move its WAL into the store
      # and exit 0; give it time to do so.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      template {
        destination = "secrets/sightline.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          SIGHTLINE_STORE={{ with "${var.clickhouse_url}" }}{{ . }}{{ else }}{{ key "sightline/clickhouse_url" }}{{ end }}
          SIGHTLINE_STORE_PASSWORD_FILE={{ env "NOMAD_SECRETS_DIR" }}/clickhouse-password
          SIGHTLINE_CLICKHOUSE_CLUSTER=${var.clickhouse_cluster}
          SIGHTLINE_LISTEN=0.0.0.0
          SIGHTLINE_CONFIG={{ env "NOMAD_SECRETS_DIR" }}/sightline.yaml
          SIGHTLINE_TLS_CERT={{ env "NOMAD_SECRETS_DIR" }}/tls.crt
          SIGHTLINE_TLS_KEY={{ env "NOMAD_SECRETS_DIR" }}/tls.key
          SIGHTLINE_RETENTION=14d
          SIGHTLINE_BACKLOG_BUDGET=1GiB
          SIGHTLINE_LOG_LEVEL=info
        EOT
      }

      # Read once at start (--store-password-file): a new password restarts the task.
      template {
        destination = "secrets/clickhouse-password"
        perms       = "0600"
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline" }}{{ .clickhouse_password }}{{ end }}
        EOT
      }

      # Tokens (as salted hashes), OIDC and tailnet identities: docs/security.md.
      template {
        destination   = "secrets/sightline.yaml"
        perms         = "0600"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline" }}{{ .config }}{{ end }}
        EOT
      }

      template {
        destination   = "secrets/tls.crt"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline" }}{{ .tls_cert }}{{ end }}
        EOT
      }

      template {
        destination   = "secrets/tls.key"
        perms         = "0600"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline" }}{{ .tls_key }}{{ end }}
        EOT
      }

      resources {
        cpu    = 2000
        memory = 1024
      }
    }
  }
}
