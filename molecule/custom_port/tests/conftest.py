"""Fixtures for this scenario's tests: privreg_molecule's scenario.py and proxy_scenario.py."""

from privreg_molecule.proxy_scenario import nginx, nginx_gid, registry  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
from privreg_molecule.scenario import client, conf, endpoint, users  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
