{{/* Names */}}
{{- define "pipeline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pipeline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels; components are called with (dict "root" $ "component" "producer"). */}}
{{- define "pipeline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pipeline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "pipeline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "pipeline.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "pipeline.name" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "pipeline.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Secrets: the chart's generated credentials, or the user's Secret with the URLs. */}}
{{- define "pipeline.apiKeySecret" -}}
{{- .Values.producer.adminApiKey.existingSecret | default (printf "%s-api-key" (include "pipeline.fullname" .)) }}
{{- end }}

{{- define "pipeline.credentialsSecret" -}}
{{- printf "%s-credentials" (include "pipeline.fullname" .) }}
{{- end }}

{{- define "pipeline.rabbitmqHost" -}}
{{- printf "%s-rabbitmq.%s.svc" (include "pipeline.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The in-chart broker's nodes for AMQP_URL, host:port, comma-separated: the Service, or each pod of a cluster through the headless Service. */}}
{{- define "pipeline.rabbitmqHosts" -}}
{{- $replicas := int (.Values.rabbitmq.replicas | default 1) }}
{{- if eq $replicas 1 }}
{{- printf "%s:5672" (include "pipeline.rabbitmqHost" .) }}
{{- else }}
{{- $name := printf "%s-rabbitmq" (include "pipeline.fullname" .) }}
{{- $hosts := list }}
{{- range $i := until $replicas }}
{{- $hosts = append $hosts (printf "%s-%d.%s-headless.%s.svc:5672" $name $i $name $.Release.Namespace) }}
{{- end }}
{{- join "," $hosts }}
{{- end }}
{{- end }}

{{- define "pipeline.postgresqlHost" -}}
{{- printf "%s-postgresql.%s.svc" (include "pipeline.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "pipeline.amqpSecret" -}}
{{- if .Values.rabbitmq.enabled }}
{{- include "pipeline.credentialsSecret" . }}
{{- else }}
{{- $name := .Values.externalServices.amqpSecret | default .Values.externalServices.existingSecret }}
{{- required "rabbitmq.enabled is false: name the Secret holding AMQP_URL in externalServices.existingSecret (or externalServices.amqpSecret)" $name }}
{{- end }}
{{- end }}

{{- define "pipeline.databaseSecret" -}}
{{- if .Values.postgresql.enabled }}
{{- include "pipeline.credentialsSecret" . }}
{{- else }}
{{- $name := .Values.externalServices.databaseSecret | default .Values.externalServices.existingSecret }}
{{- required "postgresql.enabled is false: name the Secret holding DATABASE_URL in externalServices.existingSecret (or externalServices.databaseSecret)" $name }}
{{- end }}
{{- end }}

{{- define "pipeline.amqpUrlRef" -}}
secretKeyRef:
  name: {{ include "pipeline.amqpSecret" . }}
  key: {{ ternary "AMQP_URL" .Values.externalServices.amqpUrlKey .Values.rabbitmq.enabled }}
{{- end }}

{{/*
An app's broker URL: (dict "root" $ "role" "worker"). The in-chart broker's: the app's own user
(AMQP_URL_<ROLE> of the credentials Secret); an external broker's: the one URL given.
*/}}
{{- define "pipeline.appAmqpUrlRef" -}}
{{- if .root.Values.rabbitmq.enabled -}}
secretKeyRef:
  name: {{ include "pipeline.credentialsSecret" .root }}
  key: {{ printf "AMQP_URL_%s" (upper .role) }}
{{- else -}}
{{- include "pipeline.amqpUrlRef" .root }}
{{- end }}
{{- end }}

{{- define "pipeline.databaseUrlRef" -}}
secretKeyRef:
  name: {{ include "pipeline.databaseSecret" . }}
  key: {{ ternary "DATABASE_URL" .Values.externalServices.databaseUrlKey .Values.postgresql.enabled }}
{{- end }}

{{/*
Environment: the broker's URL and the shared settings (every app): (dict "root" $ "role" "worker").
With the in-chart broker only the producer declares the topology; the others, whose users may
configure nothing, check it.
*/}}
{{- define "pipeline.sharedEnv" -}}
- name: AMQP_URL
  valueFrom:
    {{- include "pipeline.appAmqpUrlRef" . | nindent 4 }}
{{- if .root.Values.rabbitmq.enabled }}
- name: AMQP_TOPOLOGY
  value: {{ ternary "declare" "check" (eq .role "producer") | quote }}
{{- end }}
{{- range $name, $value := .root.Values.config }}
- name: {{ $name }}
  value: {{ include "pipeline.envValue" $value }}
{{- end }}
{{- end }}

{{/* A setting as an env value: whole numbers as written (YAML gives Helm 1e+08 otherwise). */}}
{{- define "pipeline.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}
{{- . | int64 | toString | quote }}
{{- else }}
{{- . | toString | quote }}
{{- end }}
{{- end }}

{{- define "pipeline.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    {{- include "pipeline.databaseUrlRef" . | nindent 4 }}
{{- end }}

{{/*
The ports URL sources may name, for the producer (400 otherwise) and the workers: the ports
their NetworkPolicy lets them reach, so that both say the same.
*/}}
{{- define "pipeline.sourceUrlPortsEnv" -}}
- name: SOURCE_URL_PORTS
  value: {{ join "," .Values.networkPolicy.urlSources.ports | quote }}
{{- end }}

{{/* An app's own settings: (dict "env" .Values.producer.env) */}}
{{- define "pipeline.extraEnv" -}}
{{- range $name, $value := .env }}
- name: {{ $name }}
  value: {{ include "pipeline.envValue" $value }}
{{- end }}
{{- end }}

{{/*
An init container that waits until the services of the given URL variables accept TCP
connections: (dict "root" $ "urls" (list "AMQP_URL" "DATABASE_URL") "role" "worker"); the
role picks the app's own broker URL.
*/}}
{{- define "pipeline.waitFor" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- if $root.Values.waitForServices.enabled -}}
initContainers:
- name: wait-for-services
  image: {{ include "pipeline.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args: ["deploy/wait-for.js", {{ range $i, $url := .urls }}{{ if $i }}, {{ end }}{{ $url | quote }}{{ end }}]
  env:
    - name: WAIT_TIMEOUT_S
      value: {{ $root.Values.waitForServices.timeoutSeconds | quote }}
    {{- range .urls }}
    - name: {{ . }}
      valueFrom:
        {{- if eq . "AMQP_URL" }}
        {{- include "pipeline.appAmqpUrlRef" (dict "root" $root "role" $role) | nindent 8 }}
        {{- else }}
        {{- include "pipeline.databaseUrlRef" $root | nindent 8 }}
        {{- end }}
    {{- end }}
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
    limits:
      memory: 64Mi
  securityContext:
    {{- toYaml $root.Values.securityContext | nindent 4 }}
{{- end }}
{{- end }}

{{/* Liveness, readiness and startup probes on an app's health endpoints. */}}
{{- define "pipeline.probes" -}}
startupProbe:
  httpGet:
    path: /health/live
    port: http
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /health/live
    port: http
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /health/ready
    port: http
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 2
{{- end }}

{{- define "pipeline.metricsAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ . | quote }}
prometheus.io/path: /metrics
{{- end }}

{{- define "pipeline.storageClass" -}}
{{- if eq . "-" -}}
storageClassName: ""
{{- else if . -}}
storageClassName: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The shared storage and the images folder (producer and workers). */}}
{{- define "pipeline.storageVolumes" -}}
{{- if eq .Values.storage.type "filesystem" }}
- name: storage
  persistentVolumeClaim:
    claimName: {{ .Values.storage.existingClaim | default (printf "%s-storage" (include "pipeline.fullname" .)) }}
{{- end }}
{{- if .Values.images.existingClaim }}
- name: images
  persistentVolumeClaim:
    claimName: {{ .Values.images.existingClaim }}
    readOnly: true
{{- end }}
{{- end }}

{{- define "pipeline.storageMounts" -}}
{{- if eq .Values.storage.type "filesystem" }}
- name: storage
  mountPath: {{ .Values.storage.mountPath }}
{{- end }}
{{- if .Values.images.existingClaim }}
- name: images
  mountPath: {{ .Values.images.mountPath }}
  readOnly: true
  {{- with .Values.images.subPath }}
  subPath: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "pipeline.storageEnv" -}}
{{- include "pipeline.blobStorageEnv" . }}
- name: IMAGES_DIR
  value: {{ .Values.images.mountPath | quote }}
{{- end }}

{{- define "pipeline.scheduling" -}}
{{- with .nodeSelector -}}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "pipeline.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Egress every pod needs: DNS, wherever the cluster's resolver runs. */}}
{{- define "pipeline.np.dns" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
{{- define "pipeline.np.ports" -}}
{{- range $i, $port := . }}
{{- if $i }}{{ "\n" }}{{ end -}}
- port: {{ $port }}
  protocol: TCP
{{- end }}
{{- end }}

{{/* Where uploads and outputs live: the shared claim, or a bucket (README, "Object storage"). */}}
{{- define "pipeline.blobStorageEnv" -}}
{{- $s3 := .Values.storage.s3 -}}
{{- if eq .Values.storage.type "s3" }}
{{- if $s3.bucketConfigMap }}
{{- range $key := list "BUCKET_NAME" "BUCKET_HOST" "BUCKET_PORT" }}
- name: {{ $key }}
  valueFrom:
    configMapKeyRef:
      name: {{ $s3.bucketConfigMap }}
      key: {{ $key }}
{{- end }}
- name: STORAGE_URL
  value: {{ printf "s3://$(BUCKET_NAME)/%s" $s3.prefix | quote }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ $s3.endpoint | default "http://$(BUCKET_HOST):$(BUCKET_PORT)" | quote }}
{{- else }}
{{- if not $s3.bucket }}{{ fail "storage.type s3 needs storage.s3.bucket (or storage.s3.bucketConfigMap)" }}{{ end }}
- name: STORAGE_URL
  value: {{ printf "s3://%s/%s" $s3.bucket $s3.prefix | quote }}
{{- with $s3.endpoint }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $s3.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
- name: S3_FORCE_PATH_STYLE
  value: {{ $s3.forcePathStyle | quote }}
{{- with $s3.existingSecret }}
{{- range $key := list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.storage.s3.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- else if eq .Values.storage.type "filesystem" }}
- name: STORAGE_DIR
  value: {{ .Values.storage.mountPath | quote }}
{{- else }}
{{- fail "storage.type must be filesystem or s3" }}
{{- end }}
{{- end }}

{{/* The service account of the apps that reach the bucket (IRSA, workload identity), if one is named or made. */}}
{{- define "pipeline.storageServiceAccount" -}}
{{- $account := .Values.storage.s3.serviceAccount -}}
{{- if and (eq .Values.storage.type "s3") (or $account.create $account.name) -}}
serviceAccountName: {{ $account.name | default (printf "%s-storage" (include "pipeline.fullname" .)) }}
{{- end }}
{{- end }}
