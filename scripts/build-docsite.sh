#!/usr/bin/env bash
# Builds the collection's HTML docsite from this checkout, offline, and fails on
# any warning: the module, filter and role docs antsibull-docs renders, with the
# guides of docs/docsite/ (extra-docs.yml, links.yml, rst/) beside them.
#
#     bash scripts/build-docsite.sh      # HTML in .tmp/docsite/build/html/
#
# antsibull-docs sphinx-init writes the Sphinx project (conf.py, build.sh);
# its build.sh renders the collection's RST (antsibull-docs collection
# --use-current: the privreg.registry that scripts/env.sh links to this
# checkout) and runs sphinx-build -W --keep-going. The generated conf.py maps
# intersphinx inventories of docs.python.org and docs.ansible.com, which Sphinx
# would fetch at every build: the mapping is emptied, so nothing is fetched
# and no unreachable inventory can warn. References the generated plugin docs
# make outside this collection (Ansible's own docs, other collections' plugins)
# then have no target here: they are shown as plain text. A reference into
# privreg.registry that resolves to nothing still fails the build.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"

SITE="$PRIVREG_ROOT/.tmp/docsite"
rm -rf "$SITE"
mkdir -p "$SITE"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error \
    --no-add-antsibull-docs-version --dest-dir "$SITE" privreg.registry >/dev/null
cat >>"$SITE/conf.py" <<'CONF'

# scripts/build-docsite.sh: offline, nothing fetched.
intersphinx_mapping = {}


def _outside_reference_as_text(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("reftype") == "ref" and not target.startswith("ansible_collections.privreg.registry."):
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", _outside_reference_as_text)
CONF
bash "$SITE/build.sh"
printf 'docsite: %s\n' "$SITE/build/html/index.html"
