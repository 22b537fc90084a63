# Shared by hack/*.sh: tool installation and a local Distribution registry.
# shellcheck shell=bash

CACHE="${TAGPIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tagpin}"
mkdir -p "$CACHE"

# need_registry installs the CNCF Distribution server from Debian when missing.
need_registry() {
	command -v docker-registry >/dev/null 2>&1 && return 0
	echo "==> installing docker-registry (Debian package)" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get install -y docker-registry >/dev/null 2>&1 ||
		{ $sudo apt-get update >/dev/null && $sudo apt-get install -y docker-registry >/dev/null; }
}

# free_port prints a free loopback TCP port, starting at $1.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

# start_registry DIR PORT starts docker-registry with storage under DIR,
# records its pid in REGISTRY_PID and waits until it answers.
start_registry() {
	local dir=$1 port=$2
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
CFG
	docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
	REGISTRY_PID=$!
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "docker-registry did not start; its log:" >&2
	cat "$dir/registry.log" >&2
	return 1
}
