#!/usr/bin/env bash
# xcaddy.sh: build, run and test caddy-csb.
#
#   ./xcaddy.sh build   build ./caddy (Caddy v2.11.9 with this module)
#   ./xcaddy.sh run     build if the sources are newer than ./caddy, then run Caddyfile.example
#   ./xcaddy.sh test    build, then run every test: unit, adapt and live
#   ./xcaddy.sh bench   build, then run the benchmark harness and print one table
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
	GOPROXY="$proxy|file://$empty" "$xcaddy" build "$CADDY_VERSION" \
		--output "$bin" \
		--with "github.com/caddy-csb/caddy-csb=."
}

cmd=${1:-}
shift || true
case "$cmd" in
build)
	build
	;;
run)
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
*)
	echo "usage: $0 build|run|test|bench [args...]" >&2
	exit 2
	;;
esac
