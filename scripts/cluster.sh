#!/usr/bin/env bash
# Starts three barge servers on loopback that form one cluster (make cluster),
# prints the client URL list, and stops them all on Ctrl-C or when one exits.
#   node  client  routes  monitoring  raft (advertised)  data
#   n1    4222    6222    8222        7222               $DATA/n1
#   n2    4223    6223    8223        7223               $DATA/n2
#   n3    4224    6224    8224        7224               $DATA/n3
# Every node is given all three route URLs; a node skips the one that is
# itself. --cluster_size 3 starts raft: the three form the JetStream meta
# shard, so streams with num_replicas 3 are replicated. Logs go to
# $DATA/nN/barge.log.
set -euo pipefail
BIN=${BIN:-bin/barge}
DATA=${DATA:-./data}
ROUTES="nats://127.0.0.1:6222,nats://127.0.0.1:6223,nats://127.0.0.1:6224"

pids=()
stopping=0
stop() {
	stopping=1
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait || true
}
trap stop INT TERM EXIT

for i in 1 2 3; do
	mkdir -p "$DATA/n$i"
	"$BIN" -js -n "n$i" -p $((4221 + i)) -m $((8221 + i)) -sd "$DATA/n$i" \
		--cluster "127.0.0.1:$((6221 + i))" --cluster_name barge --routes "$ROUTES" \
		--raft "127.0.0.1:$((7221 + i))" --node_id "$i" --cluster_size 3 -l "$DATA/n$i/barge.log" &
	pids+=($!)
done

echo "barge cluster 'barge': 3 nodes (logs in $DATA/n1..n3/barge.log)"
echo "client URLs: nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
echo "routes:      http://127.0.0.1:8222/routez  http://127.0.0.1:8223/routez  http://127.0.0.1:8224/routez"
echo "Ctrl-C stops the cluster."
wait -n || true
if [ "$stopping" = 0 ]; then
	echo "a node exited; stopping the cluster"
fi
