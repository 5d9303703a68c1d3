#!/usr/bin/env bash
# Install the external programs some tests use to check real outputs:
#   - Graphviz `dot` parses the DOT that penguiflow.viz writes (Debian package graphviz);
#   - Mermaid's own parser (npm packages mermaid + jsdom, run by node) parses the Mermaid text.
# CI runs this before the tests (.ci/run); on a laptop it is optional: without the tools
# those tests skip with a reason (and fail under PENGUIFLOW_REQUIRE_SERVICES=1).
set -euo pipefail

if ! command -v dot >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    echo "==> installing graphviz"
    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null
  else
    echo "warning: Graphviz 'dot' is missing and cannot be installed here (need root + apt-get)" >&2
  fi
fi

mermaid_dir="${PENGUIFLOW_MERMAID_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/penguiflow-mermaid}"
if [[ ! -d "$mermaid_dir/node_modules/mermaid" || ! -d "$mermaid_dir/node_modules/jsdom" ]]; then
  if command -v npm >/dev/null 2>&1; then
    echo "==> installing the Mermaid parser into $mermaid_dir"
    npm install --silent --no-audit --no-fund --prefix "$mermaid_dir" mermaid@12.3.0 jsdom@29.1.1
  else
    echo "warning: npm is missing; the Mermaid parser tests will skip" >&2
  fi
fi
