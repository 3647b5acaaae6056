#!/bin/sh
# Entrypoint of the RabbitMQ stand-in (deploy/test/rabbitmq/Containerfile): the official image's
# conventions on Debian's rabbitmq-server, then the server in the foreground as PID 1.
set -eu

# As the official image: `rabbitmq-server [args]` runs the node; any other command runs as given.
if [ "${1:-}" != rabbitmq-server ]; then exec "$@"; fi
shift

# RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS (official image): the user made when the node
# first starts with an empty data folder; guest stays the default otherwise.
{
  echo "listeners.tcp.default = 5672"
  echo "management.tcp.port = 15672"
  echo "log.console = true"
  echo "log.console.level = info"
  echo "log.console.use_colors = off"
  echo "log.file = false"
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = ${RABBITMQ_DEFAULT_USER}"; fi
  if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = ${RABBITMQ_DEFAULT_PASS}"; fi
} > /etc/rabbitmq/rabbitmq.conf
chown root:rabbitmq /etc/rabbitmq/rabbitmq.conf
chmod 640 /etc/rabbitmq/rabbitmq.conf

# The data volume may arrive empty or owned by root.
mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq

# The server as the rabbitmq user, replacing this shell: the Erlang VM is PID 1 and stops
# cleanly on SIGTERM. HOME holds the Erlang cookie the CLI tools (health check) share.
export HOME=/var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
