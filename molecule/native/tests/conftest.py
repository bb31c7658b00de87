"""The shared scenario fixtures (molecule/shared/privreg_molecule/scenario.py) for this scenario's tests."""

from privreg_molecule.scenario import client, conf, endpoint, users  # noqa: F401  (pytest fixtures)  # pylint: disable=unused-import
