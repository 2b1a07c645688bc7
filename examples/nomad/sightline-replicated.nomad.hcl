# Sightline on a replicated ClickHouse cluster: 3 ZooKeeper servers, 2
# shards x 2 replicas of ClickHouse, and stateless Sightline processes in
# front (docs/deploy.md, "Replicated cluster").
#
#   nomad var put nomad/jobs/sightline-replicated clickhouse_password=@clickhouse-password config=@sightline.yaml tls_cert=@cert.pem tls_key=@key.pem
#   nomad job run sightline-replicated.nomad.hcl
#
# ZooKeeper and ClickHouse keep data, so they are pinned to the machines
# that hold it, named in the variables zookeeper_hosts and
# clickhouse_shards. Give each of those Nomad clients a host volume and
# node metadata in its client config, e.g. for the first replica of shard 1
# (the first host of clickhouse_shards[0]):
#
#   client {
#     meta { clickhouse_shard = "01"  clickhouse_replica = "r1" }
#     host_volume "clickhouse" { path = "/srv/clickhouse" }
#   }
#
# and for the n-th host of zookeeper_hosts `meta { zookeeper_id = "n" }`
# (1, 2, 3) with a host volume "zookeeper". A replica's name comes from its
# machine, never from an allocation index, so its data and its name in
# ZooKeeper stay together when Nomad restarts it.
#
# Sightline lists every replica in --store and fails over to one that
# answers. The ClickHouse user and password are the same on every node
# (users.d, not shown: the sightline user needs CREATE, ALTER, INSERT,
# SELECT and DROP on its database).

variable "sightline_image" {
  type        = string
  default     = "registry.internal/sightline:0.1.0"
  description = "A container image with Node 20 and Sightline built (npm install && npm run build)."
}

variable "clickhouse_image" {
  type        = string
  default     = "registry.internal/clickhouse-server:18.16"
  description = "Debian's clickhouse-server (18.16) or a later release; every node runs the same version."
}

variable "zookeeper_image" {
  type        = string
  default     = "registry.internal/zookeeper:3.8"
  description = "Debian's zookeeper (3.8) with OpenJDK."
}

variable "zookeeper_hosts" {
  type        = list(string)
  default     = ["zk1.internal", "zk2.internal", "zk3.internal"]
  description = "The ZooKeeper ensemble, in server id order (server.1 first)."
}

variable "clickhouse_shards" {
  type        = list(list(string))
  default     = [["ch-s1r1.internal", "ch-s1r2.internal"], ["ch-s2r1.internal", "ch-s2r2.internal"]]
  description = "Each shard's replicas (host names as the machines know themselves), in shard order."
}

variable "database" {
  type    = string
  default = "traces"
}

variable "instances" {
  type    = number
  default = 3
}

job "sightline-replicated" {
  datacenters = ["dc1"]
  type        = "service"

  update {
    # One at a time: a shard keeps a replica while the other restarts.
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "30s"
    healthy_deadline = "5m"
    auto_revert      = true
  }

  # ZooKeeper: three servers, a quorum of two. ClickHouse needs a quorum to
  # insert into replicated tables and to run ON CLUSTER DDL; reads go on
  # without one.
  group "zookeeper" {
    count = 3

    constraint {
      attribute = "${meta.zookeeper_id}"
      operator  = "is_set"
    }

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      mode = "host"
      port "client" { static = 2181 }
      port "peer" { static = 2888 }
      port "election" { static = 3888 }
    }

    volume "zookeeper" {
      type   = "host"
      source = "zookeeper"
    }

    service {
      name     = "sightline-zookeeper"
      port     = "client"
      provider = "consul"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "zookeeper" {
      driver = "docker"

      # myid lives in dataDir, where a template cannot write.
      config {
        image        = var.zookeeper_image
        network_mode = "host"
        command      = "/bin/sh"
        args         = ["-c", "cp /local/myid /var/lib/zookeeper/myid && exec /usr/share/zookeeper/bin/zkServer.sh start-foreground /local/zoo.cfg"]
      }

      volume_mount {
        volume      = "zookeeper"
        destination = "/var/lib/zookeeper"
      }

      # The server's id, from its machine (myid must match its server.N line).
      template {
        destination = "local/myid"
        data        = "{{ env \"meta.zookeeper_id\" }}"
      }

      template {
        destination = "local/zoo.cfg"
        change_mode = "restart"
        data        = <<-EOT
          tickTime=2000
          initLimit=10
          syncLimit=5
          dataDir=/var/lib/zookeeper
          clientPort=2181
          admin.enableServer=false
          autopurge.snapRetainCount=5
          autopurge.purgeInterval=24
          %{for i, host in var.zookeeper_hosts}server.${i + 1}=${host}:2888:3888
          %{endfor}
        EOT
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }

  # ClickHouse: 2 shards x 2 replicas, one per machine of clickhouse_shards,
  # with clickhouse_shard and clickhouse_replica in its node metadata.
  group "clickhouse" {
    count = 4

    constraint {
      attribute = "${meta.clickhouse_shard}"
      operator  = "is_set"
    }

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      mode = "host"
      port "http" { static = 8123 }
      port "native" { static = 9000 }
      port "interserver" { static = 9009 }
    }

    volume "clickhouse" {
      type   = "host"
      source = "clickhouse"
    }

    service {
      name     = "sightline-clickhouse"
      port     = "http"
      provider = "consul"
      tags     = ["shard-${meta.clickhouse_shard}", "replica-${meta.clickhouse_replica}"]

      check {
        type     = "http"
        path     = "/ping"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "clickhouse" {
      driver = "docker"

      config {
        image        = var.clickhouse_image
        network_mode = "host"
        args         = ["--config-file=/etc/clickhouse-server/config.xml"]
        volumes      = ["local/replication.xml:/etc/clickhouse-server/config.d/replication.xml"]
      }

      volume_mount {
        volume      = "clickhouse"
        destination = "/var/lib/clickhouse"
      }

      # The replication part of the node's config: its shard and replica
      # (macros), ZooKeeper, the interserver port replicas fetch parts
      # from, ON CLUSTER's queue, and the cluster with internal_replication
      # (a Distributed insert writes one replica per shard; replication
      # copies it to the other).
      template {
        destination = "local/replication.xml"
        change_mode = "restart"
        data        = <<-EOT
          <yandex>
            <macros>
              <shard>{{ env "meta.clickhouse_shard" }}</shard>
              <replica>{{ env "meta.clickhouse_replica" }}</replica>
            </macros>
            <interserver_http_port>9009</interserver_http_port>
            <interserver_http_host>{{ env "attr.unique.hostname" }}</interserver_http_host>
            <zookeeper>
              %{for host in var.zookeeper_hosts}<node><host>${host}</host><port>2181</port></node>
              %{endfor}<session_timeout_ms>30000</session_timeout_ms>
            </zookeeper>
            <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
            <remote_servers>
              <sightline>
                %{for shard in var.clickhouse_shards}<shard>
                  <internal_replication>true</internal_replication>
                  %{for host in shard}<replica><host>${host}</host><port>9000</port></replica>
                  %{endfor}</shard>
                %{endfor}
              </sightline>
            </remote_servers>
          </yandex>
        EOT
      }

      resources {
        cpu    = 4000
        memory = 8192
      }
    }
  }

  group "sightline" {
    count = var.instances

    network {
      port "otlp_grpc" { to = 4317 }
      port "otlp_http" { to = 4318 }
      port "http" { to = 3200 }
    }

    # The WAL: acknowledged spans wait here while no replica of a shard answers.
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
      name     = "sightline-otlp-http"
      port     = "otlp_http"
      provider = "consul"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
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

    task "sightline" {
      driver = "docker"

      config {
        image   = var.sightline_image
        command = "node"
        args    = ["bin/sightline.cjs", "serve", "--data", "${NOMAD_ALLOC_DIR}/data/sightline"]
        ports   = ["otlp_grpc", "otlp_http", "http"]
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      # Every replica of every shard: Sightline sends to the first, and to
      # the next that answers when it does not.
      template {
        destination = "secrets/sightline.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          SIGHTLINE_STORE=clickhouse://sightline@${join(",", [for host in flatten(var.clickhouse_shards) : "${host}:8123"])}/${var.database}
          SIGHTLINE_STORE_PASSWORD_FILE={{ env "NOMAD_SECRETS_DIR" }}/clickhouse-password
          SIGHTLINE_CLICKHOUSE_CLUSTER=sightline
          SIGHTLINE_CLICKHOUSE_REPLICATED=true
          SIGHTLINE_LISTEN=0.0.0.0
          SIGHTLINE_CONFIG={{ env "NOMAD_SECRETS_DIR" }}/sightline.yaml
          SIGHTLINE_TLS_CERT={{ env "NOMAD_SECRETS_DIR" }}/tls.crt
          SIGHTLINE_TLS_KEY={{ env "NOMAD_SECRETS_DIR" }}/tls.key
          SIGHTLINE_RETENTION=14d
          SIGHTLINE_BACKLOG_BUDGET=1GiB
          SIGHTLINE_LOG_LEVEL=info
        EOT
      }

      template {
        destination = "secrets/clickhouse-password"
        perms       = "0600"
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline-replicated" }}{{ .clickhouse_password }}{{ end }}
        EOT
      }

      template {
        destination   = "secrets/sightline.yaml"
        perms         = "0600"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline-replicated" }}{{ .config }}{{ end }}
        EOT
      }

      template {
        destination   = "secrets/tls.crt"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline-replicated" }}{{ .tls_cert }}{{ end }}
        EOT
      }

      template {
        destination   = "secrets/tls.key"
        perms         = "0600"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/sightline-replicated" }}{{ .tls_key }}{{ end }}
        EOT
      }

      resources {
        cpu    = 2000
        memory = 1024
      }
    }
  }
}
