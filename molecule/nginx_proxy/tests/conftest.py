"""Fixtures for this scenario's tests (and custom_port's): privreg_molecule's scenario.py and proxy_scenario.py."""

from privreg_molecule.proxy_scenario import nginx, registry  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
from privreg_molecule.scenario import client, conf, endpoint, users  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
