#!/bin/sh
# Entrypoint of the compose stack's RabbitMQ nodes: the administrator's password and the
# Erlang cookie from the `secrets` volume (made by the `secrets` step), then the image's own
# entrypoint. The official image reads the password from the environment only, and the cookie
# from the node's home (the data volume).
set -eu
RABBITMQ_DEFAULT_PASS="$(cat /secrets/rabbitmq-password)"
export RABBITMQ_DEFAULT_PASS
cookie=/var/lib/rabbitmq/.erlang.cookie
tr -d '\n' < /secrets/rabbitmq-erlang-cookie > "$cookie"
chown rabbitmq:rabbitmq "$cookie"
chmod 400 "$cookie"
exec docker-entrypoint.sh "$@"
