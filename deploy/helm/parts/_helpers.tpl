{{/*
The chart's named templates. Hand-written (deploy/helm/parts/_helpers.tpl); `npm run chart`
copies it into the chart beside the templates it generates from deploy/.
*/}}

{{/*
The prefix of every name the chart gives (objects, ClusterRoles and their bindings, webhook
configurations, the serving certificate's Secret and DNS names): fullnameOverride, else the
release name when it already holds the chart's name (nameOverride standing for it), else
"<release>-<name>". Cut to 40 characters so that the longest suffix, "-mutating-webhook-configuration"
on a cluster-wide object and "-controller-metrics" on a Service (a DNS label), still fits.
*/}}
{{- define "rqlite-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Helm's recommended labels, added to deploy/'s own on every object (not to selectors). */}}
{{- define "rqlite-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{- end }}

{{/* The operator's image: repository:tag, pinned by @digest when one is given. */}}
{{- define "rqlite-operator.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}{{ $image = printf "%s@%s" $image . }}{{ end -}}
{{- $image | quote -}}
{{- end }}

{{/*
Rules between values that values.schema.json cannot state. Renders nothing; fails the install
with the rule that is broken. The Lease timings follow client-go's: the leader must give up
(renewDeadline) before its Lease expires for the others (leaseDuration), and retry in between.
*/}}
{{- define "rqlite-operator.validate" -}}
{{- $le := .Values.leaderElection -}}
{{- if not (gt (float64 $le.leaseDuration) (float64 $le.renewDeadline)) -}}
{{- fail (printf "leaderElection.leaseDuration (%v) must be greater than leaderElection.renewDeadline (%v)" $le.leaseDuration $le.renewDeadline) -}}
{{- end -}}
{{- if not (gt (float64 $le.renewDeadline) (float64 $le.retryPeriod)) -}}
{{- fail (printf "leaderElection.renewDeadline (%v) must be greater than leaderElection.retryPeriod (%v)" $le.renewDeadline $le.retryPeriod) -}}
{{- end -}}
{{- end }}
