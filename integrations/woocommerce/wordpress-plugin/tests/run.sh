#!/usr/bin/env bash
# Lints every PHP file of the BackSoon WordPress plugin, runs its tests (tests/test-*.php, command line only) and
# checks that a web server serving the plugin folder runs none of them. Non-zero exit on any failure.
set -u
cd "$(dirname "$0")/.."
command -v php >/dev/null || { echo "php not found (apt-get install -y php-cli)" >&2; exit 127; }
status=0
while IFS= read -r -d '' f; do
	out=$(php -l "$f" 2>&1) || { echo "$out"; status=1; }
done < <(find . -name '*.php' -print0 | sort -z)
[ "$status" -eq 0 ] && echo "php -l: all files OK" || echo "php -l: syntax errors" >&2
for t in tests/test-*.php; do
	echo "# $t"
	php "$t" || status=1
done
if command -v node >/dev/null; then node --check assets/backsoon-variations.js && echo "node --check: assets/backsoon-variations.js OK" || status=1; fi

# Over HTTP (PHP's built-in server, as a host serving wp-content/plugins/backsoon would), every test file must
# answer without running: no "ok"/"FAIL" lines, no summary.
port=$(php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false); echo substr($n, strrpos($n, ":") + 1);')
php -S "127.0.0.1:$port" -t . >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null' EXIT
for _ in $(seq 50); do php -r "exit(@fsockopen('127.0.0.1', $port) ? 0 : 1);" && break; sleep 0.1; done
for f in tests/*.php; do
	body=$(php -r '$c = stream_context_create(["http" => ["ignore_errors" => true]]); echo @file_get_contents($argv[1], false, $c);' "http://127.0.0.1:$port/$f")
	if printf '%s' "$body" | grep -qE '^(ok|FAIL) +-|passed, [0-9]+ failed'; then
		echo "FAIL - http: $f ran over HTTP"; status=1
	else
		echo "ok   - http: $f does not run over HTTP"
	fi
done
exit "$status"
