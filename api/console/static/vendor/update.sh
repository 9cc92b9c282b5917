#!/usr/bin/env bash
# Re-vendors the console's JavaScript and CSS from the npm registry at the versions pinned here:
# change a version, run this script (needs npm), and commit what it wrote. Each package keeps its
# licence beside the files taken from it; nothing else of the package is kept.
set -euo pipefail
cd "$(dirname "$0")"
DAGRE=3.1.3          # @dagrejs/dagre: the layered layout of a journey's diagram
SWAGGER_UI=5.35.0    # swagger-ui-dist: /docs
REDOC=2.5.4          # redoc: /redoc (2.x: FastAPI's get_redoc_html speaks its <redoc spec-url> element)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
take() {  # take PACKAGE VERSION DIR FILE... : FILEs (paths inside the package) into DIR
    local package=$1 version=$2 dir=$3; shift 3
    (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
    local tarball
    tarball=$(ls "$work"/*.tgz)
    mkdir -p "$work/x" && tar xzf "$tarball" -C "$work/x" && rm "$tarball"
    rm -rf "$dir" && mkdir -p "$dir"
    for file in "$@"; do cp "$work/x/package/$file" "$dir/"; done
    rm -rf "$work/x"
}
rm -rf dagre-* swagger-ui-* redoc-*
take @dagrejs/dagre "$DAGRE" "dagre-$DAGRE" dist/dagre.min.js LICENSE
take swagger-ui-dist "$SWAGGER_UI" "swagger-ui-$SWAGGER_UI" swagger-ui-bundle.js swagger-ui.css favicon-32x32.png \
    LICENSE NOTICE
take redoc "$REDOC" "redoc-$REDOC" bundles/redoc.standalone.js LICENSE
# Redoc's sidebar loads its maker's logo from a CDN: pointed at our stand-in (static/redoc-logo.svg),
# so /redoc fetches nothing from the internet.
sed -i "s#https://cdn.redoc.ly/redoc/logo-mini.svg#/console/static/redoc-logo.svg#" "redoc-$REDOC/redoc.standalone.js"
