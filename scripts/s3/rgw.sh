#!/usr/bin/env bash
# A real S3 server for thumbflow's tests: Ceph RADOS Gateway (radosgw) from
# Debian's packages, as a throw-away single-node cluster on loopback.
#
#   scripts/s3/rgw.sh install          install radosgw, ceph-mon, ceph-osd (once)
#   scripts/s3/rgw.sh start DIR [PORT] start a cluster whose files all live in DIR
#   scripts/s3/rgw.sh stop DIR         SIGKILL that cluster's daemons, wait for them
#
# `start` prints, on stdout and nothing else, lines a caller can `eval` or parse:
#
#   S3_ENDPOINT=http://127.0.0.1:PORT
#   S3_ACCESS_KEY_ID=...
#   S3_SECRET_ACCESS_KEY=...
#   S3_REGION=us-east-1
#
# and writes the same lines to DIR/env. Progress and errors go to stderr. The
# S3 user's keys are generated, unless RGW_ACCESS_KEY and RGW_SECRET_KEY are
# set in the environment. A daemon that does not come up within its bound
# makes `start` fail with the tail of that daemon's log, after killing what it
# had started.
#
# The cluster is one ceph-mon, one ceph-osd with the in-memory `memstore`
# backend and one radosgw, started as plain processes (no systemd), with
# cephx off. Several clusters in different DIRs can run at once: every path
# is under DIR and every port is chosen per cluster (the OSD takes free ports
# from Ceph's own 6800-7300 range). Stop one with `stop DIR`; the data is in
# memory and in DIR, so removing DIR afterwards removes everything.
#
# Why each ceph.conf setting is there is said next to it in write_conf.
set -euo pipefail

# Ports of services already running on the development and CI machines
# (Redis, Postgres, MariaDB, RabbitMQ and its Erlang ports, Mosquitto, NATS).
# Chosen ports come from 20000-31999, below Linux's ephemeral range
# (32768-60999) so they never clash with outgoing connections; the list is
# checked anyway in case the range moves.
readonly RESERVED_PORTS=" 1883 3306 4222 4369 5432 5672 6379 25672 "

# Bounds, in seconds, for each daemon to come up.
readonly MON_TIMEOUT=20
readonly OSD_TIMEOUT=30
readonly RGW_TIMEOUT=60

# The S3 user and region the tests use. RGW does not check the SigV4 region.
readonly S3_USER=thumbflow
readonly S3_REGION=us-east-1

# Pools radosgw would otherwise create on first use. Creating them up front
# avoids a ~2 s stall of the first PUT (and of the first multipart upload).
readonly RGW_POOLS=(
  .rgw.root
  default.rgw.control
  default.rgw.meta
  default.rgw.log
  default.rgw.buckets.index
  default.rgw.buckets.data
  default.rgw.buckets.non-ec
)

log() { printf 'rgw.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------
# install

cmd_install() {
  local missing=0 tool
  for tool in radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool; do
    command -v "$tool" >/dev/null 2>&1 || missing=1
  done
  if [[ $missing == 0 ]]; then
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "installing Ceph needs root (apt-get install radosgw ceph-mon ceph-osd)"
  log "installing radosgw, ceph-mon and ceph-osd from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >&2
  command -v radosgw >/dev/null 2>&1 || die "apt-get finished but radosgw is still not on PATH"
}

# ---------------------------------------------------------------------------
# start

# Whether nothing listens on TCP port $1.
port_free() {
  [[ -z $(ss -Htln "sport = :$1" 2>/dev/null) ]]
}

# A free port in 20000-31999 that is not one of RESERVED_PORTS. Another
# cluster starting at the same moment could pick the same one before binding
# it; with 12000 candidates that is rare, and the loser fails loudly.
pick_port() {
  local port _
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    [[ $RESERVED_PORTS == *" $port "* ]] && continue
    if port_free "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "found no free TCP port in 20000-31999"
}

# A random string of $1 characters from the alphabet $2.
random_string() {
  python3 -c 'import secrets, sys; n, a = int(sys.argv[1]), sys.argv[2]; print("".join(secrets.choice(a) for _ in range(n)))' "$1" "$2"
}

# Writes DIR/ceph.conf. Every setting below was needed on these machines.
write_conf() {
  local dir=$1 run=$2 fsid=$3 mon_port=$4 rgw_port=$5
  # `$name` is Ceph's own metavariable (mon.a, osd.0, client.rgw), expanded
  # by each daemon, hence the escaping.
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
# Loopback only, messenger v2 only, no IPv6. Without cluster_addr some OSD
# ports listen on 0.0.0.0.
mon_host = v2:127.0.0.1:$mon_port
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_msgr1 = false
# No cephx. ms_mon_client_mode = crc is needed too: without it radosgw cannot
# talk to the mon and exits after 5 minutes with "failed to fetch mon config".
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
keyring = /dev/null
# With the 1 s default every map change waits a second: 20 s bring-up, not 4.
paxos_propose_interval = 0.05
# One OSD: pools of size 1, few placement groups, no autoscaler.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_max_pg_per_osd = 1000
# Throw-away data: a fuller disk must neither warn nor stop the monitor.
mon_data_avail_warn = 1
mon_data_avail_crit = 0
# Everything under DIR (sockets under a short directory, see cmd_start).
run_dir = $run
pid_file = $run/\$name.pid
log_file = $dir/log/\$name.log
mon_cluster_log_file = $dir/log/cluster.log
crash_dir = $dir/crash
mon_data = $dir/mon/\$name
osd_data = $dir/osd/\$name
rgw_data = $dir/rgw/\$name

[mon]
admin_socket = $run/\$name.asok

[osd]
admin_socket = $run/\$name.asok
# Data in RAM: nothing to format, nothing to clean up but DIR.
osd_objectstore = memstore

[client]
# Command-line clients (ceph, radosgw-admin) need no admin socket.
admin_socket =

[client.rgw]
admin_socket = $run/\$name.asok
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_thread_pool_size = 64
EOF
}

# Cluster state used by the helpers below, set by cmd_start.
DIR=
CONF=
STARTED_PIDS=()
START_TIME=

# Logs $1 with the seconds since `start` began.
progress() {
  log "$(awk -v a="$START_TIME" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.1fs", b - a }') $1"
}

ceph_cli() {
  timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@"
}

# Starts daemon $1 (mon, osd or rgw) as `$2...`, detached from our session
# and from our stdout (so `$(rgw.sh start ...)` returns), and records its pid
# in DIR/pids for `stop`.
spawn() {
  local name=$1
  shift
  setsid "$@" -f -c "$CONF" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  local pid=$!
  # Not a job of this shell: no "Killed" report when `stop` or a failed
  # start kills it.
  disown "$pid"
  STARTED_PIDS+=("$pid")
  echo "$name $pid" >>"$DIR/pids"
}

# Prints the last lines of each log file given, to stderr.
show_logs() {
  local file
  for file in "$@"; do
    [[ -s $file ]] || continue
    log "---- last lines of $file ----"
    tail -n 30 "$file" >&2
  done
}

# Fails `start`: reports $1, shows the logs $2..., kills what was started.
fail_start() {
  local why=$1
  shift
  log "error: $why"
  show_logs "$@"
  kill_pids "${STARTED_PIDS[@]}"
  exit 1
}

# Waits up to $2 seconds until `$4...` succeeds, while the daemon whose log
# is $3 is alive (its pid is the last one started); fails `start` otherwise.
wait_until() {
  local what=$1 limit=$2 logfile=$3
  shift 3
  local pid=${STARTED_PIDS[-1]}
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      fail_start "$what: the daemon (pid $pid) exited" "$logfile" "${logfile%.log}.out"
    fi
    if ((SECONDS >= deadline)); then
      fail_start "$what: not up within ${limit}s" "$logfile" "${logfile%.log}.out"
    fi
    sleep 0.1
  done
}

mon_up() { ceph_cli mon stat; }
osd_up() { ceph_cli osd dump | grep -q '^osd\.0 up'; }
rgw_up() {
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/") == 200 ]]
}

cmd_start() {
  local dir=${1:-} rgw_port=${2:-}
  [[ -n $dir ]] || usage
  mkdir -p "$dir"
  DIR=$(cd "$dir" && pwd)
  if [[ -n $(ls -A "$DIR") ]]; then
    die "$DIR is not empty: start needs an empty (or new) directory"
  fi
  cmd_install
  CONF=$DIR/ceph.conf
  mkdir -p "$DIR/log" "$DIR/crash" "$DIR/mon/mon.a" "$DIR/osd/osd.0" "$DIR/rgw/client.rgw"

  # Unix socket paths are limited to 107 bytes. If DIR is too deep for
  # DIR/run/client.rgw.asok, the sockets go to a short directory in /tmp that
  # `stop` removes (DIR/run then points at it).
  local run=$DIR/run longest_socket=$DIR/run/client.rgw.asok
  if ((${#longest_socket} > 100)); then
    run=$(mktemp -d /tmp/rgw.XXXXXX)
    ln -s "$run" "$DIR/run"
  else
    mkdir -p "$run"
  fi

  local mon_port fsid osd_uuid
  START_TIME=$EPOCHREALTIME
  mon_port=$(pick_port)
  if [[ -z $rgw_port ]]; then
    rgw_port=$(pick_port)
    [[ $rgw_port != "$mon_port" ]] || rgw_port=$(pick_port)
  elif ! port_free "$rgw_port"; then
    die "port $rgw_port is already in use"
  fi
  fsid=$(uuidgen)
  osd_uuid=$(uuidgen)
  write_conf "$DIR" "$run" "$fsid" "$mon_port" "$rgw_port"
  log "starting a cluster in $DIR (mon on 127.0.0.1:$mon_port, S3 on 127.0.0.1:$rgw_port)"

  # Monitor: a one-member monmap, mkfs, start, wait for quorum.
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null 2>&1 \
    || die "monmaptool failed"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mon.out" 2>&1 \
    || { show_logs "$DIR/log/mon.out"; die "ceph-mon --mkfs failed"; }
  spawn mon ceph-mon -i a
  wait_until "ceph-mon" "$MON_TIMEOUT" "$DIR/log/mon.a.log" mon_up
  progress "ceph-mon up"

  # OSD 0: register it, so the pools below have a CRUSH target.
  local osd_id
  osd_id=$(ceph_cli osd new "$osd_uuid" 2>>"$DIR/log/osd.out") \
    || fail_start "ceph osd new failed" "$DIR/log/osd.out"
  [[ $osd_id == 0 ]] || fail_start "ceph osd new gave id ${osd_id@Q}, expected 0" "$DIR/log/osd.out"

  # radosgw's pools, created up front so the first PUT does not stall. It is
  # the monitor's work, so it runs while the OSD starts. One `ceph` process
  # reads all the commands from stdin: a process per command costs ~0.3 s.
  local pool pools_pid
  for pool in "${RGW_POOLS[@]}"; do
    echo "osd pool create $pool"
    echo "osd pool application enable $pool rgw"
  done | ceph_cli >>"$DIR/log/pools.out" 2>&1 &
  pools_pid=$!

  # The OSD on memstore: mkfs, start, wait until the map says it is up.
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/osd.out" 2>&1 \
    || fail_start "ceph-osd --mkfs failed" "$DIR/log/osd.0.log" "$DIR/log/osd.out"
  spawn osd ceph-osd -i 0
  wait_until "ceph-osd" "$OSD_TIMEOUT" "$DIR/log/osd.0.log" osd_up
  progress "ceph-osd up"
  wait "$pools_pid" || fail_start "creating radosgw's pools failed" "$DIR/log/pools.out"
  progress "pools created"

  # The gateway, then its S3 user.
  spawn rgw radosgw -n client.rgw
  wait_until "radosgw" "$RGW_TIMEOUT" "$DIR/log/client.rgw.log" rgw_up "$rgw_port"
  progress "radosgw answers"

  local access=${RGW_ACCESS_KEY:-} secret=${RGW_SECRET_KEY:-}
  if [[ -z $access || -z $secret ]]; then
    access=$(random_string 20 ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789)
    secret=$(random_string 40 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789)
  fi
  timeout 30 radosgw-admin -c "$CONF" user create --uid="$S3_USER" --display-name="$S3_USER" \
    --access-key="$access" --secret-key="$secret" >/dev/null 2>>"$DIR/log/admin.out" \
    || fail_start "radosgw-admin user create failed" "$DIR/log/admin.out"

  progress "S3 user created; endpoint http://127.0.0.1:$rgw_port (stop: $0 stop $DIR)"
  {
    echo "S3_ENDPOINT=http://127.0.0.1:$rgw_port"
    echo "S3_ACCESS_KEY_ID=$access"
    echo "S3_SECRET_ACCESS_KEY=$secret"
    echo "S3_REGION=$S3_REGION"
  } | tee "$DIR/env"
}

# ---------------------------------------------------------------------------
# stop

# Whether pid $1 is a live process (a zombie counts as gone).
pid_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# SIGKILLs the given pids and waits up to 10 s for them to be gone.
kill_pids() {
  local pid
  for pid in "$@"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 10))
  for pid in "$@"; do
    while pid_alive "$pid"; do
      ((SECONDS < deadline)) || die "pid $pid is still alive 10 s after SIGKILL"
      sleep 0.05
    done
  done
}

cmd_stop() {
  local dir=${1:-}
  [[ -n $dir ]] || usage
  [[ -d $dir ]] || die "$dir is not a directory"
  DIR=$(cd "$dir" && pwd)
  local pids=() name pid
  if [[ -f $DIR/pids ]]; then
    while read -r name pid; do
      # Only a process that still runs this cluster's ceph.conf: the pid may
      # have been reused since.
      if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/ceph.conf"; then
        pids+=("$pid")
      fi
    done <"$DIR/pids"
  fi
  if ((${#pids[@]})); then
    kill_pids "${pids[@]}"
  fi
  rm -f "$DIR/pids"
  # The short socket directory, if start had to use one.
  if [[ -L $DIR/run ]]; then
    rm -rf "$(readlink "$DIR/run")"
    rm -f "$DIR/run"
  fi
  log "stopped the cluster in $DIR"
}

# ---------------------------------------------------------------------------

case ${1:-} in
  install) cmd_install ;;
  start)
    shift
    cmd_start "$@"
    ;;
  stop)
    shift
    cmd_stop "$@"
    ;;
  *) usage ;;
esac
