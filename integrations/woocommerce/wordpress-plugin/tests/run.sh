#!/usr/bin/env bash
# Lints every PHP file of the BackSoon WordPress plugin, then runs its render tests. Non-zero exit on any failure.
set -u
cd "$(dirname "$0")/.."
command -v php >/dev/null || { echo "php not found (apt-get install -y php-cli)" >&2; exit 127; }
status=0
while IFS= read -r -d '' f; do
	out=$(php -l "$f" 2>&1) || { echo "$out"; status=1; }
done < <(find . -name '*.php' -print0 | sort -z)
[ "$status" -eq 0 ] && echo "php -l: all files OK" || echo "php -l: syntax errors" >&2
php tests/test-render.php || status=1
if command -v node >/dev/null; then node --check assets/backsoon-variations.js && echo "node --check: assets/backsoon-variations.js OK" || status=1; fi
exit "$status"
