# Sourced by tests/cluster/*.sh (after tests/lib.sh): a cluster of "hosts" on this one machine. Each
# host is a network namespace (cnnt-h1, cnnt-h2, ...) with its own address on a bridge that lives in a
# switch namespace (cnnt-sw), so the machine's own network is never touched; rsh-agent (beside this
# file) enters a host's namespace and gives it its host name where ssh would log in. Needs root.
#
#   cluster_up N          make hosts cnnt-h1..cnnt-hN on 10.213.7.0/24 (.1, .2, ...)
#   cluster_down          kill whatever runs in them and remove them (safe to call twice)
#   on HOST CMD...        run CMD on HOST (its namespace and host name)
#   cluster_mpirun HOSTS MPIRUN-ARGS...   mpirun started on cnnt-h1 with HOSTS ("cnnt-h1:2,cnnt-h2:2")
#   host_pids HOST        pids of the processes running in HOST's network namespace
#   rx_bytes HOST         bytes HOST's link has received
CLUSTER_PREFIX=cnnt
CLUSTER_NET=10.213.7
CLUSTER_AGENT=$ROOT/tests/cluster/lib/rsh-agent

cluster_down() {
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$CLUSTER_PREFIX-"); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
}

cluster_up() {
    n=$1
    cluster_down
    sw=$CLUSTER_PREFIX-sw
    ip netns add "$sw"
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    hosts="127.0.0.1 localhost"
    for i in $(seq 1 "$n"); do hosts="$hosts
$CLUSTER_NET.$i $CLUSTER_PREFIX-h$i"; done
    for i in $(seq 1 "$n"); do
        h=$CLUSTER_PREFIX-h$i
        ip netns add "$h"
        ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$h"
        ip -n "$sw" link set "p$i" master br0 up
        ip -n "$h" link set lo up
        ip -n "$h" addr add "$CLUSTER_NET.$i/24" dev eth0
        ip -n "$h" link set eth0 up
        # `ip netns exec` mounts /etc/netns/NAME/* over /etc: each host resolves the others' names
        mkdir -p "/etc/netns/$h"
        printf '%s\n' "$hosts" >"/etc/netns/$h/hosts"
    done
}

on() {
    h=$1
    shift
    ip netns exec "$h" unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' on "$h" "$@"
}

cluster_mpirun() {
    hosts=$1
    shift
    on "$CLUSTER_PREFIX-h1" mpirun --host "$hosts" --mca plm_rsh_agent "$CLUSTER_AGENT" \
        --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 "$@"
}

host_pids() { ip netns pids "$1" 2>/dev/null || true; }

rx_bytes() { ip netns exec "$1" cat /sys/class/net/eth0/statistics/rx_bytes; }
