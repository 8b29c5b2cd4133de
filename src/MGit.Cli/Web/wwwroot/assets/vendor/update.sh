#!/usr/bin/env bash
# Re-fetches the vendored graph libraries at the pinned versions below and copies the same files
# into this folder. Needs node/npm and the npm registry. To update: change a version, run this
# script, rebuild, check the graph page (and `mgit graph --format html`), commit the folder.
#
#   cytoscape        the graph renderer                     (MIT)
#   cytoscape-dagre  the dagre layout for cytoscape; its dist file bundles
#                    @dagrejs/dagre and @dagrejs/graphlib   (MIT)
#   d3-hierarchy     the tidy-tree layout (Reingold-Tilford, linear time) for graphs too big
#                    for dagre                              (ISC)
#
# The dagre/graphlib packages are fetched only for their LICENSE files (the code used is the
# copy bundled into cytoscape-dagre's dist file). After changing CYTOSCAPE_DAGRE, check which
# dagre it bundles (its package.json devDependencies "@dagrejs/dagre", and the version string
# inside dist/cytoscape-dagre.js) and set DAGRE / GRAPHLIB to match.
set -euo pipefail

CYTOSCAPE=3.35.0
CYTOSCAPE_DAGRE=4.0.1
DAGRE=3.0.0
GRAPHLIB=4.0.1
D3_HIERARCHY=3.1.3

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

for spec in "cytoscape@$CYTOSCAPE" "cytoscape-dagre@$CYTOSCAPE_DAGRE" "@dagrejs/dagre@$DAGRE" "@dagrejs/graphlib@$GRAPHLIB" "d3-hierarchy@$D3_HIERARCHY"; do
  tgz="$(npm pack --silent "$spec")"
  name="${tgz%.tgz}"
  mkdir "$name"
  tar xzf "$tgz" -C "$name"
done

cp "cytoscape-$CYTOSCAPE/package/dist/cytoscape.min.js" "$here/cytoscape.min.js"
cp "cytoscape-$CYTOSCAPE/package/LICENSE" "$here/LICENSE-cytoscape.txt"
cp "cytoscape-dagre-$CYTOSCAPE_DAGRE/package/dist/cytoscape-dagre.min.js" "$here/cytoscape-dagre.min.js"
cp "cytoscape-dagre-$CYTOSCAPE_DAGRE/package/LICENSE" "$here/LICENSE-cytoscape-dagre.txt"
cp "dagrejs-dagre-$DAGRE/package/LICENSE" "$here/LICENSE-dagre.txt"
cp "dagrejs-graphlib-$GRAPHLIB/package/LICENSE" "$here/LICENSE-graphlib.txt"
cp "d3-hierarchy-$D3_HIERARCHY/package/dist/d3-hierarchy.min.js" "$here/d3-hierarchy.min.js"
cp "d3-hierarchy-$D3_HIERARCHY/package/LICENSE" "$here/LICENSE-d3-hierarchy.txt"

# No source-map comments: the maps are not vendored, and a browser would ask for them.
sed -i -e 's#//[#@] sourceMappingURL=.*$##' "$here/cytoscape.min.js" "$here/cytoscape-dagre.min.js" "$here/d3-hierarchy.min.js"

cat > "$here/VERSIONS.txt" <<VERSIONS
Vendored browser libraries for the mgit serve pages (fetched by update.sh with npm pack).

cytoscape@$CYTOSCAPE (MIT, The Cytoscape Consortium)
  cytoscape.min.js          <- npm cytoscape@$CYTOSCAPE dist/cytoscape.min.js
  LICENSE-cytoscape.txt     <- npm cytoscape@$CYTOSCAPE LICENSE

cytoscape-dagre@$CYTOSCAPE_DAGRE (MIT, Max Franz); bundles @dagrejs/dagre@$DAGRE and @dagrejs/graphlib@$GRAPHLIB
  cytoscape-dagre.min.js    <- npm cytoscape-dagre@$CYTOSCAPE_DAGRE dist/cytoscape-dagre.min.js
                               (its banner says 4.0.0: upstream did not rebuild the banner for 4.0.1)
  LICENSE-cytoscape-dagre.txt <- npm cytoscape-dagre@$CYTOSCAPE_DAGRE LICENSE

@dagrejs/dagre@$DAGRE (MIT, Chris Pettitt), bundled in cytoscape-dagre.min.js
  LICENSE-dagre.txt         <- npm @dagrejs/dagre@$DAGRE LICENSE

@dagrejs/graphlib@$GRAPHLIB (MIT, Chris Pettitt), bundled in cytoscape-dagre.min.js
  LICENSE-graphlib.txt      <- npm @dagrejs/graphlib@$GRAPHLIB LICENSE

d3-hierarchy@$D3_HIERARCHY (ISC, Mike Bostock)
  d3-hierarchy.min.js       <- npm d3-hierarchy@$D3_HIERARCHY dist/d3-hierarchy.min.js
  LICENSE-d3-hierarchy.txt  <- npm d3-hierarchy@$D3_HIERARCHY LICENSE

Source-map comments are stripped (the maps are not vendored).
Update: edit the pinned versions at the top of update.sh and run it (bash update.sh).
VERSIONS

echo "vendored into $here:"
ls -l "$here"
