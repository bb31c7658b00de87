#!/usr/bin/env bash
# Makes sure a Docker engine answers on this host. There is no systemd here:
# when `docker info` fails, start dockerd in the background (detached, so it
# outlives this shell) and wait, bounded, until it answers.
# Env: PRIVREG_DOCKERD_LOG (default /var/log/privreg-dockerd.log),
#      PRIVREG_DOCKERD_TIMEOUT (seconds per attempt, default 60).
# Runs before the venv exists and reads nothing from the checkout: no env.sh.
set -euo pipefail

LOG="${PRIVREG_DOCKERD_LOG:-/var/log/privreg-dockerd.log}"
TIMEOUT="${PRIVREG_DOCKERD_TIMEOUT:-60}"
PIDFILE=/var/run/docker.pid
CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid

engine_answers() { docker info >/dev/null 2>&1; }

# Prints the pid in file $1 when that process is alive (not a zombie) and named $2.
live_pid() {
    local pid state
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
    echo "$pid"
}

# Pid files left by a killed session: the pid may be gone or belong to another process.
drop_stale_pidfiles() {
    live_pid "$PIDFILE" dockerd >/dev/null || rm -f "$PIDFILE"
    live_pid "$CONTAINERD_PIDFILE" containerd >/dev/null || rm -f "$CONTAINERD_PIDFILE"
}

fail() {
    echo "ensure-docker: $1; last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
}

# Waits until the engine answers (0), dockerd $1 exits (1), or the time is up (2).
wait_for_engine() {
    local deadline=$((SECONDS + TIMEOUT))
    until engine_answers; do
        kill -0 "$1" 2>/dev/null || return 1
        [ "$SECONDS" -lt "$deadline" ] || return 2
        sleep 0.5
    done
}

engine_answers && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-docker: dockerd not found; run scripts/install-packages.sh (needs docker.io)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-docker: no engine answers and only root can start dockerd" >&2
    exit 1
fi
mkdir -p "$(dirname "$LOG")"

# Two attempts: a containerd orphaned by a killed dockerd may still be dying when
# the new dockerd adopts it, and that dockerd then gives up.
for attempt in 1 2; do
    if pid="$(live_pid "$PIDFILE" dockerd)"; then
        echo "ensure-docker: waiting for the running dockerd (pid $pid)"
    else
        drop_stale_pidfiles
        # dockerd itself unlinks a stale /var/run/docker.sock before it listens.
        echo "ensure-docker: starting dockerd (log: $LOG)"
        setsid dockerd >>"$LOG" 2>&1 </dev/null &
        pid=$!
    fi
    rc=0
    wait_for_engine "$pid" || rc=$?
    case "$rc" in
        0) echo "ensure-docker: engine answers (dockerd pid $pid)"; exit 0 ;;
        2) fail "dockerd (pid $pid) did not answer within ${TIMEOUT}s" ;;
    esac
    [ "$attempt" = 2 ] && fail "dockerd (pid $pid) exited"
    echo "ensure-docker: dockerd (pid $pid) exited; starting it once more" >&2
    sleep 1
done
