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

{{/*
Labels of a pod template: (dict "root" $ "component" "producer" "podLabels" $values.podLabels).
Only labels that stay the same from one chart version to the next: a changed pod template
restarts the pods, and a chart upgrade must not restart the single database and broker.
*/}}
{{- define "pipeline.podLabels" -}}
{{ include "pipeline.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "pipeline.name" .root }}
{{- with .podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An image reference: (dict "image" .Values.image "tag" "default tag"); by digest when one is given. */}}
{{- define "pipeline.imageRef" -}}
{{- $tag := .image.tag | default .tag | toString }}
{{- .image.repository }}{{ with $tag }}:{{ . }}{{ end }}{{ with .image.digest }}@{{ . }}{{ end }}
{{- end }}

{{- define "pipeline.image" -}}
{{- include "pipeline.imageRef" (dict "image" .Values.image "tag" .Chart.AppVersion) }}
{{- end }}

{{- define "pipeline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "pipeline.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Under Argo CD, which runs Helm's hooks in its own phases: the hook Jobs that need the in-chart
services run in the sync phase once those are healthy (wave 1), the apps and what they use after
them (wave 2), so that nothing waits for an app that waits for a Job.
*/}}
{{- define "pipeline.appWave" -}}
argocd.argoproj.io/sync-wave: "2"
{{- end }}

{{/* A Kubernetes quantity (512Mi, 1Gi, 2G, 1e9) in bytes. */}}
{{- define "pipeline.bytes" -}}
{{- $q := toString . }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $bytes := "" }}
{{- range $unit, $factor := $units }}
{{- if and (not $bytes) (hasSuffix $unit $q) }}
{{- $bytes = mulf (trimSuffix $unit $q | float64) $factor | int64 | toString }}
{{- end }}
{{- end }}
{{- $bytes | default (float64 $q | int64 | toString) }}
{{- end }}

{{/*
A setting of an app as its container gets it: (dict "root" $ "env" $values.env "name" "JOB_TIMEOUT_S"
"default" 120); the app's own env first, then config, then the app's default.
*/}}
{{- define "pipeline.setting" -}}
{{- if hasKey .env .name }}{{ index .env .name | int64 }}
{{- else if hasKey .root.Values.config .name }}{{ index .root.Values.config .name | int64 }}
{{- else }}{{ .default | int64 }}{{ end }}
{{- end }}

{{/*
How long a stopping worker may take to finish the jobs it is processing (ms): its SHUTDOWN_GRACE_MS
when imageWorker.env or config sets one, otherwise its longest drain (longestDrainMs of the worker):
JOB_TIMEOUT_S, plus two PUBLISH_TIMEOUT_MS. The jobs it holds but has not started go back at once.
*/}}
{{- define "pipeline.workerDrainMs" -}}
{{- $env := .Values.imageWorker.env }}
{{- $get := dict "root" . "env" $env }}
{{- if or (hasKey $env "SHUTDOWN_GRACE_MS") (hasKey .Values.config "SHUTDOWN_GRACE_MS") }}
{{- include "pipeline.setting" (merge (dict "name" "SHUTDOWN_GRACE_MS" "default" 0) $get) }}
{{- else }}
{{- $jobS := include "pipeline.setting" (merge (dict "name" "JOB_TIMEOUT_S" "default" 120) $get) | int64 }}
{{- $publishMs := include "pipeline.setting" (merge (dict "name" "PUBLISH_TIMEOUT_MS" "default" 10000) $get) | int64 }}
{{- add (mul $jobS 1000) (mul 2 $publishMs) }}
{{- end }}
{{- end }}

{{- define "pipeline.workerGraceSeconds" -}}
{{- $drainS := div (add (include "pipeline.workerDrainMs" . | int64) 999) 1000 }}
{{- .Values.imageWorker.terminationGracePeriodSeconds | int64 | default (add $drainS 10) }}
{{- end }}

{{/*
Everything a render must refuse, in one message: what is missing for a first install to work,
and values that contradict each other.
*/}}
{{- define "pipeline.checks" -}}
{{- $problems := list }}
{{- if not .Values.image.repository }}
{{- $problems = append $problems "image.repository is required: no public registry has the pipeline's image. Build it and push it to a registry the cluster pulls from, then name it: docker build -f deploy/Dockerfile -t registry.example.com/image-pipeline:0.1.0 . && docker push registry.example.com/image-pipeline:0.1.0, then --set image.repository=registry.example.com/image-pipeline (README, \"Install on Kubernetes\")" }}
{{- end }}
{{- if and (eq .Values.storage.type "filesystem") (not .Values.storage.existingClaim) (not .Values.storage.storageClass) }}
{{- $problems = append $problems "storage.storageClass or storage.existingClaim is required: the shared storage is ReadWriteMany, which the default classes of EKS (gp3), GKE (standard-rwo), AKS (managed-csi) and Rook (rook-ceph-block) do not offer, so the claim would stay Pending. Name a class that does: efs-sc (Amazon EFS CSI), standard-rwx (GKE Filestore CSI), azurefile-csi (AKS), rook-cephfs (Rook CephFS), nfs-client (NFS); or a claim of yours in storage.existingClaim" }}
{{- end }}
{{- $drainMs := include "pipeline.workerDrainMs" . | int64 }}
{{- $grace := include "pipeline.workerGraceSeconds" . | int64 }}
{{- if lt (mul $grace 1000) (add $drainMs 5000) }}
{{- $problems = append $problems (printf "imageWorker.terminationGracePeriodSeconds (%d s) is shorter than the workers' drain (%d ms, their SHUTDOWN_GRACE_MS: the longest a worker holds a job) plus 5 s: a rollout or a scale-in would cut jobs short. Leave it 0 (derived), or raise it" $grace $drainMs) }}
{{- end }}
{{- $producerDrainMs := include "pipeline.setting" (dict "root" . "env" .Values.producer.env "name" "SHUTDOWN_GRACE_MS" "default" 25000) | int64 }}
{{- $producerNeeds := add (mul (int64 .Values.producer.preStopSleepSeconds) 1000) $producerDrainMs 5000 }}
{{- if lt (mul (int64 .Values.producer.terminationGracePeriodSeconds) 1000) $producerNeeds }}
{{- $problems = append $problems (printf "producer.terminationGracePeriodSeconds (%d s) is shorter than producer.preStopSleepSeconds (%d s) plus its SHUTDOWN_GRACE_MS (%d ms) plus 5 s: requests in flight would be cut short" (int64 .Values.producer.terminationGracePeriodSeconds) (int64 .Values.producer.preStopSleepSeconds) $producerDrainMs) }}
{{- end }}
{{- if .Values.credentials.existingSecret }}
{{- range $field, $value := dict "rabbitmq.auth.password" .Values.rabbitmq.auth.password "postgresql.auth.password" .Values.postgresql.auth.password "pgadmin.password" .Values.pgadmin.password }}
{{- if $value }}
{{- $problems = append $problems (printf "%s and credentials.existingSecret are both set: the passwords come from the Secret %s; leave %s empty" $field $.Values.credentials.existingSecret $field) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $problems }}
{{- fail (printf "\n- %s" (join "\n- " .)) }}
{{- end }}
{{- end }}

{{/* Secrets: the chart's generated credentials, or the user's Secret with the URLs. */}}
{{- define "pipeline.apiKeySecret" -}}
{{- .Values.producer.adminApiKey.existingSecret | default (printf "%s-api-key" (include "pipeline.fullname" .)) }}
{{- end }}

{{/* The generated credentials' Secret, or the one of yours with the same keys (credentials.existingSecret). */}}
{{- define "pipeline.credentialsSecret" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" (include "pipeline.fullname" .)) }}
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

{{/* Scrape annotations of a pod: (dict "root" $ "port" 9464); none while metrics.scrape is off. */}}
{{- define "pipeline.metricsAnnotations" -}}
{{- if .root.Values.metrics.scrape -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
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
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .nodeSelector }}
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

{{/*
The credentials Secret: (dict "root" $ "data" <data of the release's Secret, empty on install>).
A password given in values wins, but RabbitMQ and PostgreSQL read theirs on their first start
only: one that differs from the Secret the running release has is refused, since the next
restart would fail every login.
*/}}
{{- define "pipeline.credentials" -}}
{{- $root := .root }}
{{- $data := .data }}
{{- range $field, $key := dict "rabbitmq.auth.password" "RABBITMQ_PASSWORD" "postgresql.auth.password" "POSTGRES_PASSWORD" }}
{{- $given := ternary $root.Values.rabbitmq.auth.password $root.Values.postgresql.auth.password (eq $key "RABBITMQ_PASSWORD") }}
{{- $current := get $data $key | b64dec }}
{{- if and $given $current (ne $given $current) }}
{{- fail (printf "%s differs from %s in the Secret %s of the installed release, which the %s was initialised with and reads on its first start only: the next restart would refuse every login. Leave %s empty to keep the current one, or change the password in the %s first, then here" $field $key (include "pipeline.credentialsSecret" $root) (ternary "broker" "database" (eq $key "RABBITMQ_PASSWORD")) $field (ternary "broker (rabbitmqctl change_password)" "database (ALTER ROLE … PASSWORD)" (eq $key "RABBITMQ_PASSWORD"))) }}
{{- end }}
{{- end }}
{{- $rabbitmqPassword := $root.Values.rabbitmq.auth.password | default (get $data "RABBITMQ_PASSWORD" | b64dec) | default (randAlphaNum 32) }}
{{- $postgresPassword := $root.Values.postgresql.auth.password | default (get $data "POSTGRES_PASSWORD" | b64dec) | default (randAlphaNum 32) }}
{{- $pgadminPassword := $root.Values.pgadmin.password | default (get $data "PGADMIN_PASSWORD" | b64dec) | default (randAlphaNum 24) }}
{{- /* Shared by the RabbitMQ nodes of a cluster (and their CLI tools). */}}
{{- $erlangCookie := get $data "RABBITMQ_ERLANG_COOKIE" | b64dec | default (randAlphaNum 48) }}
{{- /* The apps' own broker users (made by the rabbitmq-users Job): one password each. */}}
{{- $appPasswords := dict }}
{{- range list "PRODUCER" "WORKER" "WRITER" }}
{{- $key := printf "RABBITMQ_%s_PASSWORD" . }}
{{- $_ := set $appPasswords . (get $data $key | b64dec | default (randAlphaNum 32)) }}
{{- end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "pipeline.credentialsSecret" $root }}
  labels:
    {{- include "pipeline.labels" (dict "root" $root "component" "credentials") | nindent 4 }}
  annotations:
    helm.sh/resource-policy: keep
type: Opaque
data:
  RABBITMQ_PASSWORD: {{ $rabbitmqPassword | b64enc | quote }}
  POSTGRES_PASSWORD: {{ $postgresPassword | b64enc | quote }}
  PGADMIN_PASSWORD: {{ $pgadminPassword | b64enc | quote }}
  RABBITMQ_ERLANG_COOKIE: {{ $erlangCookie | b64enc | quote }}
  {{- if $root.Values.rabbitmq.enabled }}
  {{- $user := $root.Values.rabbitmq.auth.username | urlquery }}
  {{- $host := include "pipeline.rabbitmqHost" $root }}
  {{- /* A cluster: every node by name (one URL, several hosts), so that an app moves straight to another node. */}}
  AMQP_URL: {{ printf "amqp://%s:%s@%s" $user ($rabbitmqPassword | urlquery) (include "pipeline.rabbitmqHosts" $root) | b64enc | quote }}
  RABBITMQ_MANAGEMENT_URL: {{ printf "http://%s:%s@%s:15672/" $user ($rabbitmqPassword | urlquery) $host | b64enc | quote }}
  {{- /* Each app's URL names its own user (brokerUsers: producer, worker, writer). */}}
  {{- range list "PRODUCER" "WORKER" "WRITER" }}
  RABBITMQ_{{ . }}_PASSWORD: {{ get $appPasswords . | b64enc | quote }}
  AMQP_URL_{{ . }}: {{ printf "amqp://%s:%s@%s" (lower .) (get $appPasswords .) (include "pipeline.rabbitmqHosts" $root) | b64enc | quote }}
  {{- end }}
  {{- end }}
  {{- if $root.Values.postgresql.enabled }}
  {{- $auth := $root.Values.postgresql.auth }}
  DATABASE_URL: {{ printf "postgres://%s:%s@%s:5432/%s" ($auth.username | urlquery) ($postgresPassword | urlquery) (include "pipeline.postgresqlHost" $root) ($auth.database | urlquery) | b64enc | quote }}
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
