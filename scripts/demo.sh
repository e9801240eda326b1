#!/usr/bin/env bash
# make demo: the server in the background, one client per port, then the server stopped.
# Usage: scripts/demo.sh HOST PORTS MODE
set -euo pipefail
host=${1:-127.0.0.1}; ports=${2:-5050,5060}; mode=${3:-multiplex}
server=target/release/pyselect-server
client=target/release/pyselect-client
log=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$log"' EXIT

"$server" --host "$host" --ports "$ports" --mode "$mode" >"$log/out" 2>"$log/err" &
pid=$!
# Wait (at most 10 s) for the server's "listening on" line, or for it to die.
for _ in $(seq 100); do
  grep -q "listening on" "$log/err" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "listening on" "$log/err"; then
  echo "the server did not start:"; cat "$log/err"; exit 1
fi

echo "== clients ($client)"
status=0
for port in ${ports//,/ }; do
  [ "$mode" = blocking ] && port=${ports%%,*}
  echo "\$ pyselect-client --host $host --port $port"
  "$client" --host "$host" --port "$port" || status=1
done

kill -TERM "$pid"; wait "$pid" || status=1
echo
echo "== server ($server --mode $mode), stdout"
cat "$log/out"
echo "== server, stderr"
cat "$log/err"
exit $status
