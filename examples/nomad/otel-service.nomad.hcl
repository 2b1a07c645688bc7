# A Node.js (or .NET) service on Nomad, traced with OpenTelemetry into Sightline.
#
#   nomad var put nomad/jobs/checkout sightline_token=slt_...   # only without tailnet identities
#   nomad job run -var 'environment=production' \
#     -var "job_version=$(( $(nomad job inspect -t '{{.Version}}' checkout 2>/dev/null || echo -1) + 1 ))" \
#     otel-service.nomad.hcl
#
# The OpenTelemetry SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and
# OTEL_EXPORTER_OTLP_ENDPOINT at start (Node: @opentelemetry/sdk-node or
# auto-instrumentations-node; .NET: OpenTelemetry.Extensions.Hosting with
# .AddOtlpExporter()). Nothing in the application names its Nomad job,
# allocation or node: this job does, from Nomad's runtime environment, so
# Sightline's compare and service map can point at one allocation or node
# (docs/nomad.md).
#
# Which value comes from where:
#   NOMAD_*            runtime environment variables: set in the task's
#                      environment and interpolated here by Nomad.
#   ${node.unique.*}   node attributes: interpolation only. They are not in
#                      the task's environment, so this env block is the
#                      only way the task learns them.
#   ${var.*}           this file's variables, resolved at `nomad job run`.
# Values must not contain ',', '=' or '%' (the SDK drops the whole variable
# on a value it cannot decode); Nomad's names and ids never do.

variable "image" {
  type        = string
  default     = "registry.internal/checkout:1.4.2"
  description = "The service's container image."
}

variable "version" {
  type        = string
  default     = "1.4.2"
  description = "service.version: the release the image holds."
}

variable "job_version" {
  type        = string
  default     = "0"
  description = "nomad.job.version: the version Nomad gives this submission of the job. Nomad hands no job version to its tasks, so the deploy step passes it (docs/nomad.md); Sightline's Delivery page counts a new one as a deployment."
}

variable "environment" {
  type        = string
  default     = "production"
  description = "deployment.environment.name."
}

variable "sightline_otlp_endpoint" {
  type        = string
  default     = ""
  description = "Sightline's OTLP/HTTP address over the tailnet, e.g. https://sightline.tail1234.ts.net:4318. Empty: the sightline-otlp-http service in Consul (examples/nomad/sightline.nomad.hcl registers it)."
}

job "checkout" {
  type        = "service"
  datacenters = ["dc1"]

  group "api" {
    count = 3

    network {
      port "http" { to = 8080 }
    }

    service {
      name     = "checkout"
      port     = "http"
      provider = "consul"
    }

    task "server" {
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
      }

      env {
        # service.name: the job is the service. In a job with several
        # services, use each task's own name instead ("${NOMAD_TASK_NAME}").
        OTEL_SERVICE_NAME = "${NOMAD_JOB_NAME}"

        # OpenTelemetry semantic conventions where one exists:
        #   service.instance.id          the allocation id: unique per running copy, new on every reschedule
        #   service.version              the release
        #   deployment.environment.name  production, staging, ...
        #   host.name                    the Nomad client's name (its hostname unless configured otherwise)
        # Nomad itself, in the nomad.* namespace (there are no nomad.*
        # semantic conventions; these are the keys of Nomad's own proposal,
        # hashicorp/nomad#14556):
        #   nomad.job.name     NOMAD_JOB_NAME
        #   nomad.group.name   NOMAD_GROUP_NAME
        #   nomad.task.name    NOMAD_TASK_NAME
        #   nomad.alloc.id     NOMAD_ALLOC_ID
        #   nomad.alloc.name   NOMAD_ALLOC_NAME (job.group[index])
        #   nomad.namespace    NOMAD_NAMESPACE
        #   nomad.node.datacenter  NOMAD_DC (the datacenter of the node the allocation runs on)
        #   nomad.region       NOMAD_REGION
        #   nomad.node.id      ${node.unique.id}
        #   nomad.node.name    ${node.unique.name}
        #   nomad.job.version  var.job_version: Nomad's job version, passed by the deploy
        #                      step (Nomad does not hand it to tasks); a new one is a
        #                      deployment on Sightline's Delivery page (docs/delivery.md)
        # host.id is left to the SDK's host detector (the machine id): Nomad's
        # node id is Nomad's own, and is new when a client loses its data dir.
        OTEL_RESOURCE_ATTRIBUTES = "service.instance.id=${NOMAD_ALLOC_ID},service.version=${var.version},deployment.environment.name=${var.environment},host.name=${node.unique.name},nomad.job.name=${NOMAD_JOB_NAME},nomad.group.name=${NOMAD_GROUP_NAME},nomad.task.name=${NOMAD_TASK_NAME},nomad.alloc.id=${NOMAD_ALLOC_ID},nomad.alloc.name=${NOMAD_ALLOC_NAME},nomad.namespace=${NOMAD_NAMESPACE},nomad.node.datacenter=${NOMAD_DC},nomad.region=${NOMAD_REGION},nomad.node.id=${node.unique.id},nomad.node.name=${node.unique.name},nomad.job.version=${var.job_version}"

        OTEL_TRACES_EXPORTER        = "otlp"
        OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
      }

      # Where Sightline is: the fixed tailnet name when given, otherwise
      # Sightline's OTLP/HTTP service in Consul (TLS, as sightline.nomad.hcl
      # serves it). Re-rendered when Consul's answer changes.
      template {
        destination = "local/otlp.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
        %{ if var.sightline_otlp_endpoint != "" }
        OTEL_EXPORTER_OTLP_ENDPOINT=${var.sightline_otlp_endpoint}
        %{ else }
        {{- with service "sightline-otlp-http" }}{{ with index . 0 }}
        OTEL_EXPORTER_OTLP_ENDPOINT=https://{{ .Address }}:{{ .Port }}
        {{- end }}{{ end }}
        %{ endif }
        EOT
      }

      # An ingest token, for a Sightline without tailnet identities
      # (docs/security.md). On a tailnet whose tagged nodes Sightline
      # trusts, leave the Nomad variable without sightline_token.
      template {
        destination = "secrets/otlp-headers.env"
        env         = true
        perms       = "0600"
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/checkout" }}{{ if .sightline_token }}OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {{ .sightline_token }}"{{ end }}{{ end }}
        EOT
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
