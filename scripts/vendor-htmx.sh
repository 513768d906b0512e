#!/usr/bin/env bash
# Re-vendor htmx from the npm registry (no Node toolchain needed at runtime) and check it.
set -euo pipefail
VERSION=2.0.11
SHA256=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
DEST=src/careweave/web/static/vendor/htmx-$VERSION.min.js
tmp=$(mktemp -d)
(cd "$tmp" && npm pack "htmx.org@$VERSION" >/dev/null && tar xzf "htmx.org-$VERSION.tgz")
cp "$tmp/package/dist/htmx.min.js" "$DEST"
echo "$SHA256  $DEST" | sha256sum -c -
rm -rf "$tmp"
