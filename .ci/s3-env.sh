# shellcheck shell=bash
# Starts a local S3 server (moto) for heirloom's S3 tests. Source it:
#
#     source .ci/s3-env.sh
#
# It creates a virtualenv at .ci/.venv-moto with pinned packages (once),
# starts `moto_server` on 127.0.0.1 in the background, waits until it
# answers, and exports what the S3 tests read:
#
#     HEIRLOOM_TEST_S3_ENDPOINT   http://127.0.0.1:PORT
#     HEIRLOOM_TEST_MOTO_SERVER   path of the moto_server executable (the
#                                 end-to-end test starts and kills its own)
#     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
#
# The server is stopped when the sourcing shell exits (an EXIT trap that
# keeps any trap already set), or earlier with `heirloom_moto_stop`.
# Needs only python3 with venv/pip and curl. The port is
# HEIRLOOM_MOTO_PORT if set, else a free one. Returns non-zero (never
# exits the sourcing shell) when the server cannot be set up.

HEIRLOOM_MOTO_VERSION="5.2.5"
HEIRLOOM_FLASK_VERSION="3.1.3"
HEIRLOOM_FLASK_CORS_VERSION="6.0.5"

heirloom_moto_setup() {
    local ci_dir venv stamp want port log
    ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)" || return 1
    venv="$ci_dir/.venv-moto"
    stamp="$venv/.heirloom-pins"
    want="moto[s3]==$HEIRLOOM_MOTO_VERSION flask==$HEIRLOOM_FLASK_VERSION flask-cors==$HEIRLOOM_FLASK_CORS_VERSION"

    if [ ! -x "$venv/bin/moto_server" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "s3-env: installing $want into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" || {
            echo "s3-env: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
            return 1
        }
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want || {
            echo "s3-env: pip install failed" >&2
            return 1
        }
        echo "$want" >"$stamp"
    fi

    port="${HEIRLOOM_MOTO_PORT:-}"
    if [ -z "$port" ]; then
        port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" || return 1
    fi
    log="$venv/moto-$port.log"
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    HEIRLOOM_MOTO_PID=$!

    local i
    for i in $(seq 1 150); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
            break
        fi
        if ! kill -0 "$HEIRLOOM_MOTO_PID" 2>/dev/null; then
            echo "s3-env: moto_server exited; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    if ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        echo "s3-env: moto_server did not answer on port $port within 30 s" >&2
        heirloom_moto_stop
        return 1
    fi

    export HEIRLOOM_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export HEIRLOOM_TEST_MOTO_SERVER="$venv/bin/moto_server"
    export AWS_ACCESS_KEY_ID=test
    export AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1
    echo "s3-env: moto $HEIRLOOM_MOTO_VERSION at $HEIRLOOM_TEST_S3_ENDPOINT (pid $HEIRLOOM_MOTO_PID)" >&2
}

heirloom_moto_stop() {
    if [ -n "${HEIRLOOM_MOTO_PID:-}" ]; then
        kill "$HEIRLOOM_MOTO_PID" 2>/dev/null || true
        wait "$HEIRLOOM_MOTO_PID" 2>/dev/null || true
        HEIRLOOM_MOTO_PID=""
    fi
    return 0
}

# Chain onto any EXIT trap the sourcing shell already has.
heirloom_moto_prev_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT\$/\\1/")"
# shellcheck disable=SC2064
trap "heirloom_moto_stop; ${heirloom_moto_prev_trap:-:}" EXIT
unset heirloom_moto_prev_trap

heirloom_moto_setup
