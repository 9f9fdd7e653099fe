#!/usr/bin/env bash
# xcaddy.sh: build, run and test caddy-csb.
#
#   ./xcaddy.sh help    say what each command does
#
# (the commands are described in usage() below; "help", "-h" and "--help"
# print that text).
#
# CSB_CADDY_BIN names the binary to build and run instead of ./caddy (the
# live tests read the same variable). CSB_CACHE_DIR is where xcaddy is kept
# (default ./.cache).
#
# xcaddy v0.4.5 is built from a pinned module requirement in a throwaway
# module, because the module proxy here refuses the version listings that
# "go install ...@latest" (and even "@v0.4.5") needs.
set -euo pipefail

CADDY_VERSION=v2.11.9
XCADDY_VERSION=v0.4.5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
cache="${CSB_CACHE_DIR:-$here/.cache}"
xcaddy="$cache/xcaddy-$XCADDY_VERSION"
bin="${CSB_CADDY_BIN:-$here/caddy}"

ensure_xcaddy() {
	[ -x "$xcaddy" ] && return 0
	mkdir -p "$cache"
	local tmp
	tmp=$(mktemp -d)
	(
		cd "$tmp"
		go mod init xcaddy-build >/dev/null 2>&1
		go get "github.com/caddyserver/xcaddy@$XCADDY_VERSION" "github.com/caddyserver/xcaddy/cmd@$XCADDY_VERSION" >/dev/null
		go build -o "$xcaddy" github.com/caddyserver/xcaddy/cmd/xcaddy
	)
	rm -rf "$tmp"
}

# newer_sources succeeds when the binary is missing or older than a source
# file.
newer_sources() {
	[ -x "$bin" ] || return 0
	[ -n "$(find . -path ./.cache -prune -o -path ./.git -prune -o \
		\( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$bin" -print -quit)" ]
}

# build_if_stale builds the binary when the sources are newer, and says
# which it did.
build_if_stale() {
	if newer_sources; then
		echo "xcaddy.sh: building $bin (missing, or older than the sources)" >&2
		build
	else
		echo "xcaddy.sh: $bin is up to date" >&2
	fi
}

build() {
	ensure_xcaddy
	# xcaddy runs "go get github.com/caddy-csb/caddy-csb" before applying the
	# local replacement. The module proxy answers 403 for this unpublished
	# module, and a 403 stops the go command at a "," in GOPROXY ("direct"
	# cannot reach GitHub here either). A "|" falls through on any error to
	# an empty file proxy, whose "not found" lets the go command use the
	# replacement directory.
	local empty="$cache/empty-goproxy"
	mkdir -p "$empty"
	local proxy
	proxy=$(go env GOPROXY)
	proxy=${proxy//,/|}
	proxy=${proxy//|direct/}
	proxy=${proxy//direct|/}
	if [ ! -x "$bin" ]; then
		echo "xcaddy.sh: first build of $bin: downloading and compiling Caddy can take 10-15 minutes on 2 cores; a progress line follows every 50 packages" >&2
	fi
	# xcaddy's own flags (XCADDY_GO_BUILD_FLAGS replaces them) plus -v,
	# whose package lines become the progress count.
	GOPROXY="$proxy|file://$empty" \
		XCADDY_GO_BUILD_FLAGS="-ldflags='-w -s' -trimpath -tags=nobadger,nomysql,nopgx -v" \
		"$xcaddy" build "$CADDY_VERSION" \
		--output "$bin" \
		--with "github.com/caddy-csb/caddy-csb=." 2>&1 | progress >&2
}

# progress turns the package names "go build -v" prints into a count,
# and passes every other line (xcaddy's log, errors) through.
progress() {
	awk '/^[A-Za-z0-9._~\/-]+$/ { n++; if (n % 50 == 0) { printf "xcaddy.sh: %d packages compiled\n", n; fflush() } next }
		{ print; fflush() }
		END { if (n % 50) printf "xcaddy.sh: %d packages compiled\n", n }'
}

usage() {
	cat <<USAGE
usage: ./xcaddy.sh <command> [args...]

  build   build $bin: Caddy $CADDY_VERSION with this module (xcaddy $XCADDY_VERSION).
          The first build downloads and compiles Caddy: 10-15 minutes on 2 cores.
  run     build if a source is newer than the binary, then run Caddyfile.example
          (the broker on https://localhost:8443 and two sandbox clouds).
          Refuses to start while the example's addresses already answer.
  test    build if needed, then go vet and every test: unit, adapt and live.
          Extra args go to "go test" (e.g. -run TestName).
  bench   build if needed, then run the benchmark harness and print one table;
          "bench -o bench/RESULTS.md" also writes the table there.
  help    this text (also -h, --help).

Environment: CSB_CADDY_BIN (the binary to build and run, default ./caddy),
CSB_CACHE_DIR (where xcaddy is kept, default ./.cache), and for run the
example's addresses CSB_ADMIN, CSB_BROKER, CSB_CLOUD_A, CSB_CLOUD_B.
USAGE
}

# answers succeeds when something accepts TCP connections at host:port.
answers() {
	local host=${1%:*} port=${1##*:}
	[ "$host" = localhost ] && host=127.0.0.1
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# refuse_busy stops "run" when an address of the example already answers:
# Caddy binds with SO_REUSEPORT, so a second instance would start without
# error and share the ports with the first, each answering in turn.
refuse_busy() {
	local var addr busy=0
	for var in CSB_ADMIN CSB_BROKER CSB_CLOUD_A CSB_CLOUD_B; do
		case $var in
		CSB_ADMIN) addr=${CSB_ADMIN:-localhost:2019} ;;
		CSB_BROKER) addr=${CSB_BROKER:-localhost:8443} ;;
		CSB_CLOUD_A) addr=${CSB_CLOUD_A:-localhost:9101} ;;
		CSB_CLOUD_B) addr=${CSB_CLOUD_B:-localhost:9102} ;;
		esac
		if answers "$addr"; then
			echo "xcaddy.sh: $addr ($var) already answers: is the example already running? Stop it, or move the example with $var=host:port." >&2
			busy=1
		fi
	done
	return $busy
}

cmd=${1:-}
shift || true
case "$cmd" in
build)
	build
	;;
run)
	refuse_busy || exit 1
	build_if_stale
	exec "$bin" run --config Caddyfile.example --adapter caddyfile "$@"
	;;
test)
	build_if_stale
	export CSB_CADDY_BIN="$bin"
	go vet ./...
	go test -count=1 -timeout 25m "$@" ./...
	;;
bench)
	build_if_stale
	export CSB_CADDY_BIN="$bin"
	go run ./bench "$@"
	;;
help | -h | --help)
	usage
	;;
"")
	usage >&2
	exit 2
	;;
*)
	echo "xcaddy.sh: unknown command \"$cmd\"" >&2
	usage >&2
	exit 2
	;;
esac
