{{/* The chart name, or nameOverride. */}}
{{- define "tagpin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects: fullnameOverride, else the release name,
with the chart name appended unless the release name contains it.
*/}}
{{- define "tagpin.fullname" -}}
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

{{- define "tagpin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "tagpin.labels" -}}
helm.sh/chart: {{ include "tagpin.chart" . }}
{{ include "tagpin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: webhook
{{- end }}

{{/* Labels the Deployment, Service and PodDisruptionBudget select pods by. */}}
{{- define "tagpin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tagpin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tagpin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tagpin.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: repository:tag, with @digest when one is given. */}}
{{- define "tagpin.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate, in every mode. */}}
{{- define "tagpin.certSecretName" -}}
{{- if eq .Values.certificates.mode "cert-manager" }}
{{- printf "%s-serving-cert" (include "tagpin.fullname" .) }}
{{- else }}
{{- default (printf "%s-certs" (include "tagpin.fullname" .)) .Values.certificates.secretName }}
{{- end }}
{{- end }}

{{- define "tagpin.leaseName" -}}
{{- default (include "tagpin.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{/* The name of the webhook in the MutatingWebhookConfiguration. */}}
{{- define "tagpin.webhookName" -}}
pods.tagpin.dev
{{- end }}

{{/*
Seconds in a Go duration string (values.schema.json has checked its
syntax): the sum of its number-unit parts.
*/}}
{{- define "tagpin.seconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]*\\.?[0-9]+(ns|us|µs|ms|s|m|h)" (toString .) -1 }}
{{- $unit := regexFind "(ns|us|µs|ms|s|m|h)$" . }}
{{- $number := trimSuffix $unit . }}
{{- $total = addf $total (mulf (float64 $number) (get $units $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
Checks that need more than values.schema.json can say: comparisons
between values. Included by the Deployment, so every render runs them.
*/}}
{{- define "tagpin.validate" -}}
{{- $resolve := include "tagpin.seconds" .Values.resolveTimeout | float64 }}
{{- if le $resolve 0.0 }}
{{- fail (printf "\n\nresolveTimeout %q: must be more than 0." .Values.resolveTimeout) }}
{{- end }}
{{- if lt (float64 .Values.webhook.timeoutSeconds) (addf $resolve 1.0) }}
{{- fail (printf "\n\nwebhook.timeoutSeconds (%v) must exceed resolveTimeout (%s) by at least 1s, or the API server gives up before the webhook answers: raise webhook.timeoutSeconds (at most 30) or lower resolveTimeout." .Values.webhook.timeoutSeconds .Values.resolveTimeout) }}
{{- end }}
{{- $shutdown := include "tagpin.seconds" .Values.shutdownGracePeriod | float64 }}
{{- if ge (addf $shutdown (float64 .Values.preStopSleepSeconds)) (float64 .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "\n\nterminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds (%v) plus shutdownGracePeriod (%s), or the kubelet kills the webhook before the admissions under way finish." .Values.terminationGracePeriodSeconds .Values.preStopSleepSeconds .Values.shutdownGracePeriod) }}
{{- end }}
{{- if and (eq .Values.store "bolt") (ne (int .Values.replicaCount) 1) }}
{{- fail (printf "\n\nstore bolt keeps its data in one file on one volume: set replicaCount to 1 (it is %v), or use store: kubernetes for several replicas." .Values.replicaCount) }}
{{- end }}
{{- if and (eq .Values.certificates.mode "self-managed") (not .Values.leaderElection.enabled) (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "\n\ncertificates.mode self-managed with %v replicas needs leaderElection.enabled: true, so that one replica at a time writes the certificate Secret and the webhook configuration's caBundle." .Values.replicaCount) }}
{{- end }}
{{- if and .Values.notifications.enabled (not .Values.notifications.tokenSecret) }}
{{- fail "\n\nnotifications.enabled: set notifications.tokenSecret to a Secret holding the token registries must send (key notifications.tokenSecretKey): the endpoint does not run unauthenticated." }}
{{- end }}
{{- if eq .Values.certificates.mode "secret" }}
{{- if not .Values.certificates.secretName }}
{{- fail "\n\ncertificates.mode secret: set certificates.secretName to the Secret (type kubernetes.io/tls, in the release namespace) holding the serving certificate." }}
{{- end }}
{{- if not .Values.certificates.caBundle }}
{{- fail "\n\ncertificates.mode secret: set certificates.caBundle to the base64-encoded PEM of the CA that signed the certificate in certificates.secretName." }}
{{- end }}
{{- end }}
{{- end }}
