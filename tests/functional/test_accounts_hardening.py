"""The account safety nets of the roles, on a real deployment of playbooks/site.yml.

Per topology, one deployment goes through, in order:

1. a fresh host with no user: the run succeeds and warns, auth/htpasswd exists
   and is empty, anonymous requests and a bogus login get 401 (not 403);
2. two users, exclusive: the previous (empty) file is backed up outside auth/;
3. (nginx_proxy) an entry in another scheme planted in auth/htpasswd: the run
   fails naming the user, the file is unchanged, and the user cannot log in;
4. (nginx_proxy) registry_users_exclusive with an empty list: the run fails
   naming registry_users_remove_all, the file is unchanged;
5. the same with registry_users_remove_all: the file is emptied, everyone gets
   401, the run warns; backups are pruned to registry_htpasswd_backup_keep.

Steps 3 and 4 run behind nginx alone: the refusals are the shared accounts
step's (privreg.registry._common), the same in both topologies, and only
nginx's auth_basic would let a planted entry in (the native registry reads
bcrypt alone).
"""

import base64
import hashlib
import json
import os
import stat
import subprocess

import pytest
import requests
from local_engine import needs_engine_and_images
from site_deployment import RECAP, SITE, Site

pytestmark = needs_engine_and_images

NO_ACCOUNT = "no account is left: the registry and nginx refuse every login (401) until a user is added"
LEGACY_PASSWORD = "legacy pass"  # noqa: S105 (test data)


def openssl_passwd(scheme):
    return subprocess.run(
        ["openssl", "passwd", scheme, "-stdin"], input=LEGACY_PASSWORD, capture_output=True, text=True, check=True
    ).stdout.strip()


# Entries in the schemes nginx's auth_basic accepts and the registry does not.
LEGACY_ENTRIES = {
    # {SHA} as Apache's htpasswd -s writes it
    "legacy": "{SHA}" + base64.b64encode(hashlib.sha1(LEGACY_PASSWORD.encode()).digest()).decode(),  # noqa: S324
    "legacy-plain": "{PLAIN}" + LEGACY_PASSWORD,
    "legacy-apr1": openssl_passwd("-apr1"),
    "legacy-md5": openssl_passwd("-1"),
    "legacy-sha512": openssl_passwd("-6"),
}
LEGACY_ENTRY = "".join("%s:%s\n" % item for item in LEGACY_ENTRIES.items())


def run_site(site, extra):
    """ansible-playbook site.yml with ``extra`` vars over the deployment's own; (failed, changed, output)."""
    path = os.path.join(site.workdir, "extra.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(extra, stream)
    command = ["ansible-playbook", "-i", site.inventory, "-e", "@" + site.accounts, "-e", "@" + path, SITE]
    done = subprocess.run(command, env=site.env, capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    recap = RECAP.search(done.stdout)
    assert recap, output[-5000:]
    _ok, changed, unreachable, failed = (int(n) for n in recap.groups())
    assert unreachable == 0, output[-5000:]
    return failed > 0 or done.returncode != 0, changed, output


def status(site, user=None, password=None):
    """The status of GET /v2/ through the endpoint clients use."""
    auth = (user, password) if user is not None else None
    url = "https://localhost:%d/v2/" % site.port
    ca = os.path.join(site.base_dir, "certs", "ca.crt")
    for _attempt in range(90):  # a re-created container may still be starting (on a loaded machine)
        try:
            return requests.get(url, auth=auth, verify=ca, timeout=10).status_code
        except requests.ConnectionError:
            subprocess.run(["sleep", "1"], check=True)
    return None


def read(path):
    with open(path, "rb") as stream:
        return stream.read()


def refusals(site, htpasswd, backups, before):
    """Steps 3 and 4 on a deployment with alice and bob: what each showed."""
    steps = {}
    with open(htpasswd, "ab") as stream:
        stream.write(LEGACY_ENTRY.encode())
    planted = read(htpasswd)
    failed, _changed, output = run_site(site, {"registry_users_exclusive": False})
    steps["planted"] = dict(
        failed=failed,
        output=output,
        unchanged=read(htpasswd) == planted,
        legacy={name: status(site, name, LEGACY_PASSWORD) for name in LEGACY_ENTRIES},
        alice=status(site, "alice", site.passwords[0]),
        backups=sorted(os.listdir(backups)),
    )
    with open(htpasswd, "wb") as stream:  # back to what the role wrote
        stream.write(before)

    failed, _changed, output = run_site(site, {"registry_users": [], "registry_users_exclusive": True})
    steps["emptied_refused"] = dict(failed=failed, output=output, unchanged=read(htpasswd) == before)
    return steps


@pytest.fixture(scope="module", params=["native", "nginx_proxy"])
def walk(request, tmp_path_factory, ansible_environment):
    """The deployment after its steps (five behind nginx, three native), with what each step showed."""
    site = Site(request.param, str(tmp_path_factory.mktemp(request.param)), ansible_environment, name="accounts")
    site.remove()
    htpasswd = os.path.join(site.base_dir, "auth", "htpasswd")
    backups = os.path.join(site.base_dir, "auth-backup")
    steps = {}
    try:
        failed, _changed, output = run_site(site, {"registry_users": [], "registry_users_exclusive": True})
        steps["fresh"] = dict(
            failed=failed,
            output=output,
            content=read(htpasswd) if os.path.exists(htpasswd) else None,
            anonymous=status(site),
            bogus=status(site, "docker", "docker"),
        )

        failed, _changed, output = run_site(site, {"registry_users_exclusive": True})
        steps["users"] = dict(
            failed=failed,
            output=output,
            alice=status(site, "alice", site.passwords[0]),
            backups=sorted(os.listdir(backups)) if os.path.isdir(backups) else None,
        )

        before = read(htpasswd)
        if request.param == "nginx_proxy":
            steps.update(refusals(site, htpasswd, backups, before))

        extra = {
            "registry_users": [],
            "registry_users_exclusive": True,
            "registry_users_remove_all": True,
            "registry_htpasswd_backup_keep": 1,
        }
        failed, _changed, output = run_site(site, extra)
        kept = sorted(os.listdir(backups))
        steps["emptied"] = dict(
            failed=failed,
            output=output,
            content=read(htpasswd),
            anonymous=status(site),
            alice=status(site, "alice", site.passwords[0]),
            kept=kept,
            kept_content=[read(os.path.join(backups, name)) for name in kept],
            before=before,
        )
        site.steps = steps
        site.htpasswd, site.backups = htpasswd, backups
        yield site
    finally:
        site.remove()


def test_a_fresh_host_with_no_user_gets_an_empty_file_a_warning_and_401(walk):
    fresh = walk.steps["fresh"]
    assert not fresh["failed"], fresh["output"][-5000:]
    assert "[WARNING]: %s: %s" % (walk.htpasswd, NO_ACCOUNT) in fresh["output"]
    assert fresh["content"] == b""
    assert (fresh["anonymous"], fresh["bogus"]) == (401, 401)


def test_users_are_added_and_the_previous_file_is_backed_up_outside_auth(walk):
    users = walk.steps["users"]
    assert not users["failed"], users["output"][-5000:]
    assert users["alice"] == 200
    assert len(users["backups"]) == 1 and users["backups"][0].startswith("htpasswd.")
    assert sorted(os.listdir(os.path.dirname(walk.htpasswd))) == [".htpasswd.lock", "htpasswd"]


@pytest.mark.parametrize("walk", ["nginx_proxy"], indirect=True)
def test_a_planted_entry_in_another_scheme_fails_the_run_naming_the_user_and_nothing_is_written(walk):
    planted = walk.steps["planted"]
    assert planted["failed"]
    assert "has entries that are not bcrypt hashes for: " in planted["output"]
    for name in LEGACY_ENTRIES:
        assert name in planted["output"]
    assert "give each a password (it is re-hashed with bcrypt) or set state: absent" in planted["output"]
    assert planted["unchanged"] and planted["backups"] == walk.steps["users"]["backups"]
    assert planted["alice"] == 200
    assert LEGACY_PASSWORD not in planted["output"]
    assert not [entry for entry in LEGACY_ENTRIES.values() if entry in planted["output"]]


@pytest.mark.parametrize("walk", ["nginx_proxy"], indirect=True)
def test_a_planted_entry_in_another_scheme_cannot_log_in(walk):
    # nginx's auth_basic alone would accept every one of them (the login check refuses them first).
    assert walk.steps["planted"]["legacy"] == dict.fromkeys(LEGACY_ENTRIES, 401)


@pytest.mark.parametrize("walk", ["nginx_proxy"], indirect=True)
def test_an_exclusive_empty_list_is_refused_and_the_file_stays(walk):
    refused = walk.steps["emptied_refused"]
    assert refused["failed"] and refused["unchanged"]
    assert "every account ('alice', 'bob')" not in refused["output"]  # the role's words, not the module's
    assert "every account (alice, bob) would be removed" in refused["output"]
    assert "set registry_users_remove_all: true" in refused["output"]


def test_an_exclusive_empty_list_with_remove_all_empties_the_file_warns_and_everyone_gets_401(walk):
    emptied = walk.steps["emptied"]
    assert not emptied["failed"], emptied["output"][-5000:]
    assert emptied["content"] == b""
    assert "[WARNING]: %s: %s" % (walk.htpasswd, NO_ACCOUNT) in emptied["output"]
    assert (emptied["anonymous"], emptied["alice"]) == (401, 401)


def test_backups_are_private_and_pruned_to_keep(walk):
    emptied = walk.steps["emptied"]
    assert len(emptied["kept"]) == 1  # registry_htpasswd_backup_keep: 1
    assert emptied["kept_content"] == [emptied["before"]]  # the newest: alice and bob
    info = os.stat(walk.backups)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o700)
    path = os.path.join(walk.backups, emptied["kept"][0])
    assert (os.stat(path).st_uid, stat.S_IMODE(os.stat(path).st_mode)) == (0, 0o600)
    for password in walk.passwords:
        assert password not in emptied["output"]
