#!/usr/bin/env bash
# Capture golden BFD control packets from two real FRR 8.4 bfdd daemons and
# write them to bfd-common/tests/data/frr-8.4-bfdd.txt, the input of
# bfd-common/tests/frr_golden.rs.
#
# Usage (as root; needs frr 8.4, tcpdump, tshark, nft, jq, iproute2):
#   scripts/capture-frr-golden.sh [OUTPUT]
#
# Two network namespaces joined by one veth pair, one bfdd in each, with
# different timers so that the two sides' packets differ:
#   A = 10.250.0.1: transmit 300 ms, receive 300 ms, multiplier 3 (the defaults)
#   B = 10.250.0.2: transmit 100 ms, receive 200 ms, multiplier 5
# tcpdump records the veth while the script walks the session through:
#   a-alone      A runs alone: Down, Your Discriminator 0
#   bring-up     B starts (its packets held back until it has heard A, so
#                that B, not A, goes Init): Init, Up, the Poll/Final FRR runs
#                on reaching Up, steady Up
#   timer-change B's transmit-interval 100 -> 150 ms: Up+Poll, Up+Final
#   shutdown     `shutdown` on B: AdminDown, and A's Down (diag 3)
#   no-shutdown  `no shutdown` on B, A's packets held back from B until A
#                has heard B's Down: A's Init (diag 3), then back to Up
#   cut          nftables drops B's packets at A's input: A's Down (diag 1),
#                then B's own timeout and Init (diag 1)
# Then it keeps one packet per kind listed in WANTED below, checks tshark's
# decoding of each against the expectation written there, and writes the
# data file. Everything stays inside namespaces this script creates; the
# trap removes them, the daemons and the temporary directory on any exit.
set -euo pipefail

readonly SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly OUT=${1:-$SCRIPT_DIR/../bfd-common/tests/data/frr-8.4-bfdd.txt}
readonly BFDD=/usr/lib/frr/bfdd

# The PID makes names unique, so a concurrent run (or a leftover of a killed
# one) cannot collide. Interface names must stay within 15 characters.
readonly TAG=bfdg$$
readonly NS_A=$TAG-a NS_B=$TAG-b
readonly IF_A=${TAG}a IF_B=${TAG}b
readonly ADDR_A=10.250.0.1 ADDR_B=10.250.0.2

# Per-side configuration, in milliseconds as bfdd takes it.
readonly A_TX=300 A_RX=300 A_MULT=3
readonly B_TX=100 B_RX=200 B_MULT=5
readonly B_TX_CHANGED=150

# The kinds of packet to keep, one line each:
#   step|sender|description|expectation
# The expectation is what the configuration above and RFC 5880 imply (tx/rx
# in microseconds). `your=peer` stands for the other daemon's discriminator,
# read from `show bfd peers json`; `my` is always the sender's own. The first
# packet of the step from the sender with the expected state, diag, poll,
# final and tx is kept; every other field must then match as well.
# FRR advertises Required Min Echo RX 50 ms (its default) on every packet.
readonly WANTED="\
a-alone|A|Down, Your Discriminator 0: A runs alone and has heard nothing; while not Up it advertises the 1 s slow rate (RFC 5880 6.8.3)|state=Down diag=0 poll=0 final=0 mult=$A_MULT tx=1000000 rx=1000000 your=0
bring-up|B|Init: B heard A's Down (6.8.6), still at the 1 s slow rate|state=Init diag=0 poll=0 final=0 mult=$B_MULT tx=1000000 rx=1000000 your=peer
bring-up|A|Up+Poll: A heard B's Init and is Up; FRR polls at once to announce its configured rate (6.8.3)|state=Up diag=0 poll=1 final=0 mult=$A_MULT tx=$((A_TX * 1000)) rx=$((A_RX * 1000)) your=peer
bring-up|B|Up, steady: after the bring-up Poll/Final, at B's configured timers|state=Up diag=0 poll=0 final=0 mult=$B_MULT tx=$((B_TX * 1000)) rx=$((B_RX * 1000)) your=peer
bring-up|A|Up, steady: after the bring-up Poll/Final, at A's configured timers|state=Up diag=0 poll=0 final=0 mult=$A_MULT tx=$((A_TX * 1000)) rx=$((A_RX * 1000)) your=peer
timer-change|B|Up+Poll: B's transmit-interval changed to $B_TX_CHANGED ms; a new Desired Min TX is announced with a Poll (6.8.3)|state=Up diag=0 poll=1 final=0 mult=$B_MULT tx=$((B_TX_CHANGED * 1000)) rx=$((B_RX * 1000)) your=peer
timer-change|A|Up+Final: A answers B's Poll (6.5)|state=Up diag=0 poll=0 final=1 mult=$A_MULT tx=$((A_TX * 1000)) rx=$((A_RX * 1000)) your=peer
shutdown|B|AdminDown: \`shutdown\` on B. FRR 8.4 sends a single AdminDown, with diag 0 (not 7, Administratively Down) and its Up timers, then goes silent|state=AdminDown diag=0 poll=0 final=0 mult=$B_MULT tx=$((B_TX_CHANGED * 1000)) rx=$((B_RX * 1000)) your=peer
shutdown|A|Down diag 3, first packet: A got B's AdminDown, Neighbor Signaled Session Down (6.8.6); FRR zeroes the remote discriminator and sends this Down before slowing to 1 s|state=Down diag=3 poll=0 final=0 mult=$A_MULT tx=$((A_TX * 1000)) rx=$((A_RX * 1000)) your=0
shutdown|A|Down diag 3, slow: the following Downs at the 1 s slow rate|state=Down diag=3 poll=0 final=0 mult=$A_MULT tx=1000000 rx=1000000 your=0
no-shutdown|A|Init diag 3: \`no shutdown\` on B; B's Down brings A to Init, which keeps the last diag|state=Init diag=3 poll=0 final=0 mult=$A_MULT tx=1000000 rx=1000000 your=peer
cut|A|Down diag 1: nftables drops B's packets at A's input; A's detection time expires (6.8.4): Control Detection Time Expired, remote discriminator zeroed|state=Down diag=1 poll=0 final=0 mult=$A_MULT tx=1000000 rx=1000000 your=0
cut|B|Init diag 1: FRR ignores a Down with Your Discriminator 0 while Up, so B went Down by its own timer (diag 1), then A's Down brought it to Init|state=Init diag=1 poll=0 final=0 mult=$B_MULT tx=1000000 rx=1000000 your=peer"

die() {
	echo "capture-frr-golden: $*" >&2
	exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, tcpdump)"
for tool in ip tcpdump tshark nft jq vtysh "$BFDD"; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install frr tcpdump tshark nftables jq iproute2)"
done

WORK=""
TCPDUMP_PID=""
cleanup() {
	local status=$?
	set +e
	if [[ -n $TCPDUMP_PID ]]; then
		kill "$TCPDUMP_PID" 2>/dev/null
		wait "$TCPDUMP_PID" 2>/dev/null
	fi
	if [[ -n $WORK ]]; then
		local pidfile pid
		for pidfile in "$WORK"/a/bfdd.pid "$WORK"/b/bfdd.pid; do
			[[ -s $pidfile ]] || continue
			pid=$(<"$pidfile")
			kill "$pid" 2>/dev/null
			# bfdd is not our child (it daemonizes): poll until it is gone,
			# so the namespace and directory are free when we remove them.
			for _ in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		done
	fi
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	[[ -n $WORK ]] && rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap runs.
trap 'exit 130' INT TERM HUP

WORK=$(mktemp -d -t capture-frr-golden.XXXXXX)
# The daemons drop to user frr: they must be able to reach their directories.
chmod 0755 "$WORK"

# --- network: two namespaces, one veth -------------------------------------
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$IF_B"
ip -n "$NS_A" link set "$IF_A" up
ip -n "$NS_B" link set "$IF_B" up

# --- bfdd instances ----------------------------------------------------------
# make_instance DIR PEER LOCAL TX RX MULT: a directory bfdd (running as frr)
# can write its pid, sockets and log into, and its configuration.
make_instance() {
	local dir=$1
	mkdir "$dir"
	chown frr:frrvty "$dir"
	chmod 0775 "$dir"
	install -o frr -g frr -m 0640 /dev/null "$dir/bfdd.log"
	cat >"$dir/bfdd.conf" <<-EOF
		log file $dir/bfdd.log debugging
		log timestamp precision 6
		debug bfd peer
		bfd
		 peer $2 local-address $3
		  transmit-interval $4
		  receive-interval $5
		  detect-multiplier $6
		 exit
		exit
	EOF
	chown frr:frr "$dir/bfdd.conf"
}

# start_bfdd NS DIR: `peer X local-address Y` sessions need no zebra, so
# bfdd runs alone (-z points at a zebra socket that never appears).
start_bfdd() {
	ip netns exec "$1" "$BFDD" -d -f "$2/bfdd.conf" -i "$2/bfdd.pid" \
		--vty_socket "$2" -z "$2/zserv.api" -P 0 --bfdctl "$2/bfdd.sock"
}

vty() {
	local dir=$1
	shift
	vtysh --vty_socket "$dir" -d bfdd "$@"
}

# configure_peer DIR PEER LOCAL COMMAND: one command in the peer's node.
configure_peer() {
	vty "$1" -c 'configure terminal' -c 'bfd' -c "peer $2 local-address $3" -c "$4" >/dev/null
}

# peer_field DIR JQ-FIELD: a field of the only session's `show bfd peers json`.
peer_field() {
	vty "$1" -c 'show bfd peers json' | jq -r ".[0].$2"
}

# wait_status DIR STATUS: wait up to 15 s for the session to reach STATUS.
wait_status() {
	local status=""
	for _ in $(seq 150); do
		status=$(peer_field "$1" status 2>/dev/null || true)
		[[ $status == "$2" ]] && return 0
		sleep 0.1
	done
	die "session in $1 is '$status', expected '$2'"
}

# block NS HOOK: drop BFD control packets at NS's netfilter HOOK (input or
# output). tc netem is missing on this kernel; nftables is not. tcpdump in
# A's namespace still sees packets that A's input hook drops, and never sees
# those B's output hook drops.
block() {
	ip netns exec "$1" nft -f - <<-EOF
		table inet capture_frr_golden {
			chain $2 {
				type filter hook $2 priority 0; policy accept;
				udp dport 3784 drop
			}
		}
	EOF
}

unblock() {
	ip netns exec "$1" nft delete table inet capture_frr_golden
}

STEPS="$WORK/steps"
# step NAME: packets captured from now on belong to step NAME.
step() {
	echo "$(date +%s.%N) $1" >>"$STEPS"
}

make_instance "$WORK/a" "$ADDR_B" "$ADDR_A" "$A_TX" "$A_RX" "$A_MULT"
make_instance "$WORK/b" "$ADDR_A" "$ADDR_B" "$B_TX" "$B_RX" "$B_MULT"

# --- capture -----------------------------------------------------------------
PCAP="$WORK/bfd.pcap"
# -U: write each packet at once, so nothing is lost when we stop tcpdump;
# -Z root: keep writing into our root-owned directory.
ip netns exec "$NS_A" tcpdump -i "$IF_A" -n -U -Z root -w "$PCAP" udp port 3784 \
	2>"$WORK/tcpdump.err" &
TCPDUMP_PID=$!
for _ in $(seq 100); do
	grep -q 'listening on' "$WORK/tcpdump.err" && break
	sleep 0.1
done
grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"

step a-alone
start_bfdd "$NS_A" "$WORK/a"
# A's first packet leaves after 75-100 % of its 1 s slow interval.
sleep 2.5

step bring-up
# Who goes Init is a race between the daemons' first packets. Hold B's
# packets back until B has heard A's Down, so that B goes Init and A goes
# straight to Up, every run.
block "$NS_B" output
start_bfdd "$NS_B" "$WORK/b"
wait_status "$WORK/b" init
unblock "$NS_B"
wait_status "$WORK/a" up
wait_status "$WORK/b" up
DISCR_A=$(peer_field "$WORK/a" id)
DISCR_B=$(peer_field "$WORK/b" id)
sleep 2

step timer-change
configure_peer "$WORK/b" "$ADDR_A" "$ADDR_B" "transmit-interval $B_TX_CHANGED"
sleep 2

step shutdown
configure_peer "$WORK/b" "$ADDR_A" "$ADDR_B" shutdown
wait_status "$WORK/a" down
# Long enough for A's Downs at the slow rate.
sleep 2.5

step no-shutdown
# The same race as at bring-up: keep A's packets from B until B's Down has
# brought A to Init.
block "$NS_B" input
configure_peer "$WORK/b" "$ADDR_A" "$ADDR_B" 'no shutdown'
wait_status "$WORK/a" init
sleep 1
unblock "$NS_B"
wait_status "$WORK/a" up
wait_status "$WORK/b" up
sleep 1.5

step cut
block "$NS_A" input
# A detects after 5 x max(300, 150) ms; B, which ignores A's Down (see
# WANTED), after 3 x max(200, 300) ms without A's Ups, then hears A's Down
# and goes Init.
wait_status "$WORK/a" down
wait_status "$WORK/b" init
sleep 2.5
step end

kill -INT "$TCPDUMP_PID"
wait "$TCPDUMP_PID" || true
TCPDUMP_PID=""

# --- decode and select -----------------------------------------------------
# One line per BFD packet, fields separated by '|'.
tshark -r "$PCAP" -Y bfd -T fields -E separator='|' \
	-e frame.number -e frame.time_epoch -e ip.src -e ip.ttl -e ip.dsfield -e udp.srcport \
	-e bfd.version -e bfd.diag -e bfd.sta \
	-e bfd.flags.p -e bfd.flags.f -e bfd.flags.c -e bfd.flags.a -e bfd.flags.d -e bfd.flags.m \
	-e bfd.detect_time_multiplier -e bfd.message_length \
	-e bfd.my_discriminator -e bfd.your_discriminator \
	-e bfd.desired_min_tx_interval -e bfd.required_min_rx_interval -e bfd.required_min_echo_interval \
	-e udp.payload >"$WORK/decoded" 2>"$WORK/tshark.err" ||
	die "tshark failed: $(cat "$WORK/tshark.err")"
[[ -s $WORK/decoded ]] || die "no BFD packet captured"

# Normalize to "key=value" words (decimal numbers, 0/1 flags, hex
# discriminators), prefixed with the step and the sender.
awk -F'|' -v steps="$STEPS" -v a="$ADDR_A" -v b="$ADDR_B" '
	function hex(s,    i, v) {
		s = tolower(s); sub(/^0x/, "", s); v = 0
		for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return v
	}
	function flag(s) { return (s == "1" || s == "True" || s == "true") ? 1 : 0 }
	BEGIN {
		n = 0
		while ((getline line < steps) > 0) { split(line, f, " "); n++; t[n] = f[1] + 0; name[n] = f[2] }
		split("AdminDown Down Init Up", state_name, " ")
	}
	{
		s = ""
		for (i = 1; i <= n; i++) if ($2 + 0 >= t[i]) s = name[i]
		sender = ($3 == a) ? "A" : ($3 == b) ? "B" : "?"
		printf "%s|%s|frame=%s ttl=%s tos=0x%02x sport=%s|", s, sender, $1, $4, hex($5), $6
		printf "version=%d state=%s diag=%d poll=%d final=%d cpi=%d auth=%d demand=%d multipoint=%d ",
			$7, state_name[hex($9) + 1], hex($8), flag($10), flag($11), flag($12), flag($13), flag($14), flag($15)
		printf "mult=%d len=%d my=0x%08x your=0x%08x tx=%d rx=%d echo=%d|%s\n",
			$16, $17, hex($18), hex($19), $20, $21, $22, tolower($23)
	}
' "$WORK/decoded" >"$WORK/packets"

# field WORDS KEY: the value of KEY in a "key=value ..." list.
field() {
	local word
	for word in $1; do
		[[ $word == "$2="* ]] && { echo "${word#*=}"; return; }
	done
	die "no $2 in '$1'"
}

{
	cat <<-EOF
		# Golden BFD control packets sent by FRR bfdd $("$BFDD" --version 2>/dev/null | head -n1 | awk '{print $3}') (Debian frr $(dpkg-query -W -f='${Version}' frr 2>/dev/null || echo unknown)),
		# captured by scripts/capture-frr-golden.sh on $(date -u +%Y-%m-%d) and decoded by tshark $(tshark --version 2>/dev/null | head -n1 | awk '{print $3}').
		# Regenerate (as root): scripts/capture-frr-golden.sh
		#
		# A = $ADDR_A: peer $ADDR_B, transmit-interval $A_TX, receive-interval $A_RX, detect-multiplier $A_MULT
		# B = $ADDR_B: peer $ADDR_A, transmit-interval $B_TX, receive-interval $B_RX, detect-multiplier $B_MULT
		#     (transmit-interval $B_TX_CHANGED from step timer-change on)
		# Steps: a-alone (A runs alone), bring-up (B starts), timer-change (of B's transmit-interval),
		# shutdown (of B), no-shutdown (of B), cut (nftables drops B's packets at A's input).
		#
		# Format: each packet is a block of '# ' comment lines and then one line with the BFD
		# UDP payload in lowercase hex. '# expect:' holds the fields the configuration and
		# RFC 5880 imply (tx/rx/echo in microseconds; bfd-common/tests/frr_golden.rs checks
		# them); '# tshark:' is tshark's reading of the same packet, which the capture script
		# checked against the expectation. All were sent with IP TTL 255, TOS 0xc0.
	EOF
	while IFS='|' read -r want_step want_sender description expect; do
		your=$(field "$expect" your)
		if [[ $your == peer ]]; then
			[[ $want_sender == A ]] && your=$DISCR_B || your=$DISCR_A
		fi
		[[ $want_sender == A ]] && my=$DISCR_A || my=$DISCR_B
		expect="${expect% your=*} echo=50000 cpi=0 demand=0 auth=0 len=24 $(printf 'my=0x%08x your=0x%08x' "$my" "$your")"

		# Select on step, sender, state, diag, poll, final and tx ...
		selector="state=$(field "$expect" state) diag=$(field "$expect" diag) poll=$(field "$expect" poll) final=$(field "$expect" final)"
		match=""
		while IFS='|' read -r step_name sender ipinfo decoded payload; do
			[[ $step_name == "$want_step" && $sender == "$want_sender" ]] || continue
			ok=1
			for word in $selector "tx=$(field "$expect" tx)"; do
				[[ " $decoded " == *" $word "* ]] || { ok=0; break; }
			done
			if ((ok)); then
				match="$ipinfo|$decoded|$payload"
				break
			fi
		done <"$WORK/packets"
		[[ -n $match ]] || {
			cat "$WORK/packets" >&2
			die "no packet for: $want_step $want_sender $expect"
		}
		IFS='|' read -r ipinfo decoded payload <<<"$match"
		# ... then every expected field must agree with tshark's reading.
		for word in $expect; do
			[[ " $decoded " == *" $word "* ]] ||
				die "tshark reads '$decoded' for '$description', expected $word"
		done
		[[ " $decoded " == *" version=1 "* && " $decoded " == *" multipoint=0 "* ]] ||
			die "tshark reads '$decoded' for '$description': version or M bit wrong"
		[[ $payload =~ ^[0-9a-f]{48}$ ]] || die "unexpected payload '$payload' for '$description'"
		# The header below claims these; RFC 5881 sections 4 and 5 require them.
		[[ " $ipinfo " == *" ttl=255 tos=0xc0 "* ]] ||
			die "unexpected IP header ($ipinfo) for '$description'"
		(($(field "$ipinfo" sport) >= 49152)) ||
			die "source port outside 49152-65535 ($ipinfo) for '$description'"

		echo
		echo "# $want_sender -> $([[ $want_sender == A ]] && echo B || echo A), step $want_step: $description"
		echo "# tshark: $ipinfo $decoded"
		echo "# expect: $expect"
		echo "$payload"
	done <<<"$WANTED"
} >"$WORK/golden.txt"

mkdir -p "$(dirname "$OUT")"
mv "$WORK/golden.txt" "$OUT"
echo "wrote $(grep -c '^[0-9a-f]' "$OUT") packets to $OUT"
