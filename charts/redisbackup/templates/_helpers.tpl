{{/* Names ---------------------------------------------------------------------------------------------------- */}}

{{- define "redisbackup.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name: resources are it or it plus a suffix. Cluster-scoped ones include it, so two releases
(e.g. one per team namespace) never collide. */}}
{{- define "redisbackup.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "redisbackup.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "redisbackup.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redisbackup.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "redisbackup.labels" -}}
helm.sh/chart: {{ include "redisbackup.chart" . }}
{{ include "redisbackup.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: redisbackup
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "redisbackup.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "redisbackup.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "redisbackup.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "redisbackup.configMapName" -}}
{{- printf "%s-config" (include "redisbackup.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "redisbackup.webhookServiceName" -}}
{{- printf "%s-webhook" (include "redisbackup.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "redisbackup.metricsServiceName" -}}
{{- printf "%s-metrics" (include "redisbackup.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Cluster-scoped: named after the release and its namespace would be clearer, but the name is what users see in
`kubectl get validatingwebhookconfiguration`; the full name is unique per release already. */}}
{{- define "redisbackup.webhookConfigurationName" -}}
{{- include "redisbackup.fullname" . }}
{{- end }}

{{- define "redisbackup.webhookSecretName" -}}
{{- if .Values.webhook.existingSecret }}
{{- .Values.webhook.existingSecret }}
{{- else }}
{{- printf "%s-webhook-tls" (include "redisbackup.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The Secret in which the operator's Pods share the webhook CA they generate (operator-made certificates). */}}
{{- define "redisbackup.webhookCASecretName" -}}
{{- printf "%s-webhook-ca" (include "redisbackup.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "true" when the operator generates the webhook's certificates and shares their CA through that Secret. */}}
{{- define "redisbackup.sharedWebhookCA" -}}
{{- if and .Values.webhook.enabled (eq (include "redisbackup.webhookCertificates" .) "operator") }}true{{ end }}
{{- end }}

{{- define "redisbackup.peeringName" -}}
{{- default (include "redisbackup.fullname" .) .Values.peering.name }}
{{- end }}

{{/* Modes ------------------------------------------------------------------------------------------------------ */}}

{{/* "true" when kopf peering is on: asked for (the default: two Pods overlap in every rolling update), or needed
because several replicas run. */}}
{{- define "redisbackup.peering" -}}
{{- if or .Values.peering.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Where the webhook's certificate comes from: cert-manager, a Secret of the user's, or the operator itself. */}}
{{- define "redisbackup.webhookCertificates" -}}
{{- if .Values.webhook.certManager.enabled }}cert-manager
{{- else if .Values.webhook.existingSecret }}secret
{{- else }}operator
{{- end }}
{{- end }}

{{/* "true" when the operator writes the ValidatingWebhookConfiguration's CA bundle (and needs `update` on it). */}}
{{- define "redisbackup.operatorPublishesCA" -}}
{{- if and .Values.webhook.enabled (ne (include "redisbackup.webhookCertificates" .) "cert-manager") }}true{{ end }}
{{- end }}

{{/* The namespaces whose Secrets the operator reads through Roles; empty: every namespace (a ClusterRole). */}}
{{- define "redisbackup.secretNamespaces" -}}
{{- $namespaces := .Values.rbac.secretNamespaces | default .Values.watchNamespaces }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{/* Storage ---------------------------------------------------------------------------------------------------- */}}

{{/* The volume name of a location's mounted credentials (DNS label: a prefix, the name cut short, a hash). */}}
{{- define "redisbackup.volumeName" -}}
{{- $prefix := index . 0 }}{{ $name := index . 1 }}
{{- printf "%s-%s-%s" $prefix ($name | trunc 40 | trimSuffix "-") (sha256sum $name | trunc 8) }}
{{- end }}

{{- define "redisbackup.claimName" -}}
{{- $root := index . 0 }}{{ $name := index . 1 }}{{ $file := index . 2 }}
{{- if $file.persistence.existingClaim }}
{{- $file.persistence.existingClaim }}
{{- else }}
{{- printf "%s-%s" (include "redisbackup.fullname" $root) $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "redisbackup.s3CredentialsDir" -}}
{{- printf "/etc/redisbackup/s3/%s" . }}
{{- end }}

{{- define "redisbackup.s3CADir" -}}
{{- printf "/etc/redisbackup/s3-ca/%s" . }}
{{- end }}

{{/* Checks that the schema cannot express ---------------------------------------------------------------------- */}}

{{- define "redisbackup.validate" -}}
{{- if not (hasKey .Values.storage.locations .Values.storage.defaultLocation) }}
{{- fail (printf "storage.defaultLocation %q is not one of storage.locations (%s): name one of them, or add it" .Values.storage.defaultLocation (keys .Values.storage.locations | sortAlpha | join ", ")) }}
{{- end }}
{{- range $name, $location := .Values.storage.locations }}
{{- if eq (len (pick $location "file" "s3")) 0 }}
{{- fail (printf "storage.locations.%s has neither file nor s3: give it exactly one" $name) }}
{{- end }}
{{- if and $location.file $location.s3 }}
{{- fail (printf "storage.locations.%s has both file and s3: keep one" $name) }}
{{- end }}
{{- if and $location.file (gt (int $.Values.replicaCount) 1) $location.file.persistence.enabled (not $location.file.persistence.existingClaim) (not (has "ReadWriteMany" $location.file.persistence.accessModes)) }}
{{- fail (printf "storage.locations.%s: with replicaCount > 1 every replica mounts the claim; use accessModes [ReadWriteMany] (or an existingClaim that allows it), or an S3 location" $name) }}
{{- end }}
{{- end }}
{{- if and .Values.webhook.certManager.enabled .Values.webhook.existingSecret }}
{{- fail "webhook.certManager.enabled and webhook.existingSecret are both set: keep one source of the webhook certificate" }}
{{- end }}
{{- end }}
