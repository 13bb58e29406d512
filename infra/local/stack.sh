#!/usr/bin/env bash
# Local stack for Lockstep: Azurite (blob/queue/table), the Cosmos DB emulator
# (@vercel/cosmosdb-server, HTTPS) and Redis.
#
#   infra/local/stack.sh start    start what is not already running (idempotent), wait until ready
#   infra/local/stack.sh stop     stop only what `start` started (an existing Redis is left alone)
#   infra/local/stack.sh status   one line per service; exit 0 only when all answer
#
# Logs, pid files, the generated TLS certificate and the endpoints file `env` live in
# .local-stack/ at the repo root. Tests and tools read .local-stack/env (shell syntax: KEY='value').
# Ports and the wait timeout can be overridden with the environment variables below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${LOCKSTEP_STACK_DIR:-$ROOT/.local-stack}"
BLOB_PORT="${AZURITE_BLOB_PORT:-10000}"
QUEUE_PORT="${AZURITE_QUEUE_PORT:-10001}"
TABLE_PORT="${AZURITE_TABLE_PORT:-10002}"
COSMOS_PORT="${COSMOS_EMULATOR_PORT:-8081}"
REDIS_PORT="${REDIS_PORT:-6379}"
TIMEOUT="${STACK_TIMEOUT:-60}"

# Well-known development credentials, published by Microsoft for the emulators (not secrets).
AZURITE_ACCOUNT="devstoreaccount1"
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
COSMOS_KEY="C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

log() { printf '[stack] %s\n' "$*"; }
die() {
    printf '[stack] error: %s\n' "$*" >&2
    exit 1
}

# --- process bookkeeping --------------------------------------------------------------------

# pid_alive NAME PATTERN: the pid in $STATE/NAME.pid is running and its command line matches.
pid_alive() {
    local file="$STATE/$1.pid" pid
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# launch NAME COMMAND...: run in the background, in its own session, logging to NAME.log.
# The launched shell records its own pid, then execs the command (so the pid is the server's).
launch() {
    local name="$1"
    shift
    rm -f "$STATE/$name.pid"
    # shellcheck disable=SC2016 # expanded by the inner shell, on purpose
    setsid bash -c 'echo $$ >"$0"; cd "${0%/*}"; exec "$@"' "$STATE/$name.pid" "$@" \
        >"$STATE/$name.log" 2>&1 </dev/null &
    local waited=0
    until [[ -s "$STATE/$name.pid" ]]; do
        sleep 0.1
        waited=$((waited + 1))
        ((waited < 50)) || die "$name did not start; see $STATE/$name.log"
    done
}

# wait_ready NAME PID_PATTERN CHECK...: poll CHECK until it succeeds, the process dies, or timeout.
wait_ready() {
    local name="$1" pattern="$2"
    shift 2
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        if [[ -n "$pattern" ]] && ! pid_alive "$name" "$pattern"; then
            tail -n 20 "$STATE/$name.log" >&2 || true
            die "$name exited before it was ready; log: $STATE/$name.log"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$STATE/$name.log" >&2 || true
            die "$name not ready after ${TIMEOUT}s; log: $STATE/$name.log"
        fi
        sleep 0.2
    done
}

stop_pid() {
    local name="$1" pattern="$2" pid
    if ! pid_alive "$name" "$pattern"; then
        rm -f "$STATE/$name.pid"
        return 0
    fi
    pid="$(cat "$STATE/$name.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
    log "stopped $name (pid $pid)"
}

# --- readiness checks -----------------------------------------------------------------------

http_answers() { # any HTTP status at all means the server is up
    local code
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" || true)"
    [[ -n "$code" && "$code" != "000" ]]
}
queue_ready() { http_answers "http://127.0.0.1:$QUEUE_PORT/$AZURITE_ACCOUNT?comp=list"; }
blob_ready() { http_answers "http://127.0.0.1:$BLOB_PORT/$AZURITE_ACCOUNT?comp=list"; }
azurite_ready() { queue_ready && blob_ready; }
cosmos_answers() { http_answers -k "https://localhost:$COSMOS_PORT/"; }

# The CA file clients verify the emulator with: ours, or the certificate of one we reuse.
COSMOS_CA="$STATE/cosmos-cert.pem"
COSMOS_VERIFY="true"
cosmos_ready() {
    if [[ "$COSMOS_VERIFY" == "true" ]]; then
        [[ -f "$COSMOS_CA" ]] || return 1
        curl -sf -o /dev/null -m 2 --cacert "$COSMOS_CA" "https://localhost:$COSMOS_PORT/"
    else
        curl -sfk -o /dev/null -m 2 "https://localhost:$COSMOS_PORT/"
    fi
}
redis_ready() {
    if command -v redis-cli >/dev/null; then
        [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
    else
        exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" 2>/dev/null || return 1
        printf 'PING\r\n' >&3
        local reply
        read -r -t 2 reply <&3 || true
        exec 3>&-
        [[ "$reply" == "+PONG"* ]]
    fi
}

# --- services -------------------------------------------------------------------------------

ensure_node_modules() {
    command -v node >/dev/null || die "node not found: install Node.js 20 (apt-get install nodejs)"
    command -v npm >/dev/null || die "npm not found: install npm"
    local marker="$ROOT/node_modules/.package-lock.json"
    if [[ -x "$ROOT/node_modules/.bin/azurite" && -f "$ROOT/node_modules/@vercel/cosmosdb-server/lib/index.js" ]]; then
        [[ -f "$marker" && ! "$ROOT/package-lock.json" -nt "$marker" ]] && return 0
        if pid_alive azurite azurite || pid_alive cosmos cosmos-server.js; then
            # npm ci would delete node_modules under the running emulators.
            log "package-lock.json changed; run '$0 stop' then '$0 start' to reinstall"
            return 0
        fi
    fi
    log "installing pinned npm packages (npm ci) ..."
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) >"$STATE/npm-ci.log" 2>&1 ||
        {
            tail -n 20 "$STATE/npm-ci.log" >&2
            die "npm ci failed; log: $STATE/npm-ci.log"
        }
}

start_azurite() {
    if pid_alive azurite azurite; then
        log "azurite already running (pid $(cat "$STATE/azurite.pid"))"
    elif azurite_ready; then
        log "azurite: something already answers on :$BLOB_PORT/:$QUEUE_PORT; reusing it (not ours to stop)"
        return 0
    else
        launch azurite node "$ROOT/node_modules/azurite/dist/src/azurite.js" \
            --inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry \
            --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" \
            --queueHost 127.0.0.1 --queuePort "$QUEUE_PORT" \
            --tableHost 127.0.0.1 --tablePort "$TABLE_PORT"
        log "started azurite (pid $(cat "$STATE/azurite.pid"))"
    fi
    wait_ready azurite azurite azurite_ready
    log "azurite ready: blob :$BLOB_PORT, queue :$QUEUE_PORT, table :$TABLE_PORT"
}

ensure_cosmos_cert() {
    local cert="$STATE/cosmos-cert.pem" key="$STATE/cosmos-key.pem"
    if [[ -f "$cert" && -f "$key" ]] && openssl x509 -checkend 86400 -noout -in "$cert" >/dev/null; then
        return 0
    fi
    command -v openssl >/dev/null || die "openssl not found: install it (apt-get install openssl)"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
        -keyout "$key" -out "$cert" -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:TRUE" >"$STATE/openssl.log" 2>&1 ||
        die "could not generate the emulator certificate; log: $STATE/openssl.log"
    chmod 600 "$key"
    log "generated a self-signed certificate for localhost: $cert"
}

# An emulator we did not start (another checkout's stack, say): trust the certificate it
# presents if that certificate names localhost; otherwise clients skip verification, which
# the store allows for loopback endpoints only.
reuse_cosmos() {
    if ! cosmos_ready; then
        COSMOS_CA="$STATE/cosmos-external-cert.pem"
        openssl s_client -connect "localhost:$COSMOS_PORT" -servername localhost </dev/null 2>/dev/null |
            openssl x509 -outform PEM >"$COSMOS_CA" 2>/dev/null || rm -f "$COSMOS_CA"
        cosmos_ready || COSMOS_VERIFY="false"
    fi
    [[ "$COSMOS_VERIFY" == "true" ]] || log "warning: the emulator's certificate does not verify; COSMOS_VERIFY_TLS=false"
    log "cosmos emulator: already answering on :$COSMOS_PORT; reusing it (not ours to stop)"
}

start_cosmos() {
    ensure_cosmos_cert
    if pid_alive cosmos cosmos-server.js; then
        log "cosmos emulator already running (pid $(cat "$STATE/cosmos.pid"))"
    elif cosmos_answers; then
        reuse_cosmos
        return 0
    else
        launch cosmos node "$ROOT/infra/local/cosmos-server.js" \
            "$STATE/cosmos-cert.pem" "$STATE/cosmos-key.pem" 127.0.0.1 "$COSMOS_PORT"
        log "started cosmos emulator (pid $(cat "$STATE/cosmos.pid"))"
    fi
    wait_ready cosmos cosmos-server.js cosmos_ready
    log "cosmos emulator ready: https://localhost:$COSMOS_PORT/"
}

ensure_redis_server() {
    command -v redis-server >/dev/null && return 0
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
        log "redis-server not found; installing it with apt-get ..."
        {
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server
        } >"$STATE/apt-redis.log" 2>&1 || die "apt-get install redis-server failed; log: $STATE/apt-redis.log"
        # The Debian package starts a system redis on 6379; if it did, we reuse it like any other.
        return 0
    fi
    die "redis-server not found: install it (apt-get install redis-server)"
}

start_redis() {
    if pid_alive redis redis-server; then
        log "redis already running (pid $(cat "$STATE/redis.pid"))"
    elif redis_ready; then
        log "redis: one already answers on 127.0.0.1:$REDIS_PORT; reusing it (not ours to stop)"
        return 0
    else
        ensure_redis_server
        if redis_ready; then
            log "redis: the installed service answers on 127.0.0.1:$REDIS_PORT; reusing it"
            return 0
        fi
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" \
            --dir "$STATE" >/dev/null
        local waited=0
        until [[ -s "$STATE/redis.pid" ]]; do
            sleep 0.1
            waited=$((waited + 1))
            ((waited < 50)) || die "redis-server did not start; log: $STATE/redis.log"
        done
        log "started redis (pid $(cat "$STATE/redis.pid"))"
    fi
    wait_ready redis redis-server redis_ready
    log "redis ready: 127.0.0.1:$REDIS_PORT"
}

write_env() {
    local conn="DefaultEndpointsProtocol=http;AccountName=$AZURITE_ACCOUNT;AccountKey=$AZURITE_KEY"
    conn+=";BlobEndpoint=http://127.0.0.1:$BLOB_PORT/$AZURITE_ACCOUNT"
    conn+=";QueueEndpoint=http://127.0.0.1:$QUEUE_PORT/$AZURITE_ACCOUNT"
    conn+=";TableEndpoint=http://127.0.0.1:$TABLE_PORT/$AZURITE_ACCOUNT;"
    local tmp="$STATE/env.tmp"
    cat >"$tmp" <<EOF
# Written by infra/local/stack.sh start. Shell syntax: \`set -a; . .local-stack/env; set +a\`.
COSMOS_ENDPOINT='https://localhost:$COSMOS_PORT/'
COSMOS_KEY='$COSMOS_KEY'
COSMOS_CA_FILE='$([[ "$COSMOS_VERIFY" == "true" ]] && echo "$COSMOS_CA")'
COSMOS_VERIFY_TLS='$COSMOS_VERIFY'
AZURE_STORAGE_CONNECTION_STRING='$conn'
AzureWebJobsStorage='$conn'
REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
EOF
    mv "$tmp" "$STATE/env"
    log "endpoints written to $STATE/env"
}

# --- commands -------------------------------------------------------------------------------

cmd_start() {
    mkdir -p "$STATE"
    command -v curl >/dev/null || die "curl not found: install it (apt-get install curl)"
    ensure_node_modules
    start_azurite
    start_cosmos
    start_redis
    write_env
}

cmd_stop() {
    [[ -d "$STATE" ]] || {
        log "nothing to stop"
        return 0
    }
    stop_pid cosmos cosmos-server.js
    stop_pid azurite azurite
    stop_pid redis redis-server
    rm -f "$STATE/env"
}

status_line() { # NAME PATTERN CHECK
    local name="$1" pattern="$2" check="$3" owner="external"
    pid_alive "$name" "$pattern" && owner="started by stack.sh, pid $(cat "$STATE/$name.pid")"
    if "$check"; then
        printf '%-8s up    (%s)\n' "$name" "$owner"
    else
        printf '%-8s down\n' "$name"
        return 1
    fi
}

cmd_status() {
    local rc=0
    status_line azurite azurite azurite_ready || rc=1
    status_line cosmos cosmos-server.js cosmos_answers || rc=1
    status_line redis redis-server redis_ready || rc=1
    [[ -f "$STATE/env" ]] && printf 'env      %s\n' "$STATE/env"
    return "$rc"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
