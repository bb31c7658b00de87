"""Makes the checkout importable as ansible_collections.privreg.registry.

scripts/env.sh does the same for the shell; this keeps a bare `pytest` run
from the checkout working too.
"""

import os
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COLLECTIONS = os.path.join(_ROOT, ".tmp", "collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "privreg", "registry")

if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(_ROOT, _LINK)
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", _COLLECTIONS)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """pytest-xdist (--dist loadgroup) sends each xdist_group to one worker. A test that names no group
    (the shared deployments' tests name theirs: shared-<topology>) is grouped with its module, so that a
    module-scoped deployment is made once, on one worker. Unit tests stay free to spread."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and "/tests/unit/" not in "/" + item.nodeid:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
