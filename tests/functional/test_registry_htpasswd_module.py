"""privreg.registry.registry_htpasswd through real `ansible` on temp files."""

import os
import stat
import subprocess
import sys

import pytest
from conftest import ansible_env, ansible_module_command

from ansible_collections.privreg.registry.plugins.module_utils._htpasswd import check_password, parse

pytestmark = pytest.mark.slow

MODULE = "privreg.registry.registry_htpasswd"
COST = 4

USERS = [
    {"name": "alice", "password": "correct horse battery"},
    {"name": "bob", "password": "b$ob \"quoted\" 'single' \\back"},
    {"name": "j\u00fcrgen", "password": "Gr\u00fc\u00dfe-\u5bc6\u7801"},
]


@pytest.fixture
def htpasswd(tmp_path):
    return str(tmp_path / "htpasswd")


@pytest.fixture
def apply(ansible_module, htpasswd):
    """Run the module on the temp file; ``args`` add to or override path and cost."""

    def run(check=False, diff=False, **args):
        args = {k: v for k, v in dict({"path": htpasswd, "cost": COST}, **args).items() if v is not None}
        run = ansible_module(MODULE, args, check=check, diff=diff)
        assert run.rc in (0, 2), run.stdout + run.stderr
        return run.result

    return run


def read(path):
    with open(path, "rb") as f:
        return f.read()


def names(path):
    return [entry.name for entry in parse(read(path).decode())]


def verifies(path, name, password):
    return check_password(password, {e.name: e.hash for e in parse(read(path).decode())}[name])


def test_check_apply_check_apply(apply, htpasswd):
    first_check = apply(check=True, users=USERS)
    assert first_check["changed"] is True and first_check["added"] == ["alice", "bob", "j\u00fcrgen"]
    assert os.listdir(os.path.dirname(htpasswd)) == []  # no file, no lock file

    applied = apply(users=USERS)
    assert applied["changed"] is True
    assert (applied["added"], applied["updated"], applied["removed"]) == (["alice", "bob", "j\u00fcrgen"], [], [])
    assert names(htpasswd) == ["alice", "bob", "j\u00fcrgen"]
    assert all(verifies(htpasswd, u["name"], u["password"]) for u in USERS)
    assert all(line.startswith(b"$2y$04$") for line in read(htpasswd).split(b":")[1:])
    assert stat.S_IMODE(os.stat(htpasswd).st_mode) == 0o640
    content, mtime = read(htpasswd), os.stat(htpasswd).st_mtime_ns

    second_check = apply(check=True, users=USERS)
    assert second_check["changed"] is False
    again = apply(users=USERS)
    assert again["changed"] is False
    assert (again["added"], again["updated"], again["removed"], again["unusable"]) == ([], [], [], [])
    assert read(htpasswd) == content and os.stat(htpasswd).st_mtime_ns == mtime


def test_single_user_form_default_cost_and_absent(apply, htpasswd):
    added = apply(name="carol", password="carol pass", cost=None)  # the module's default cost
    assert added["added"] == ["carol"]
    assert read(htpasswd).startswith(b"carol:$2y$10$")  # the default cost, written by the module
    assert apply(name="dave", password="dave pass")["added"] == ["dave"]

    assert apply(check=True, name="carol", state="absent")["removed"] == ["carol"]
    assert names(htpasswd) == ["carol", "dave"]
    gone = apply(name="carol", state="absent")
    assert gone["changed"] is True and gone["removed"] == ["carol"]
    assert names(htpasswd) == ["dave"]
    assert apply(name="carol", state="absent")["changed"] is False


def test_check_mode_changes_nothing_on_an_existing_file(apply, htpasswd):
    apply(users=USERS)
    content = read(htpasswd)
    would = apply(
        check=True,
        users=[
            {"name": "alice", "password": "new one"},
            {"name": "zed", "password": "z pass"},
            {"name": "bob", "state": "absent"},
        ],
    )
    assert (would["changed"], would["added"], would["updated"], would["removed"]) == (True, ["zed"], ["alice"], ["bob"])
    assert read(htpasswd) == content


def test_exclusive_keeps_only_the_listed_users(apply, htpasswd):
    apply(users=USERS)
    result = apply(users=[USERS[1], {"name": "erin", "password": "erin pass"}], exclusive=True)
    assert (result["added"], result["updated"], result["removed"]) == (["erin"], [], ["alice", "j\u00fcrgen"])
    assert names(htpasswd) == ["bob", "erin"]
    assert apply(users=[USERS[1], {"name": "erin", "password": "erin pass"}], exclusive=True)["changed"] is False


def test_update_password_always_rehashes_and_on_create_keeps(apply, htpasswd):
    apply(users=USERS)
    kept = apply(name="alice", password="changed pass", update_password="on_create")
    assert kept["changed"] is False and verifies(htpasswd, "alice", USERS[0]["password"])

    updated = apply(name="alice", password="changed pass")
    assert (updated["changed"], updated["updated"]) == (True, ["alice"])
    assert verifies(htpasswd, "alice", "changed pass") and not verifies(htpasswd, "alice", USERS[0]["password"])
    assert verifies(htpasswd, "bob", USERS[1]["password"])
    assert apply(name="alice", password="changed pass")["changed"] is False


def test_diff_names_users_and_shows_no_hash_or_password(ansible_module, apply, htpasswd):
    apply(users=USERS)
    before = read(htpasswd).decode()
    request = {
        "path": htpasswd,
        "cost": COST,
        "users": [
            {"name": "alice", "password": "a brand new one"},
            {"name": "bob", "state": "absent"},
            {"name": "frank", "password": "frank's pass"},
        ],
    }
    shown = ansible_module(MODULE, request, diff=True, callback="default")
    assert shown.rc == 0, shown.stdout + shown.stderr
    after = read(htpasswd).decode()
    assert "-alice\n" in shown.stdout and "+alice (password re-hashed)\n" in shown.stdout
    assert "-bob\n" in shown.stdout and "+frank\n" in shown.stdout
    hashes = [e.hash for e in parse(before)] + [e.hash for e in parse(after)]
    secrets = hashes + ["$2y$", "a brand new one", "frank's pass"] + [u["password"] for u in USERS]
    assert [s for s in secrets if s in shown.stdout + shown.stderr] == []


def test_file_attributes_and_backup(apply, htpasswd):
    apply(name="alice", password="alice pass", mode="0600")
    assert stat.S_IMODE(os.stat(htpasswd).st_mode) == 0o600
    os.chmod(htpasswd, 0o644)
    old = read(htpasswd)
    result = apply(name="bob", password="bob pass", backup=True)
    assert stat.S_IMODE(os.stat(htpasswd).st_mode) == 0o644  # a replaced file keeps its mode
    assert read(result["backup_file"]) == old
    assert apply(name="bob", password="bob pass", mode="0640")["changed"] is True
    assert stat.S_IMODE(os.stat(htpasswd).st_mode) == 0o640


def test_a_symlinked_file_is_updated_through_the_link(apply, htpasswd, tmp_path):
    apply(name="alice", password="alice pass")
    link = str(tmp_path / "link")
    os.symlink(htpasswd, link)
    assert apply(path=link, name="bob", password="bob pass")["added"] == ["bob"]
    assert os.path.islink(link) and names(htpasswd) == ["alice", "bob"]


def htpasswd_tool(*args):
    return subprocess.run(["htpasswd", *args], capture_output=True, text=True, check=True).stdout.strip()


def test_unusable_entries_are_kept_with_a_warning_when_asked_and_rehashed_when_listed(ansible_module, htpasswd):
    md5 = htpasswd_tool("-nbm", "legacy", "old")
    with open(htpasswd, "w") as f:
        f.write(md5 + "\nalice:plaintext\n")
    args = {"path": htpasswd, "cost": COST, "name": "alice", "password": "alice pass", "unusable_entries": "warn"}
    result = ansible_module(MODULE, args).result
    assert (result["updated"], result["unusable"]) == (["alice"], ["legacy"])
    assert result["warnings"] == [
        "%s: user 'legacy' has an entry that is not bcrypt (Apache MD5 ($apr1$)): nginx may let it log in while "
        "the registry refuses it; list the user with a password to re-hash it to bcrypt, or remove it" % htpasswd
    ]
    assert read(htpasswd).decode().startswith(md5 + "\nalice:$2y$04$")


def test_entries_in_another_scheme_fail_naming_the_users_and_nothing_is_written(ansible_module, htpasswd, tmp_path):
    legacy = [
        htpasswd_tool("-nbp", "plain", "pw"),
        htpasswd_tool("-nbs", "sha", "pw"),
        htpasswd_tool("-nbm", "apr", "pw"),
        "md5:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0",
        "sha512:$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.",
    ]
    content = ("# legacy accounts\n" + "\n".join(legacy) + "\nkeep:$2y$04$" + "c" * 53 + "\n").encode()
    with open(htpasswd, "wb") as f:
        f.write(content)
    mtime = os.stat(htpasswd).st_mtime_ns
    run = ansible_module(
        MODULE, {"path": htpasswd, "cost": COST, "name": "new", "password": "new pass", "backup": True}
    )
    assert run.rc != 0
    assert run.result["msg"] == (
        "%s: users 'plain', 'sha', 'apr', 'md5', 'sha512' have entries that are not bcrypt (Apache MD5 ($apr1$), "
        "MD5 crypt ($1$), SHA-1 ({SHA}), SHA-512 crypt ($6$), plaintext or unknown): nginx may let them log in "
        "while the registry refuses them, and only bcrypt entries may authenticate; list each user with a password "
        "(it is re-hashed with bcrypt) or with state absent; nothing was changed" % htpasswd
    )
    assert (run.result["reason"], run.result["users"]) == ("unusable", ["plain", "sha", "apr", "md5", "sha512"])
    assert read(htpasswd) == content and os.stat(htpasswd).st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == [".htpasswd.lock", "htpasswd"]  # no backup, no temp file

    users = [{"name": name, "password": "fresh %s" % name} for name in ("plain", "sha", "apr")]
    users += [{"name": "md5", "state": "absent"}, {"name": "sha512", "state": "absent"}]
    fixed = ansible_module(MODULE, {"path": htpasswd, "cost": COST, "users": users}).result
    assert (fixed["updated"], fixed["removed"], fixed["unusable"]) == (["plain", "sha", "apr"], ["md5", "sha512"], [])
    assert names(htpasswd) == ["plain", "sha", "apr", "keep"]
    assert verifies(htpasswd, "sha", "fresh sha")


def test_a_malformed_line_fails_with_its_number_and_the_file_stays(ansible_module, htpasswd):
    content = b"# users\nalice:$2y$04$" + b"a" * 53 + b"\nsecret-line-without-colon\n"
    with open(htpasswd, "wb") as f:
        f.write(content)
    run = ansible_module(MODULE, {"path": htpasswd, "cost": COST, "name": "bob", "password": "bob pass"})
    assert run.rc != 0 and run.result["failed"] is True
    assert run.result["msg"] == (
        "%s: line 3 is not a 'name:hash' entry (no ':'); fix or remove it by hand: a registry that cannot "
        "parse the file keeps serving its previous users" % htpasswd
    )
    assert "secret-line" not in run.stdout
    assert read(htpasswd) == content


COST_TAIL = ": each step doubles the time of every login check (14 already takes over a second of CPU)"

BAD_INPUT = [
    ({"name": ""}, "user #1: name is empty"),
    ({"name": "a:b"}, "user 'a:b': name contains ':', which separates name and hash"),
    ({"name": "a b"}, "user 'a b': name contains whitespace"),
    ({"name": "a\u0007b"}, "user 'a\\x07b': name contains a control character"),
    ({"password": ""}, "user 'alice': password is empty"),
    (
        {"password": "x" * 73},
        "user 'alice': password is 73 bytes in UTF-8; bcrypt uses only the first 72, so shorten it",
    ),
    (
        {"password": "\u00e9" * 37},
        "user 'alice': password is 74 bytes in UTF-8; bcrypt uses only the first 72, so shorten it",
    ),
    ({"password": "two\nlines"}, "user 'alice': password contains a line break"),
    ({"password": None}, "user 'alice': password is required for state present"),
    ({"cost": 3}, "cost must be between 4 and 14, got 3" + COST_TAIL),
    ({"cost": 31}, "cost must be between 4 and 14, got 31" + COST_TAIL),
    ({"backup_keep": 0}, "backup_keep must be at least 1, got 0; leave it unset to keep every backup"),
    (
        {
            "name": None,
            "password": None,
            "users": [{"name": "bob", "password": "p1"}, {"name": "bob", "password": "p2"}],
        },
        "user 'bob' is listed twice in users (#1 and #2)",
    ),
    (
        {
            "name": None,
            "password": None,
            "users": [{"name": "bob", "password": "p1"}, {"name": "x y", "password": "p2"}],
        },
        "user 'x y': name contains whitespace",
    ),
    ({"users": [{"name": "bob", "password": "p1"}]}, "parameters are mutually exclusive: name|users, password|users"),
    ({"path": "{folder}"}, "path {folder} is a directory; give the path of the htpasswd file in it"),
    ({"path": "{folder}/new", "create": False}, "path {folder}/new does not exist and create is false"),
]


OPTIONS = ["path", "name", "password", "users", "cost", "create", "backup_keep"]


def test_bad_input_fails_before_the_file_is_touched(ansible_playbook, htpasswd, tmp_path):
    """One playbook runs the whole table (one ansible start instead of one per case)."""
    with open(htpasswd, "w") as f:
        f.write("# kept\nalice:$2y$04$%s\n" % ("b" * 53))
    content, mtime = read(htpasswd), os.stat(htpasswd).st_mtime_ns
    cases = []
    for change, _message in BAD_INPUT:
        args = {"path": htpasswd, "cost": COST, "name": "alice", "password": "right one"}
        args.update({k: (v.format(folder=tmp_path) if k == "path" else v) for k, v in change.items()})
        cases.append({k: v for k, v in args.items() if v is not None})
    task = {
        "name": "bad input is refused",
        "loop": cases,
        "ignore_errors": True,
        MODULE: {option: "{{ item.%s | default(omit) }}" % option for option in OPTIONS},
    }
    run = ansible_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    results = run.tasks["bad input is refused"]["results"]
    got = [(result.get("failed"), result.get("msg")) for result in results]
    assert got == [(True, message.format(folder=tmp_path)) for _change, message in BAD_INPUT]
    assert read(htpasswd) == content and os.stat(htpasswd).st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["htpasswd", "playbook.yml"]  # no temp or lock file either


def test_twenty_concurrent_runs_lose_no_user(htpasswd):
    env = ansible_env()
    runs = [
        subprocess.Popen(
            ansible_module_command(
                MODULE, {"path": htpasswd, "cost": COST, "name": "user%02d" % n, "password": "pass %d" % n}
            ),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(20)
    ]
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * 20, "\n".join(outputs)
    assert sorted(names(htpasswd)) == ["user%02d" % n for n in range(20)]
    assert all(verifies(htpasswd, "user%02d" % n, "pass %d" % n) for n in range(20))
    assert stat.S_IMODE(os.stat(htpasswd).st_mode) == 0o640


def test_missing_bcrypt_names_the_packages(ansible_module, htpasswd, tmp_path):
    bare = tmp_path / "python-without-bcrypt"  # a venv sees none of the base Python's packages
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = str(bare / "bin" / "python")
    assert subprocess.run([python, "-c", "import bcrypt"], capture_output=True, check=False).returncode != 0
    run = ansible_module(
        MODULE,
        {"path": htpasswd, "name": "alice", "password": "alice pass"},
        extra_vars={"ansible_python_interpreter": python},
    )
    assert run.rc != 0
    assert run.result["msg"].startswith("The Python library bcrypt is missing on the target (Python used: %s)" % python)
    assert "python3-bcrypt" in run.result["msg"] and "pip install bcrypt" in run.result["msg"]
    assert not os.path.exists(htpasswd)


@pytest.fixture(scope="module")
def debian_bcrypt():
    """The system Python with Debian's python3-bcrypt, installed with apt when missing (whatever ran before:
    a deployment installs it too, but this test must not depend on one having run)."""
    python = "/usr/bin/python3"

    def probe():
        return subprocess.run([python, "-c", "import bcrypt"], capture_output=True, check=False).returncode == 0

    if not probe():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        command = ["apt-get", "install", "-y", "--no-install-recommends", "python3-bcrypt"]
        installed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if installed.returncode != 0:  # a stale package list: update it once
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            installed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    assert probe(), "python3-bcrypt is installed, yet %s cannot import bcrypt" % python
    return python


def test_the_debian_bcrypt_package_works_too(ansible_module, htpasswd, debian_bcrypt):
    """Targets often run the system Python with python3-bcrypt (3.2 on Debian 12), not bcrypt 5."""
    python = debian_bcrypt
    args = {"path": htpasswd, "cost": COST, "users": USERS}
    extra = {"ansible_python_interpreter": python}
    assert ansible_module(MODULE, args, extra_vars=extra).result["added"] == [u["name"] for u in USERS]
    assert ansible_module(MODULE, args, extra_vars=extra).result["changed"] is False
    assert all(verifies(htpasswd, u["name"], u["password"]) for u in USERS)


def test_a_file_that_is_not_utf8_fails_with_its_line_and_is_left_alone(ansible_module, htpasswd):
    content = b"alice:$2y$04$" + b"a" * 53 + b"\nj\xfcrgen:s3cr\xe9t\n"
    with open(htpasswd, "wb") as f:
        f.write(content)
    run = ansible_module(MODULE, {"path": htpasswd, "cost": COST, "name": "bob", "password": "bob pass"})
    assert run.rc != 0 and "Traceback" not in run.stdout + run.stderr
    assert run.result["msg"] == (
        "%s: line 2 is not UTF-8 text; fix or remove it by hand (user names are matched as UTF-8)" % htpasswd
    )
    assert read(htpasswd) == content


def test_a_dangling_symlink_fails_and_nothing_is_created(ansible_module, tmp_path):
    link = tmp_path / "htpasswd"
    os.symlink(str(tmp_path / "elsewhere" / "htpasswd"), str(link))
    run = ansible_module(MODULE, {"path": str(link), "cost": COST, "name": "bob", "password": "bob pass"})
    assert run.rc != 0 and "Traceback" not in run.stdout + run.stderr
    assert run.result["msg"] == (
        "path %s is a symlink to %s/elsewhere/htpasswd, which does not exist; create the file there "
        "or point the link at the htpasswd file" % (link, tmp_path)
    )
    assert sorted(os.listdir(tmp_path)) == ["htpasswd"] and os.path.islink(str(link))


def test_cost_31_is_refused_at_once(ansible_module, htpasswd):
    run = ansible_module(MODULE, {"path": htpasswd, "cost": 31, "name": "bob", "password": "bob pass"}, timeout=60)
    assert run.rc != 0
    assert run.result["msg"] == "cost must be between 4 and 14, got 31" + COST_TAIL
    assert not os.path.exists(htpasswd)


def test_a_comment_with_leading_blanks_is_kept(apply, htpasswd):
    with open(htpasswd, "w") as f:
        f.write("   # managed elsewhere: do not edit\n\t# second\n")
    assert apply(name="bob", password="bob pass")["added"] == ["bob"]
    lines = read(htpasswd).decode().splitlines()
    assert lines[:2] == ["   # managed elsewhere: do not edit", "\t# second"] and lines[2].startswith("bob:$2y$04$")


def test_exclusive_with_no_present_user_is_refused_unless_allowed(ansible_module, apply, htpasswd, tmp_path):
    apply(users=USERS)
    content = read(htpasswd)
    args = {"path": htpasswd, "cost": COST, "users": [], "exclusive": True, "backup": True}
    run = ansible_module(MODULE, args)
    assert run.rc != 0
    assert run.result["msg"] == (
        "%s: exclusive is true and no present user is listed, so every account would be removed "
        "('alice', 'bob', 'j\u00fcrgen') and nobody could log in; list the users to keep, or set allow_remove_all "
        "to remove them all; nothing was changed" % htpasswd
    )
    assert (run.result["reason"], run.result["users"]) == ("remove_all", ["alice", "bob", "j\u00fcrgen"])
    assert read(htpasswd) == content and sorted(os.listdir(tmp_path)) == [".htpasswd.lock", "htpasswd"]

    checked = ansible_module(MODULE, dict(args, allow_remove_all=True), check=True).result
    assert checked["changed"] is True and read(htpasswd) == content
    emptied = ansible_module(MODULE, dict(args, allow_remove_all=True)).result
    assert emptied["removed"] == ["alice", "bob", "j\u00fcrgen"] and read(htpasswd) == b""
    assert emptied["warnings"] == [
        "%s: no account is left: the registry and nginx refuse every login (401) until a user is added" % htpasswd
    ]
    assert read(emptied["backup_file"]) == content


def test_no_user_on_a_new_file_creates_it_empty_with_a_warning(ansible_module, htpasswd):
    args = {"path": htpasswd, "cost": COST, "users": [], "exclusive": True}
    checked = ansible_module(MODULE, args, check=True).result
    assert checked["changed"] is True and not os.path.exists(htpasswd)
    created = ansible_module(MODULE, args).result
    assert created["changed"] is True and read(htpasswd) == b""
    assert stat.S_IMODE(os.stat(htpasswd).st_mode) == 0o640
    assert created["warnings"] == [
        "%s: no account is left: the registry and nginx refuse every login (401) until a user is added" % htpasswd
    ]
    again = ansible_module(MODULE, args).result
    assert again["changed"] is False and len(again["warnings"]) == 1


def test_backups_go_to_backup_dir_0600_pruned_to_keep_and_not_in_check_mode(apply, htpasswd, tmp_path):
    backups = tmp_path / "auth-backup"
    options = {"backup": True, "backup_dir": str(backups), "backup_keep": 3}
    apply(name="u0", password="p0", **options)
    assert not backups.exists()  # a new file has nothing to back up
    contents = []
    for n in range(1, 6):
        contents.append(read(htpasswd))
        result = apply(name="u%d" % n, password="p%d" % n, **options)
        assert os.path.dirname(result["backup_file"]) == str(backups)
        assert read(result["backup_file"]) == contents[-1]
    assert apply(check=True, name="u9", password="p9", **options)["changed"] is True
    assert apply(name="u5", password="p5", **options)["changed"] is False  # no change, no backup
    kept = sorted(os.listdir(str(backups)))
    assert len(kept) == 3 and all(name.startswith("htpasswd.") for name in kept)
    assert [read(str(backups / name)) for name in kept] == contents[-3:]
    assert stat.S_IMODE(os.stat(str(backups)).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(str(backups / name)).st_mode) == 0o600 for name in kept)
    assert sorted(os.listdir(str(tmp_path))) == [".htpasswd.lock", "auth-backup", "htpasswd"]
