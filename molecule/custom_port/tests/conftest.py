"""Fixtures for this scenario's tests and for nginx_proxy's client tests, which run here too."""

from privreg_molecule.proxy_scenario import nginx, registry  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
from privreg_molecule.scenario import client, conf, endpoint, users  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
