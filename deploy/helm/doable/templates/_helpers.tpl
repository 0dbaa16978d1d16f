{{/* Names and labels shared by every resource of the chart. */}}

{{- define "doable.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "doable.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "doable.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "doable.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "doable.selectorLabels" -}}
app.kubernetes.io/name: {{ include "doable.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "doable.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "doable.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "doable.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the pods read: yours, or the chart's. */}}
{{- define "doable.secretName" -}}
{{- default (include "doable.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* Refuse values that would start pods that cannot work, with one line saying why. */}}
{{- define "doable.validate" -}}
{{- if not .Values.existingSecret }}
{{- if lt (len .Values.secretKey) 32 }}
{{- fail "secretKey must be set and at least 32 bytes long (or set existingSecret)" }}
{{- end }}
{{- if not .Values.database.url }}
{{- fail "database.url must be set (or set existingSecret)" }}
{{- end }}
{{- if and .Values.metrics.token (lt (len .Values.metrics.token) 32) }}
{{- fail "metrics.token must be at least 32 bytes long" }}
{{- end }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) }}
{{- fail "terminationGracePeriodSeconds must be longer than preStopSleepSeconds" }}
{{- end }}
{{- end }}

{{/* Environment shared by the server pods and the migration Job. */}}
{{- define "doable.env" -}}
- name: DOABLE_DATA_DIR
  value: /data
- name: HOME
  value: /tmp
- name: FORWARDED_ALLOW_IPS
  value: {{ .Values.forwardedAllowIps | quote }}
- name: SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "doable.secretName" . }}
      key: SECRET_KEY
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "doable.secretName" . }}
      key: DATABASE_URL
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "doable.secretName" . }}
      key: REDIS_URL
      optional: true
- name: METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "doable.secretName" . }}
      key: METRICS_TOKEN
      optional: true
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
