{{/* The ElastiCache API server (`redisbackup serve`): names and modes. --------------------------------------------- */}}

{{- define "redisbackup.api.fullname" -}}
{{- printf "%s-elasticache-api" (include "redisbackup.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "redisbackup.api.caConfigMapName" -}}
{{- printf "%s-ca" (include "redisbackup.api.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "redisbackup.api.selectorLabels" -}}
{{ include "redisbackup.selectorLabels" . }}
app.kubernetes.io/component: elasticache-api
{{- end }}

{{/* Where the API's certificate comes from: cert-manager, a Secret of the user's, or the server itself. */}}
{{- define "redisbackup.api.certificates" -}}
{{- if .Values.elasticacheApi.tls.certManager.enabled }}cert-manager
{{- else if .Values.elasticacheApi.tls.existingSecret }}secret
{{- else }}server
{{- end }}
{{- end }}

{{- define "redisbackup.api.tlsSecretName" -}}
{{- if .Values.elasticacheApi.tls.existingSecret }}
{{- .Values.elasticacheApi.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "redisbackup.api.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The names the serving certificate must cover: the Service's, the Ingress host, and any extra ones. */}}
{{- define "redisbackup.api.dnsNames" -}}
{{- $service := include "redisbackup.api.fullname" . }}
{{- $names := list (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) $service (printf "%s.%s" $service .Release.Namespace) }}
{{- if and .Values.elasticacheApi.ingress.enabled .Values.elasticacheApi.ingress.host }}
{{- $names = append $names .Values.elasticacheApi.ingress.host }}
{{- end }}
{{- toJson (uniq (concat $names .Values.elasticacheApi.tls.extraDnsNames)) }}
{{- end }}

{{/* The Secret whose key `session-key` seals the console's sessions. */}}
{{- define "redisbackup.console.sessionSecretName" -}}
{{- if .Values.elasticacheApi.console.sessionKey.existingSecret }}
{{- .Values.elasticacheApi.console.sessionKey.existingSecret }}
{{- else }}
{{- printf "%s-console-session" (include "redisbackup.api.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The Copy targets the console offers: the values' list, else the names of the operator's storage locations. */}}
{{- define "redisbackup.console.copyLocations" -}}
{{- if .Values.elasticacheApi.console.copyLocations }}
{{- join "," .Values.elasticacheApi.console.copyLocations }}
{{- else }}
{{- join "," (keys (.Values.storage.locations | default dict) | sortAlpha) }}
{{- end }}
{{- end }}
