#!/usr/bin/env bash
# Refreshes the GraphiQL page's scripts and styles, which the server embeds
# and serves itself (crates/cairn-api/assets/graphiql/), so the page loads
# nothing from a CDN and runs under a Content-Security-Policy of 'self'.
# They come from the npm registry at the versions below, checked against
# their SHA-256; the licences are copied beside them.
#
# Usage: scripts/vendor-graphiql.sh
# To move to other versions, change them here, run it, check the page
# (tests/tests/integration/security/browser.rs does), and put the new sums here.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly OUT="crates/cairn-api/assets/graphiql"
# package  file in the package  name served  sha256
readonly FILES=(
  "graphiql@4.1.2 graphiql.min.js graphiql.min.js 867226ba8af5ce7949903fc53932f78dac9f4bfc6cc8da0fd3869b8bc6c5256b"
  "graphiql@4.1.2 graphiql.min.css graphiql.min.css 30487e07635d312a63f647b140d37740a73c53332b0975bf4b1fe985ca6ec885"
  "react@18.3.1 umd/react.production.min.js react.production.min.js d949f1c3687aedadcedac85261865f29b17cd273997e7f6b2bfc53b2f9d4c4dd"
  "react-dom@18.3.1 umd/react-dom.production.min.js react-dom.production.min.js 35f4f974f4b2bcd44da73963347f8952e341f83909e4498227d4e26b98f66f0d"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for entry in "${FILES[@]}"; do
  read -r package file name sum <<<"$entry"
  dir="$work/${package//[@\/]/_}"
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$dir"
    tarball="$(cd "$dir" && npm pack --silent "$package")"
    tar -xzf "$dir/$tarball" -C "$dir"
    cp "$dir/package/LICENSE" "$OUT/LICENSE.${package%@*}"
  fi
  echo "$sum  $dir/package/$file" | sha256sum --check --quiet \
    || { echo "vendor-graphiql: $package $file does not have the pinned SHA-256" >&2; exit 1; }
  # The source map is not shipped; drop the comment that asks for it.
  sed '/^\/\/# sourceMappingURL=/d; s|/\*# sourceMappingURL=[^*]*\*/||' "$dir/package/$file" >"$OUT/$name"
done
echo "$OUT"
