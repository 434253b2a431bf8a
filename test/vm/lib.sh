# Helpers for test scripts run by test/vm/run-vm.ts, which reads one result per console line:
#   PASS <name>
#   FAIL <name> <detail on one line>
# Names must not contain spaces.

pass() {
	echo "PASS $1"
}

# fail NAME DETAIL...
fail() {
	_name=$1
	shift
	echo "FAIL $_name $(echo "$*" | tr '\n' ' ')"
}

# check NAME CMD [ARG...]: PASS if CMD exits 0, else FAIL with its status and output.
check() {
	_name=$1
	shift
	if _out=$("$@" 2>&1); then
		pass "$_name"
	else
		fail "$_name" "exit $?: $_out"
	fi
}

# netns_add NAME: a network namespace usable as CNI_NETNS=/run/netns/NAME.
netns_add() {
	ip netns add "$1"
}

# netns_del NAME
netns_del() {
	ip netns del "$1"
}
