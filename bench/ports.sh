# bench/ports.sh - loopback ports for the benchmark scripts (sourced; they
# define die).

# port_free PORT: nothing on this machine uses it.
port_free() { ! ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }

# free_port_base BASE N: prints the first BASE + k*N, below the ephemeral
# range (32768+) where no outgoing connection can hold them, whose N ports
# are all free.
free_port_base() {
	local base=$1 n=$2 ok off
	while :; do
		ok=1
		for off in $(seq 0 $((n - 1))); do port_free $((base + off)) || { ok=0; break; }; done
		[ $ok = 1 ] && { echo "$base"; return 0; }
		base=$((base + n))
		[ $base -lt 32700 ] || die "no $n free ports below 32700"
	done
}

# wait_port PORT WHAT: waits up to 10 s until something listens on it.
wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	die "nothing listens on 127.0.0.1:$1 after 10 s ($2)"
}
