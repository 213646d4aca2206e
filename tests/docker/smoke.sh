#!/usr/bin/env bash
# Smoke tests of the real compose files: builds stand-ins for the official
# base images from Debian packages (no image registry is reachable here) and
# points the image variables at them, then runs two phases (both by default;
# name one to run only it: `smoke.sh compose` or `smoke.sh scale`):
#
# compose  the unmodified `docker-compose up`: create -> reveal -> reveal
#          again (404), a restart that must keep a secret, and `down -v`;
# scale    docker-compose.proxy.yml: three api replicas behind Caddy over
#          HTTPS, the checks in tests/docker/scale.py.
#
# It starts its own dockerd with everything under a temporary directory and
# undoes it on every exit path; the host's PostgreSQL and its port 5432 are
# never touched.
#
# Without root or a startable Docker engine it says so and skips (exit 0),
# except under CI=true, where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

phases=${*:-compose scale}
for phase in $phases; do
    case $phase in compose|scale) ;; *) echo "usage: smoke.sh [compose] [scale]" >&2; exit 2 ;; esac
done

say() { printf 'smoke: %s\n' "$*"; }
skip_or_fail() {
    if [ "${CI:-}" = "true" ]; then say "FAIL: $*"; exit 1; fi
    say "SKIP: $*"; exit 0
}

[ "$(id -u)" = 0 ] || skip_or_fail "needs root to start a Docker engine"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /usr/bin/docker ] || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} from Debian"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
        || skip_or_fail "cannot install ${need[*]}"
fi

work=$(mktemp -d /tmp/ots-smoke.XXXXXX)
export DOCKER_HOST="unix://$work/docker.sock"
DOCKER=/usr/bin/docker   # Debian's client: the one on PATH may lack the classic builder
project="otssmoke$$"
dockerd_pid=""
# With br_netfilter loaded and a FORWARD policy of DROP, traffic between two
# containers on a compose bridge is dropped; let it through while we run.
bridge_rule=(FORWARD -i br-+ -o br-+ -j ACCEPT)
bridge_rule_added=""

cleanup() {
    status=$?
    set +e
    if [ -n "$dockerd_pid" ]; then
        docker-compose -p "$project" down -v --remove-orphans >/dev/null 2>&1
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
        kill -9 "$dockerd_pid" 2>/dev/null
    fi
    [ -n "$bridge_rule_added" ] && iptables -D "${bridge_rule[@]}" 2>/dev/null
    # Whatever dockerd left mounted under our directory, then the directory.
    grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT INT TERM

say "starting dockerd under $work"
# No iptables, no NAT, no docker0: the only host change is the daemon itself.
# Builds use the host network; containers talk over compose's own bridge.
dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    --host "$DOCKER_HOST" --iptables=false --ip-masq=false --bridge=none \
    >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 60); do $DOCKER info >/dev/null 2>&1 && break; sleep 1; done
$DOCKER info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; skip_or_fail "dockerd did not start"; }

if command -v iptables >/dev/null && ! iptables -C "${bridge_rule[@]}" 2>/dev/null; then
    iptables -I "${bridge_rule[@]}" && bridge_rule_added=1
fi

say "building the Debian stand-in base (debootstrap)"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,postgresql-15,redis-server,util-linux,caddy \
    bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
# pip inside the build must trust what the host trusts (a TLS-inspecting proxy, say).
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
tar -C "$work/rootfs" -c . | $DOCKER import - ots-standin/debian:bookworm >/dev/null
rm -rf "$work/rootfs"

for image in python:3.12-slim postgres:16 redis:7 caddy:2; do
    name=${image%%:*}
    DOCKER_BUILDKIT=0 $DOCKER build -q -t "ots-standin/$image" -f "tests/docker/standin-$name.Dockerfile" tests/docker >/dev/null
done

export OTS_PYTHON_IMAGE=ots-standin/python:3.12-slim
export OTS_POSTGRES_IMAGE=ots-standin/postgres:16
export OTS_REDIS_IMAGE=ots-standin/redis:7
export OTS_CADDY_IMAGE=ots-standin/caddy:2
export OTS_IMAGE=ots-smoke/ots:test
export OTS_PUBLISH_PORT=${OTS_SMOKE_PORT:-18080}
base="http://127.0.0.1:$OTS_PUBLISH_PORT"

say "building the ots image from the repository Dockerfile"
DOCKER_BUILDKIT=0 $DOCKER build -q --network host --build-arg "BASE_IMAGE=$OTS_PYTHON_IMAGE" -t "$OTS_IMAGE" . >/dev/null

wait_healthy() {
    for _ in $(seq 120); do
        id=$(docker-compose -p "$project" ps -q api)
        if [ -n "$id" ] && [ "$($DOCKER inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" = healthy ]; then
            return 0
        fi
        sleep 2
    done
    docker-compose -p "$project" logs --tail 40
    return 1
}

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

compose_phase() {
    say "docker-compose up"
    docker-compose -p "$project" up -d --no-build
    wait_healthy
    say "api healthy: $(curl -s "$base/health")"

    key=$(curl -sf -X POST "$base/generate" -H 'Content-Type: application/json' \
        -d '{"secret": "smoke secret", "passphrase": "pw"}' | json_field secret_key)
    first=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/secrets/$key" -d '{"passphrase": "pw"}')
    again=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/secrets/$key" -d '{"passphrase": "pw"}')
    say "create -> reveal $first -> reveal again $again"
    # (set -e ignores a failure before the last command of an && list: say it.)
    [ "$first" = 200 ] && [ "$again" = 404 ] || { say "FAIL: expected 200 then 404"; exit 1; }

    # The image carries the pages' templates and static files (package data in the wheel).
    share=$(curl -sf -H 'Accept: text/html' "$base/")
    css=$(printf '%s' "$share" | sed -nE 's|.*href="(/static/[^"]+\.css)".*|\1|p' | head -1)
    css_status=$(curl -s -o /dev/null -w '%{http_code}' "$base$css")
    say "share page -> stylesheet $css $css_status"
    [ -n "$css" ] && [ "$css_status" = 200 ] || { say "FAIL: the pages are not in the image"; exit 1; }

    kept=$(curl -sf -X POST "$base/generate" -d '{"secret": "survives restarts", "passphrase": "pw"}' | json_field secret_key)
    say "restarting the stack"
    docker-compose -p "$project" down
    docker-compose -p "$project" up -d --no-build
    wait_healthy
    after=$(curl -s -X POST "$base/secrets/$kept" -d '{"passphrase": "pw"}' | json_field secret)
    say "after restart: $after"
    [ "$after" = "survives restarts" ]

    docker-compose -p "$project" down -v
    say "compose PASS"
}

scale_phase() {
    # Three replicas behind the proxy, published on loopback only here.
    DOCKER=$DOCKER OTS_SCALE_PROJECT="${project}scale" OTS_PROXY_ADDRESS=127.0.0.1 \
        OTS_HTTPS_PORT="${OTS_SMOKE_HTTPS_PORT:-18443}" OTS_HTTP_PORT="${OTS_SMOKE_HTTP_PORT:-18081}" \
        python3 tests/docker/scale.py
}

for phase in $phases; do
    "${phase}_phase"
done
say "PASS"
