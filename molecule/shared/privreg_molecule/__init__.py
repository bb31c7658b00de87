"""What the Molecule scenarios' tests share (molecule/*/tests).

pytest.ini puts molecule/shared on the import path (``pythonpath``), and the
testinfra verifier runs pytest with that file (rootdir is the checkout), so a
scenario's tests and conftest.py import these modules by name::

    from privreg_molecule.scenario import converge
    from privreg_molecule.registry_client import RegistryClient
    from privreg_molecule.proxy_scenario import NGINX_CONF

scenario        fixtures and steps of every scenario
registry_client what a registry's clients (docker CLI, curl) do
proxy_scenario  what the nginx_proxy and custom_port scenarios add
"""
