#!/usr/bin/env bash
# make demo: the server in the background, one client per port it listens on, then the server
# stopped; both sides' output shown.
# Usage: scripts/demo.sh HOST PORTS MODE MESSAGE [BACKEND]   (an empty HOST is the seed's '',
# all interfaces; PORTS may hold 0s: the clients use the ports the server reports; BACKEND
# select, poll or epoll for multiplex mode, empty for the server's default)
set -euo pipefail
host=${1-127.0.0.1}; ports=${2-5050,5060}; mode=${3-multiplex}; message=${4-hi}; backend=${5-}
backend_args=()
[ -n "$backend" ] && backend_args=(--backend "$backend")
# Where cargo put the binaries it has just built (CARGO_TARGET_DIR honoured; never a stale
# target/release/).
bins=$("$(dirname "$0")/cargo-bin" pyselect-server pyselect-client)
server=$(sed -n 1p <<<"$bins"); client=$(sed -n 2p <<<"$bins")
log=$(mktemp -d)
pid=""; drain=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$drain" ] && kill "$drain" 2>/dev/null
  rm -rf "$log"
}
trap cleanup EXIT

# The server's stderr comes through a pipe, read line by line up to its "listening on" line:
# no polling, and that line is the source of the ports (with --ports 0 the kernel picks them;
# in blocking mode only the first port is opened).
mkfifo "$log/err.fifo"
"$server" --host "$host" --ports "$ports" --mode "$mode" "${backend_args[@]}" >"$log/out" 2>"$log/err.fifo" &
pid=$!
exec 3<"$log/err.fifo"
early=""; listening=""
for _ in $(seq 50); do
  IFS= read -r -t 20 line <&3 || break    # EOF: the server died; timeout: it hangs
  early+="$line"$'\n'
  case $line in *"listening on "*) listening=$line; break ;; esac
done
if [ -z "$listening" ]; then
  echo "the server did not start:"; printf '%s' "$early"; cat <&3 || true; exit 1
fi
cat <&3 >"$log/err" & drain=$!
exec 3<&-
# "pyselect-server: listening on 127.0.0.1:40001 [::1]:40002 (select mode)": the port is
# after the last ':' of each address.
places=${listening#*listening on }; places=${places% (*}
served_ports=()
for place in $places; do served_ports+=("${place##*:}"); done

echo "== clients ($client)"
status=0
for port in "${served_ports[@]}"; do
  echo "\$ pyselect-client --host $(printf '%q' "$host") --port $port --message $(printf '%q' "$message")"
  "$client" --host "$host" --port "$port" --message "$message" || status=1
done

kill -TERM "$pid"; wait "$pid" || status=1
pid=""
wait "$drain" || true
drain=""
echo
echo "== server ($server --mode $mode${backend:+ --backend $backend}), stdout"
cat "$log/out"
echo "== server, stderr"
printf '%s' "$early"
cat "$log/err"
exit $status
