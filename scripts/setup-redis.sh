#!/usr/bin/env bash
# Starts a local Redis on 127.0.0.1:6379 if none answers (installing Debian's redis-server if
# needed): the shared rate-limit store's Redis tests (tests/security/test_redis.py) need it.
set -euo pipefail
up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if up; then exit 0; fi
if ! command -v redis-server >/dev/null; then
  echo "==> installing redis-server"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends redis-server
fi
echo "==> starting Redis"
mkdir -p /tmp/pingan-redis
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp/pingan-redis --logfile /tmp/pingan-redis/redis.log
for _ in $(seq 1 20); do up && exit 0; sleep 0.5; done
echo "Redis did not start" >&2
exit 1
