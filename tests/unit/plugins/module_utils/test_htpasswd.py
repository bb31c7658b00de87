"""Pure logic of registry_htpasswd: validation texts, parsing, planning, bcrypt."""

from __future__ import annotations

import datetime
import os
import threading

import bcrypt
import pytest

from ansible_collections.privreg.registry.plugins.module_utils import _htpasswd as h
from ansible_collections.privreg.registry.plugins.module_utils._htpasswd import HtpasswdError, User

COST = 4


def real_hashes(passwords):
    return [h.hash_password(password, COST) for password in passwords]


def real_checks(pairs):
    return [h.check_password(password, hashed) for password, hashed in pairs]


class Counting:
    """Real bcrypt, counting how often the plan asks for it."""

    def __init__(self):
        self.checked, self.hashed = [], []

    def check(self, pairs):
        self.checked += [password for password, _hashed in pairs]
        return real_checks(pairs)

    def hash(self, passwords):
        self.hashed += list(passwords)
        return real_hashes(passwords)


def run_plan(content, users, exclusive=False, update_password="always", counting=None, **options):  # noqa: S107
    counting = counting or Counting()
    return h.plan(content, users, exclusive, update_password, counting.check, counting.hash, **options)


def entry(name, password):
    return "%s:%s\n" % (name, h.hash_password(password, COST))


# --- validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "users, message",
    [
        ([User("", "pw", "present")], "user #1: name is empty"),
        ([User("ok", "pw", "present"), User("", "pw", "present")], "user #2: name is empty"),
        ([User("a:b", "pw", "present")], "user 'a:b': name contains ':', which separates name and hash"),
        ([User("a b", "pw", "present")], "user 'a b': name contains whitespace"),
        ([User("a\tb", "pw", "present")], "user 'a\\tb': name contains whitespace"),
        ([User("a\x07b", "pw", "present")], "user 'a\\x07b': name contains a control character"),
        ([User("#a", "pw", "present")], "user '#a': name starts with '#', which marks a comment line"),
        ([User("alice", None, "present")], "user 'alice': password is required for state present"),
        ([User("alice", "", "present")], "user 'alice': password is empty"),
        ([User("alice", "one\ntwo", "present")], "user 'alice': password contains a line break"),
        ([User("alice", "one\rtwo", "present")], "user 'alice': password contains a line break"),
        ([User("alice", "one\0two", "present")], "user 'alice': password contains a NUL character"),
        (
            [User("alice", "x" * 73, "present")],
            "user 'alice': password is 73 bytes in UTF-8; bcrypt uses only the first 72, so shorten it",
        ),
        (
            [User("alice", "\u00e9" * 37, "present")],
            "user 'alice': password is 74 bytes in UTF-8; bcrypt uses only the first 72, so shorten it",
        ),
        (
            [User("alice", "pw", "present"), User("bob", "pw", "present"), User("alice", "pw", "absent")],
            "user 'alice' is listed twice in users (#1 and #3)",
        ),
        ([User("alice", "pw", "gone")], "user 'alice': state must be present or absent, got 'gone'"),
    ],
)
def test_bad_users_are_refused_with_the_user_and_the_problem(users, message):
    with pytest.raises(HtpasswdError) as error:
        h.validate_users(users)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "users",
    [
        [User("alice", "x" * 72, "present")],
        [User("j\u00fcrgen", "\u00e9" * 36, "present")],
        [User("bob", None, "absent")],
        [User("ci-bot.1@example", "spaces 'quotes' $dollar \\back", "present")],
        [],
    ],
)
def test_good_users_pass(users):
    h.validate_users(users)


COST_TAIL = ": each step doubles the time of every login check (14 already takes over a second of CPU)"


@pytest.mark.parametrize(
    "cost, message",
    [
        (3, "cost must be between 4 and 14, got 3" + COST_TAIL),
        (15, "cost must be between 4 and 14, got 15" + COST_TAIL),
        (31, "cost must be between 4 and 14, got 31" + COST_TAIL),
        (-1, "cost must be between 4 and 14, got -1" + COST_TAIL),
    ],
)
def test_cost_out_of_range_is_refused(cost, message):
    with pytest.raises(HtpasswdError) as error:
        h.validate_cost(cost)
    assert str(error.value) == message


@pytest.mark.parametrize("cost", [4, 10, 14])
def test_cost_in_range_passes(cost):
    h.validate_cost(cost)


@pytest.mark.parametrize(
    "keep, message",
    [
        (0, "backup_keep must be at least 1, got 0; leave it unset to keep every backup"),
        (-3, "backup_keep must be at least 1, got -3; leave it unset to keep every backup"),
        (None, None),
        (1, None),
        (10, None),
    ],
)
def test_backup_keep_is_at_least_one_or_unset(keep, message):
    if message is None:
        h.validate_backup_keep(keep)
        return
    with pytest.raises(HtpasswdError) as error:
        h.validate_backup_keep(keep)
    assert str(error.value) == message


def test_path_problems_are_refused(tmp_path):
    cases = [
        (str(tmp_path), True, "path %s is a directory; give the path of the htpasswd file in it" % tmp_path),
        (str(tmp_path / "new"), False, "path %s/new does not exist and create is false" % tmp_path),
        (
            str(tmp_path / "no" / "file"),
            True,
            "folder %s/no of path %s/no/file does not exist; create it first" % (tmp_path, tmp_path),
        ),
    ]
    dangling = tmp_path / "dangling"
    os.symlink(str(tmp_path / "gone" / "htpasswd"), str(dangling))
    cases.append(
        (
            str(dangling),
            True,
            "path %s is a symlink to %s/gone/htpasswd, which does not exist; create the file there "
            "or point the link at the htpasswd file" % (dangling, tmp_path),
        )
    )
    for path, create, message in cases:
        with pytest.raises(HtpasswdError) as error:
            h.validate_path(path, create)
        assert str(error.value) == message
    h.validate_path(str(tmp_path / "new"), True)


def test_backup_dir_must_be_a_folder_if_it_exists(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(HtpasswdError) as error:
        h.validate_backup_dir(str(tmp_path / "file"))
    assert str(error.value) == "backup_dir %s/file exists and is not a directory" % tmp_path
    h.validate_backup_dir(str(tmp_path))
    h.validate_backup_dir(str(tmp_path / "not-yet"))
    h.validate_backup_dir(None)


# --- parsing ------------------------------------------------------------------

BCRYPT = "$2y$04$" + "a" * 53

MALFORMED = "; fix or remove it by hand: a registry that cannot parse the file keeps serving its previous users"


@pytest.mark.parametrize(
    "content, message",
    [
        ("alice:%s\nsecret-without-colon\n" % BCRYPT, "line 2 is not a 'name:hash' entry (no ':')" + MALFORMED),
        (":%s\n" % BCRYPT, "line 1 is not a 'name:hash' entry (name is empty)" + MALFORMED),
        ("# c\n\n al ice:x\n", "line 3 is not a 'name:hash' entry (name contains whitespace)" + MALFORMED),
        ("a\x01:x\n", "line 1 is not a 'name:hash' entry (name contains a control character)" + MALFORMED),
        (
            "alice:%s\nbob:x\nalice:%s\n" % (BCRYPT, BCRYPT),
            "line 3: user 'alice' is already on line 1; nginx uses the first entry and the registry the last, "
            "so remove one by hand",
        ),
    ],
)
def test_lines_the_consumers_read_differently_fail_with_their_number(content, message):
    with pytest.raises(HtpasswdError) as error:
        h.parse(content)
    assert str(error.value) == message
    assert "secret" not in str(error.value)


NOT_UTF8 = "; fix or remove it by hand (user names are matched as UTF-8)"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\xff\n", "line 1 is not UTF-8 text" + NOT_UTF8),
        (b"# latin-1 below\nalice:x\nj\xfcrgen:x\n", "line 3 is not UTF-8 text" + NOT_UTF8),
        (b"alice:secret\xe9\n", "line 1 is not UTF-8 text" + NOT_UTF8),
        (b"a:x\n\n\nb:\xc3\n", "line 4 is not UTF-8 text" + NOT_UTF8),
    ],
)
def test_bytes_that_are_not_utf8_fail_with_the_line_and_never_the_bytes(data, message):
    with pytest.raises(HtpasswdError) as error:
        h.decode(data)
    assert str(error.value) == message
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("data", [b"", b"j\xc3\xbcrgen:x\n", b"# \xe2\x9c\x93\n"])
def test_utf8_bytes_decode(data):
    assert h.decode(data) == data.decode("utf-8")


@pytest.mark.parametrize(
    "content, names",
    [
        ("", []),
        ("\n\n", []),
        ("  # indented comment\n\t# tab too\nalice:%s\n" % BCRYPT, [(3, "alice")]),
        ("   #no:space:after\nbob:%s\n" % BCRYPT, [(2, "bob")]),
        ("# managed by ansible\n\nalice:%s\n   \nbob:$apr1$x$y\n" % BCRYPT, [(3, "alice"), (5, "bob")]),
        ("alice:%s\r\nbob:%s" % (BCRYPT, BCRYPT), [(1, "alice"), (2, "bob")]),
        ("j\u00fcrgen:%s\n" % BCRYPT, [(1, "j\u00fcrgen")]),
    ],
)
def test_parse_finds_entries_and_skips_comments_and_blank_lines(content, names):
    entries = h.parse(content)
    assert [(e.lineno, e.name) for e in entries] == names
    assert all(not e.hash.endswith("\r") for e in entries)


@pytest.mark.parametrize(
    "hashed, usable, kind",
    [
        ("$2y$10$" + "A" * 53, True, None),
        ("$2a$04$" + "./" * 26 + "x", True, None),
        ("$2b$31$" + "z" * 53, True, None),
        ("$2y$15$" + "z" * 53, True, None),
        ("$2y$03$" + "A" * 53, False, "malformed bcrypt"),
        ("$2y$10$" + "A" * 52, False, "malformed bcrypt"),
        ("$2x$10$" + "A" * 53, False, "plaintext or unknown"),
        ("$apr1$salt$hash", False, "Apache MD5 ($apr1$)"),
        ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", False, "SHA-1 ({SHA})"),
        ("$1$salt$hash", False, "MD5 crypt ($1$)"),
        ("$5$salt$hash", False, "SHA-256 crypt ($5$)"),
        ("$6$salt$hash", False, "SHA-512 crypt ($6$)"),
        ("$y$j9T$salt$hash", False, "yescrypt ($y$)"),
        ("abJnggxhB/yWI", False, "DES crypt"),
        ("plain text", False, "plaintext or unknown"),
        ("", False, "plaintext or unknown"),
    ],
)
def test_only_bcrypt_entries_count_as_usable(hashed, usable, kind):
    assert h.is_bcrypt(hashed) is usable
    if kind:
        assert h.hash_kind(hashed) == kind


# --- bcrypt -------------------------------------------------------------------


def test_new_hashes_are_2y_bcrypt_at_the_asked_cost():
    hashed = h.hash_password("p\u00e4ss w\u00f6rd $1 \\ \"'", 5)
    assert hashed.startswith("$2y$05$")
    assert h.is_bcrypt(hashed)
    assert bcrypt.checkpw("p\u00e4ss w\u00f6rd $1 \\ \"'".encode(), b"$2b$" + hashed[4:].encode())


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_every_bcrypt_prefix_is_checked(prefix):
    stored = prefix + bcrypt.hashpw(b"right", bcrypt.gensalt(COST)).decode()[4:]
    assert h.check_password("right", stored) is True
    assert h.check_password("wrong", stored) is False


def test_a_garbled_bcrypt_entry_checks_false_instead_of_raising():
    assert h.check_password("x", "$2y$04$" + "!" * 53) is False


def test_parallel_keeps_order_and_runs_on_several_threads():
    if h.cores() < 2:
        pytest.skip("one core: nothing runs in parallel")
    barrier = threading.Barrier(2, timeout=10)

    def meet(value):
        barrier.wait()  # only returns when two calls run at the same time
        return value * 2

    assert h.parallel(meet, [(1,), (2,), (3,), (4,)]) == [2, 4, 6, 8]


# --- planning -----------------------------------------------------------------


def test_new_users_are_added_in_order_with_one_hash_each():
    counting = Counting()
    plan = run_plan("", [User("alice", "a-pass", "present"), User("bob", "b pass", "present")], counting=counting)
    assert (plan.added, plan.updated, plan.removed, plan.unusable) == (["alice", "bob"], [], [], [])
    assert [e.name for e in h.parse(plan.content)] == ["alice", "bob"]
    assert counting.hashed == ["a-pass", "b pass"] and counting.checked == []
    assert plan.diff == {"before": "", "after": "alice\nbob\n"}


def test_same_input_again_returns_the_same_text_and_hashes_nothing():
    users = [User("alice", "a-pass", "present"), User("bob", "b pass", "present")]
    first = run_plan("# keep me\n", users)
    counting = Counting()
    second = run_plan(first.content, users, counting=counting)
    assert second.content == first.content
    assert (second.added, second.updated, second.removed) == ([], [], [])
    assert counting.hashed == [] and sorted(counting.checked) == ["a-pass", "b pass"]


def test_unchanged_file_keeps_its_exact_bytes_even_without_final_newline():
    content = "# c\r\n" + entry("alice", "a-pass").replace("\n", "\r\n") + entry("bob", "b")[:-1]
    plan = run_plan(content, [User("alice", "a-pass", "present"), User("bob", "b", "present")])
    assert plan.content == content


def test_a_changed_password_is_rehashed_in_place():
    content = "# head\n" + entry("alice", "old") + entry("bob", "b")
    plan = run_plan(content, [User("alice", "new", "present")])
    assert (plan.added, plan.updated, plan.removed) == ([], ["alice"], [])
    before, after = content.splitlines(), plan.content.splitlines()
    assert after[0] == before[0] and after[2] == before[2]  # other lines untouched
    assert after[1].startswith("alice:$2y$04$") and after[1] != before[1]
    assert h.check_password("new", h.parse(plan.content)[0].hash)
    assert plan.diff == {"before": "alice\nbob\n", "after": "alice (password re-hashed)\nbob\n"}


def test_on_create_neither_checks_nor_changes_an_existing_password():
    counting = Counting()
    content = entry("alice", "old")
    plan = run_plan(content, [User("alice", "new", "present")], update_password="on_create", counting=counting)
    assert plan.content == content and plan.updated == []
    assert counting.checked == [] and counting.hashed == []


def test_absent_removes_only_that_user_and_keeps_comments():
    content = "# head\n" + entry("alice", "a") + "\n" + entry("bob", "b")
    plan = run_plan(content, [User("alice", None, "absent"), User("carol", None, "absent")])
    assert (plan.added, plan.updated, plan.removed) == ([], [], ["alice"])
    assert plan.content == "# head\n\n" + content.splitlines(True)[3]


def test_exclusive_removes_every_unlisted_user():
    content = entry("alice", "a") + entry("bob", "b") + entry("carol", "c")
    plan = run_plan(content, [User("bob", "b", "present"), User("dave", "d", "present")], exclusive=True)
    assert (plan.added, plan.updated, plan.removed) == (["dave"], [], ["alice", "carol"])
    assert [e.name for e in h.parse(plan.content)] == ["bob", "dave"]
    assert plan.diff == {"before": "alice\nbob\ncarol\n", "after": "bob\ndave\n"}


EMPTY_WARNING = "no account is left: the registry and nginx refuse every login (401) until a user is added"
REMOVE_ALL = (
    "exclusive is true and no present user is listed, so every account would be removed (%s) and nobody "
    "could log in; list the users to keep, or set allow_remove_all to remove them all; nothing was changed"
)


@pytest.mark.parametrize(
    "content, users, removed",
    [
        ("alice:%s\n" % BCRYPT, [], ["alice"]),
        ("alice:%s\nbob:%s\n" % (BCRYPT, BCRYPT), [User("alice", None, "absent")], ["alice", "bob"]),
        ("# only\nlegacy:{SHA}x\n", [User("zed", None, "absent")], ["legacy"]),
        (
            "".join("u%02d:%s\n" % (n, BCRYPT) for n in range(22)),
            [],
            ["u%02d" % n for n in range(22)],
        ),
    ],
)
def test_exclusive_that_would_remove_every_account_is_refused_before_any_bcrypt(content, users, removed):
    counting = Counting()
    with pytest.raises(HtpasswdError) as error:
        run_plan(content, users, exclusive=True, counting=counting)
    shown = ", ".join("'%s'" % name for name in removed[:20]) + (" and 2 more" if len(removed) > 20 else "")
    assert str(error.value) == REMOVE_ALL % shown
    assert error.value.details == {"reason": "remove_all", "users": removed}
    assert counting.checked == [] and counting.hashed == []


@pytest.mark.parametrize(
    "content, users, exclusive",
    [
        ("", [], True),  # nothing to remove: a new, empty file
        ("# c\n", [], True),
        (entry("alice", "a"), [User("bob", "b", "present")], True),  # bob replaces alice
        (entry("alice", "a"), [User("alice", None, "absent")], False),  # named: deliberate
    ],
    # ids of their own: a salted hash in the id differs per process, and pytest-xdist's workers must agree
    ids=["new-empty-file", "comments-only", "bob-replaces-alice", "alice-named-absent"],
)
def test_requests_that_leave_an_account_or_name_the_user_pass(content, users, exclusive):
    run_plan(content, users, exclusive=exclusive)


def test_exclusive_with_no_users_empties_the_file_when_allowed():
    plan = run_plan(entry("alice", "a"), [], exclusive=True, allow_remove_all=True)
    assert plan.removed == ["alice"] and plan.content == ""
    assert plan.warnings == [EMPTY_WARNING]


@pytest.mark.parametrize(
    "content, warnings",
    [
        ("", [EMPTY_WARNING]),
        ("# comments only\n", [EMPTY_WARNING]),
        ("alice:%s\n" % BCRYPT, []),
    ],
)
def test_a_file_without_account_is_a_warning(content, warnings):
    assert run_plan(content, []).warnings == warnings


NOT_BCRYPT = (
    "%s entries that are not bcrypt (%s): nginx may let them log in while the registry refuses them, and only "
    "bcrypt entries may authenticate; list each user with a password (it is re-hashed with bcrypt) or with "
    "state absent; nothing was changed"
)


@pytest.mark.parametrize(
    "content, users, message, names",
    [
        ("legacy:{PLAIN}pw\n", [], "user 'legacy' has", ["legacy"]),
        (
            "a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nb:$apr1$s$h\nc:$1$s$h\nd:$6$s$h\n" + entry("ok", "ok"),
            [User("ok", "ok", "present")],
            "users 'a', 'b', 'c', 'd' have",
            ["a", "b", "c", "d"],
        ),
        ("legacy:$apr1$s$h\nold:$6$s$h\n", [User("old", "new", "present")], "user 'legacy' has", ["legacy"]),
        (
            "legacy:$apr1$s$h\n",
            [User("legacy", "pw", "present")],
            None,
            [],
        ),  # listed with a password: re-hashed
        ("legacy:$apr1$s$h\n", [User("legacy", None, "absent")], None, []),
        ("legacy:$apr1$s$h\n", [User("new", "n", "present")], "user 'legacy' has", ["legacy"]),
    ],
)
def test_entries_that_would_stay_in_another_scheme_are_refused_before_any_bcrypt(content, users, message, names):
    counting = Counting()
    if message is None:
        run_plan(content, users, counting=counting)
        return
    with pytest.raises(HtpasswdError) as error:
        run_plan(content, users, counting=counting)
    kinds = ", ".join(sorted(set(h.hash_kind(e.hash) for e in h.parse(content) if e.name in names)))
    assert str(error.value) == NOT_BCRYPT % (message, kinds)
    assert error.value.details == {"reason": "unusable", "users": names}
    assert counting.checked == [] and counting.hashed == []


def test_exclusive_removes_entries_in_another_scheme_instead_of_refusing():
    plan = run_plan("legacy:$apr1$s$h\n" + entry("ok", "ok"), [User("ok", "ok", "present")], exclusive=True)
    assert (plan.removed, plan.unusable) == (["legacy"], [])


def test_a_listed_entry_over_the_cost_limit_is_rehashed_without_a_check():
    content = "slow:$2y$31$" + "z" * 53 + "\n"
    counting = Counting()
    plan = run_plan(content, [User("slow", "pw", "present")], counting=counting)
    assert plan.updated == ["slow"] and counting.checked == [] and counting.hashed == ["pw"]
    assert h.parse(plan.content)[0].hash.startswith("$2y$04$")


def test_an_unlisted_entry_over_the_cost_limit_is_a_warning():
    plan = run_plan("slow:$2y$15$" + "z" * 53 + "\n", [])
    assert plan.content == "slow:$2y$15$" + "z" * 53 + "\n"
    assert plan.warnings == [
        "user 'slow' has a bcrypt entry at cost 15, over 14: every login of this user takes seconds of CPU; "
        "list the user with a password to re-hash it"
    ]


def test_unusable_entries_are_reported_and_a_listed_one_is_rehashed_even_on_create():
    content = "legacy:$apr1$abc$def\nalice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n" + entry("bob", "b")
    plan = run_plan(content, [User("alice", "a", "present")], update_password="on_create", unusable_entries="warn")
    assert (plan.added, plan.updated, plan.removed, plan.unusable) == ([], ["alice"], [], ["legacy"])
    assert plan.warnings == [
        "user 'legacy' has an entry that is not bcrypt (Apache MD5 ($apr1$)): nginx may let it log in while "
        "the registry refuses it; list the user with a password to re-hash it to bcrypt, or remove it"
    ]
    assert h.check_password("a", h.parse(plan.content)[1].hash)
    assert plan.diff["before"] == "legacy (unusable: Apache MD5 ($apr1$))\nalice (unusable: SHA-1 ({SHA}))\nbob\n"
    assert plan.diff["after"] == "legacy (unusable: Apache MD5 ($apr1$))\nalice (password re-hashed)\nbob\n"


def test_unusable_entries_alone_change_nothing_with_warn():
    content = "legacy:plain\n"
    plan = run_plan(content, [], unusable_entries="warn")
    assert plan.content == content and plan.unusable == ["legacy"]


def test_a_malformed_file_is_refused_before_any_hash():
    counting = Counting()
    with pytest.raises(HtpasswdError):
        run_plan("alice\n", [User("bob", "b", "present")], counting=counting)
    assert counting.hashed == [] and counting.checked == []


def test_results_and_diff_never_contain_hashes_or_passwords():
    content = entry("alice", "old-pass") + entry("bob", "bob-pass")
    users = [User("alice", "new-pass", "present"), User("carol", "carol-pass", "present"), User("bob", None, "absent")]
    plan = run_plan(content, users)
    shown = repr((plan.added, plan.updated, plan.removed, plan.unusable, plan.warnings, plan.diff))
    secrets = ["old-pass", "new-pass", "bob-pass", "carol-pass", "$2y$"] + [e.hash for e in h.parse(content)]
    assert not [s for s in secrets if s in shown]


def test_users_from_params_reads_either_form():
    assert h.users_from_params({"name": "a", "password": "p", "state": None, "users": None}) == [
        User("a", "p", "present")
    ]
    assert h.users_from_params({"name": None, "users": [{"name": "b", "password": None, "state": "absent"}]}) == [
        User("b", None, "absent")
    ]


# --- backups ------------------------------------------------------------------


@pytest.mark.parametrize(
    "now, name",
    [
        (
            datetime.datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=datetime.UTC),
            "htpasswd.20261127T080000.123456Z",
        ),
        (
            datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "htpasswd.20260102T010405.000006Z",
        ),
    ],
)
def test_backup_names_are_utc_and_sort_by_age(now, name):
    assert h.backup_name("htpasswd", now) == name


OLD, MID, NEW = (
    "htpasswd.20260101T000000.000000Z",
    "htpasswd.20260102T000000.000000Z",
    "htpasswd.20260103T000000.000000Z",
)


@pytest.mark.parametrize(
    "names, keep, pruned",
    [
        ([NEW, OLD, MID], 2, [OLD]),
        ([NEW, OLD, MID], 1, [OLD, MID]),
        ([NEW, OLD, MID], 3, []),
        ([NEW, OLD, MID], None, []),
        # only this file's backups count: other files, other names, lock and temp files stay
        ([NEW, OLD, "other.20260101T000000.000000Z", ".htpasswd.lock", "htpasswd", "htpasswd.bak"], 1, [OLD]),
        (["htpasswd.x.20260101T000000.000000Z", "htpasswd.20260101T000000.000000Z~"], 1, []),
    ],
)
def test_backups_beyond_keep_are_pruned_oldest_first(names, keep, pruned):
    assert h.backups_to_prune(names, "htpasswd", keep) == pruned
