{{/* Chart name, shortened to fit a DNS label. */}}
{{- define "certsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name, the prefix of every resource name: the release name, with the
chart name appended unless the release name already contains it (a release
called "certsync" gives ServiceAccount certsync, ClusterRole
certsync-manager-role, as config/default).
*/}}
{{- define "certsync.fullname" -}}
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

{{- define "certsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object that is part of the controller manager. */}}
{{- define "certsync.labels" -}}
{{ include "certsync.commonLabels" . }}
app.kubernetes.io/component: controller-manager
{{- end }}

{{/* Labels on every object, without a component. */}}
{{- define "certsync.commonLabels" -}}
helm.sh/chart: {{ include "certsync.chart" . }}
app.kubernetes.io/name: {{ include "certsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels selecting the manager pods. */}}
{{- define "certsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end }}

{{- define "certsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "certsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "certsync.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The rules of a Role or ClusterRole of config/rbac (synced to files/rbac by
make chart-sync): role.yaml is what controller-gen generates from the
operator's RBAC markers. Usage: include "certsync.rules" (list $ "role.yaml")
*/}}
{{- define "certsync.rules" -}}
{{- $ctx := index . 0 }}
{{- $role := $ctx.Files.Get (printf "files/rbac/%s" (index . 1)) | fromYaml }}
{{- if not $role.rules }}
{{- fail (printf "files/rbac/%s has no rules: run make chart-sync" (index . 1)) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}
