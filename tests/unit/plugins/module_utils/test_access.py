"""Access rules: globs to the expressions nginx tests, and every way an inventory can get them wrong."""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.privreg.registry.plugins.module_utils._access import (
    ACTIONS,
    NAME_COMPONENT,
    PLAIN_PULL_REQUEST,
    AccessError,
    access_document,
    access_matchers,
    access_rules,
    glob_pattern,
)

PASSWORD = 'S3cret-pw'
USERS = [
    {'name': 'alice', 'password': PASSWORD, 'state': 'present'},
    {'name': 'bob', 'password': PASSWORD},
    {'name': 'carol', 'state': 'absent'},
    {'name': 'dave', 'password': PASSWORD, 'state': None},
]
PULL = {'repositories': ['**'], 'users': ['*'], 'actions': ['pull']}


def matches(glob, name, user='alice'):
    """Whether ``user`` may pull ``name`` by a rule of ``glob`` alone, decided as nginx decides:
    the pull expression access_matchers() writes, on "<user>\\n<repository>"."""
    document = access_document([{'repositories': [glob], 'users': ['*'], 'actions': ['pull']}], [{'name': user}], [])
    return re.search(access_matchers(document)['pull'], user + '\n' + name) is not None


def rule(**changes):
    return dict(PULL, **changes)


@pytest.mark.parametrize(
    'glob, pieces',
    [
        ('base/*', ['base/[^/]+']),
        ('library/**', ['library/[^/]+(?:/[^/]+)*']),
        ('**', ['[^/]+(?:/[^/]+)*']),
        ('*', ['[^/]+']),
        ('*/cache', ['[^/]+/cache']),
        ('a/**/b', ['a/[^/]+(?:/[^/]+)*/b']),
        ('**/**', ['[^/]+(?:/[^/]+)*/[^/]+(?:/[^/]+)*']),
        ('team-*', ['team-[^/]*']),
        ('team-*/x', ['team-[^/]*/x']),
        ('*-cache/**', ['[^/]*-cache/[^/]+(?:/[^/]+)*']),
        ('a*b*', ['a[^/]*b[^/]*']),
        ('my.app_v2-x/lib', [r'my\.app_v2-x/lib']),
        ('{user}', [None]),
        ('{user}/**', [None, '/[^/]+(?:/[^/]+)*']),
        ('ci/{user}-cache', ['ci/', None, '-cache']),
        ('{user}.{user}', [None, r'\.', None]),
        ('*-{user}/*', ['[^/]*-', None, '/[^/]+']),
        ('{user}*', [None, '[^/]*']),
    ],
)
def test_glob_pattern(glob, pieces):
    assert glob_pattern(glob) == pieces


# Every fragment is a run of these, which JavaScript's RegExp and PCRE read alike.
_SIMPLE_FRAGMENT = re.compile(r'(?:[a-z0-9_-]|\\\.|/|\[\^/\]\*|\[\^/\]\+|\(\?:/\[\^/\]\+\)\*)+')


@pytest.mark.parametrize(
    'glob', ['base/*', 'library/**', '**', 'team-*/x', 'my.app_v2-x/lib', 'ci/{user}-cache', '*-{user}/**', 'a/**/b']
)
def test_fragments_use_the_simple_syntax_only(glob):
    strings = [piece for piece in glob_pattern(glob) if piece is not None]
    assert strings
    for piece in strings:
        assert _SIMPLE_FRAGMENT.fullmatch(piece), piece


@pytest.mark.parametrize(
    'glob, name, user, expected',
    [
        ('base/*', 'base/x', 'alice', True),
        ('base/*', 'base/x/y', 'alice', False),
        ('base/*', 'base', 'alice', False),
        ('base/*', 'base/', 'alice', False),
        ('base/*', 'database/x', 'alice', False),
        ('base/*', 'xbase/x', 'alice', False),
        ('library/**', 'library/a', 'alice', True),
        ('library/**', 'library/a/b', 'alice', True),
        ('library/**', 'library/a/b/c', 'alice', True),
        ('library/**', 'library', 'alice', False),
        ('library/**', 'library/', 'alice', False),
        ('library/**', 'library//a', 'alice', False),
        ('library/**', 'libraryx/a', 'alice', False),
        ('library/**', 'x/library/a', 'alice', False),
        ('**', 'x', 'alice', True),
        ('**', 'a/b/c/d', 'alice', True),
        ('*', 'x', 'alice', True),
        ('*', 'a/b', 'alice', False),
        ('a/**/b', 'a/x/b', 'alice', True),
        ('a/**/b', 'a/x/y/b', 'alice', True),
        ('a/**/b', 'a/b', 'alice', False),
        ('a/**/b', 'a/x/b/c', 'alice', False),
        ('{user}/**', 'alice/app', 'alice', True),
        ('{user}/**', 'alice/app/v2', 'alice', True),
        ('{user}/**', 'bob/app', 'alice', False),
        ('{user}/**', 'alice', 'alice', False),
        ('{user}/**', 'alicex/app', 'alice', False),
        ('{user}/**', 'xalice/app', 'alice', False),
        ('{user}/**', 'bob/app', 'bob', True),
        ('{user}', 'alice', 'alice', True),
        ('{user}', 'alice/app', 'alice', False),
        # the user's name is literal: a '.' in it is no wildcard
        ('{user}/**', 'a.b/app', 'a.b', True),
        ('{user}/**', 'axb/app', 'a.b', False),
        ('ci/{user}-cache', 'ci/alice-cache', 'alice', True),
        ('ci/{user}-cache', 'ci/bob-cache', 'alice', False),
        ('team-*', 'team-a', 'alice', True),
        ('team-*', 'team-', 'alice', True),
        ('team-*/x', 'team-a/x', 'alice', True),
        ('team-*/x', 'team-a/b/x', 'alice', False),
        ('team-*', 'team-a/x', 'alice', False),
        ('team-*', 'teams-a', 'alice', False),
        ('team-*', 'xteam-a', 'alice', False),
        ('*-cache/**', 'ci-cache/go', 'alice', True),
        ('*-cache/**', 'ci/x-cache/go', 'alice', False),
        # '.' is literal, not "any character"
        ('my.app', 'my.app', 'alice', True),
        ('my.app', 'myxapp', 'alice', False),
        ('my_app-2', 'my_app-2', 'alice', True),
    ],
)
def test_patterns_match_as_nginx_decides(glob, name, user, expected):
    assert matches(glob, name, user) is expected


def test_issue_example():
    rules = [
        {'repositories': ['base/*', 'library/**'], 'users': ['*'], 'actions': ['pull']},
        {'repositories': ['{user}/**'], 'users': ['*'], 'actions': ['pull', 'push']},
        {'repositories': ['**'], 'users': ['alice'], 'actions': ['pull', 'push', 'delete', 'catalog']},
    ]
    assert access_document(rules, USERS, ['base/*']) == {
        'version': 1,
        'rules': [
            {
                'repositories': [['base/[^/]+'], ['library/[^/]+(?:/[^/]+)*']],
                'users': ['*'],
                'actions': ['pull'],
            },
            {'repositories': [[None, '/[^/]+(?:/[^/]+)*']], 'users': ['*'], 'actions': ['pull', 'push']},
            {
                'repositories': [['[^/]+(?:/[^/]+)*']],
                'users': ['alice'],
                'actions': ['pull', 'push', 'delete', 'catalog'],
            },
        ],
        'anonymous': [['base/[^/]+']],
    }


def test_document_is_json_with_null_for_the_user():
    document = access_document([rule(repositories=['{user}/**'])], USERS, [])
    text = json.dumps(document)
    assert '[null, "/[^/]+(?:/[^/]+)*"]' in text
    assert json.loads(text) == document


@pytest.mark.parametrize('rules', [None, []])
@pytest.mark.parametrize('anonymous', [None, []])
def test_none_is_empty(rules, anonymous):
    assert access_document(rules, USERS, anonymous) == {'version': 1, 'rules': [], 'anonymous': []}


def test_no_users_is_fine_for_any_user_rules():
    assert access_document([PULL], None, None)['rules'] == [
        {'repositories': [['[^/]+(?:/[^/]+)*']], 'users': ['*'], 'actions': ['pull']}
    ]
    assert access_document([PULL], [], None)['rules'][0]['users'] == ['*']


def test_repeats_are_dropped_in_first_order():
    document = access_document(
        [
            {
                'repositories': ['b/*', 'a/*', 'b/*'],
                'users': ['bob', 'alice', 'bob'],
                'actions': ['push', 'pull', 'push'],
            }
        ],
        USERS,
        ['x/*', 'y/*', 'x/*'],
    )
    assert document['rules'] == [
        {'repositories': [['b/[^/]+'], ['a/[^/]+']], 'users': ['bob', 'alice'], 'actions': ['push', 'pull']}
    ]
    assert document['anonymous'] == [['x/[^/]+'], ['y/[^/]+']]


@pytest.mark.parametrize('users', [['*', 'alice'], ['alice', '*'], ['*', '*']])
def test_any_user_wins_over_names(users):
    assert access_document([rule(users=users)], USERS, [])['rules'][0]['users'] == ['*']


@pytest.mark.parametrize('name', ['alice', 'bob', 'dave'])
def test_present_users_by_default_or_by_state(name):
    assert access_document([rule(users=[name])], USERS, [])['rules'][0]['users'] == [name]


def test_no_password_in_the_document():
    users = [{'name': 'alice', 'password': PASSWORD, 'extra': PASSWORD}]
    document = access_document([rule(users=['alice'])], users, ['base/*'])
    assert PASSWORD not in json.dumps(document)


def test_input_is_not_changed():
    rules = [{'repositories': ['b/*', 'b/*'], 'users': ['*', 'alice'], 'actions': ['pull', 'pull']}]
    before = json.dumps(rules)
    access_document(rules, USERS, [])
    assert json.dumps(rules) == before


def test_actions():
    assert ACTIONS == ('pull', 'push', 'delete', 'catalog')


# The checks are access_document's; access_rules, which the role calls, fails with the same messages.
BOTH = pytest.mark.parametrize('check', [access_document, access_rules], ids=['access_document', 'access_rules'])


R0 = 'registry_access[0] (repositories ["**"], users [*])'
GLOB_CHARACTERS = 'a glob holds a-z, 0-9, ".", "_", "-", "/", "*" and {user}'
KEYS = 'a rule has the keys repositories, users and actions'


@pytest.mark.parametrize(
    'rules, message',
    [
        ('**', 'registry_access must be a list of rules, got "**"'),
        ({'repositories': ['**']}, 'registry_access must be a list of rules, got {"repositories": ["**"]}'),
        (
            ['**'],
            'registry_access[0] must be a dict with the keys repositories, users and actions, got "**"',
        ),
        (
            [PULL, None],
            'registry_access[1] must be a dict with the keys repositories, users and actions, got null',
        ),
        ([rule(user=['bob'])], R0 + ': unknown key "user"; ' + KEYS),
        ([rule(**{'repositories ': ['x']})], R0 + ': unknown key "repositories "; ' + KEYS),
        (
            [{'users': ['*'], 'actions': ['pull']}],
            'registry_access[0] (users [*]): missing key "repositories"; ' + KEYS,
        ),
        (
            [{'repositories': ['**'], 'actions': ['pull']}],
            'registry_access[0] (repositories ["**"]): missing key "users"; ' + KEYS,
        ),
        ([{'repositories': ['**'], 'users': ['*']}], R0 + ': missing key "actions"; ' + KEYS),
        ([{}], 'registry_access[0] (no repositories, no users): missing key "repositories"; ' + KEYS),
        (
            [rule(repositories='library/**')],
            'registry_access[0] (repositories "library/**", users [*]): repositories must be a list, got "library/**"',
        ),
        (
            [rule(users='alice')],
            'registry_access[0] (repositories ["**"], users "alice"): users must be a list, got "alice"',
        ),
        ([rule(actions='pull')], R0 + ': actions must be a list, got "pull"'),
        ([rule(actions=None)], R0 + ': actions must be a list, got null'),
        ([rule(repositories=[])], 'registry_access[0] (repositories [], users [*]): repositories must not be empty'),
        ([rule(users=[])], 'registry_access[0] (repositories ["**"], users []): users must not be empty'),
        ([rule(actions=[])], R0 + ': actions must not be empty'),
        (
            [rule(repositories=['**', ''])],
            'registry_access[0] (repositories ["**", ""], users [*]): repositories[1] must be a non-empty string,'
            ' got ""',
        ),
        (
            [rule(users=['alice', 7])],
            'registry_access[0] (repositories ["**"], users [alice, 7]): users[1] must be a non-empty string, got 7',
        ),
        ([rule(actions=[True])], R0 + ': actions[0] must be a non-empty string, got true'),
        ([rule(actions=['pull', 'Push'])], R0 + ': unknown action "Push"; the actions are pull, push, delete, catalog'),
        ([rule(actions=['read'])], R0 + ': unknown action "read"; the actions are pull, push, delete, catalog'),
        (
            [PULL, PULL, rule(users=['bob', 'eve'])],
            'registry_access[2] (repositories ["**"], users [bob, eve]): user "eve" is not in registry_users',
        ),
        (
            [rule(users=['*', 'eve'])],
            'registry_access[0] (repositories ["**"], users [*, eve]): user "eve" is not in registry_users',
        ),
        (
            [rule(users=['Alice'])],
            'registry_access[0] (repositories ["**"], users [Alice]): user "Alice" is not in registry_users',
        ),
        (
            [rule(users=['carol'])],
            'registry_access[0] (repositories ["**"], users [carol]): user "carol" has state absent in registry_users;'
            ' a rule may name present users only',
        ),
        (
            [rule(repositories=['Library/**'])],
            'registry_access[0] (repositories ["Library/**"], users [*]): repository "Library/**" has upper case'
            ' letters; registry repository names are lower case',
        ),
        (
            [rule(repositories=['{USER}/**'])],
            'registry_access[0] (repositories ["{USER}/**"], users [*]): repository "{USER}/**" has upper case'
            ' letters; registry repository names are lower case',
        ),
        (
            [rule(repositories=['{users}/**'])],
            'registry_access[0] (repositories ["{users}/**"], users [*]): repository "{users}/**" has "{" or "}"'
            ' outside the token {user}',
        ),
        (
            [rule(repositories=['{user}}/**'])],
            'registry_access[0] (repositories ["{user}}/**"], users [*]): repository "{user}}/**" has "{" or "}"'
            ' outside the token {user}',
        ),
        (
            [rule(repositories=['base/x y'])],
            'registry_access[0] (repositories ["base/x y"], users [*]): repository "base/x y" has " "; '
            + GLOB_CHARACTERS,
        ),
        (
            [rule(repositories=['base/?'])],
            'registry_access[0] (repositories ["base/?"], users [*]): repository "base/?" has "?"; ' + GLOB_CHARACTERS,
        ),
        (
            [rule(repositories=['r.example:5000/x'])],
            'registry_access[0] (repositories ["r.example:5000/x"], users [*]): repository "r.example:5000/x"'
            ' has ":"; ' + GLOB_CHARACTERS,
        ),
        (
            [rule(repositories=['base/\n'])],
            'registry_access[0] (repositories ["base/\\n"], users [*]): repository "base/\\n" has "\\n"; '
            + GLOB_CHARACTERS,
        ),
        (
            [rule(repositories=['/base'])],
            'registry_access[0] (repositories ["/base"], users [*]): repository "/base" has an empty path segment'
            ' (a leading, trailing or double "/")',
        ),
        (
            [rule(repositories=['base/'])],
            'registry_access[0] (repositories ["base/"], users [*]): repository "base/" has an empty path segment'
            ' (a leading, trailing or double "/")',
        ),
        (
            [rule(repositories=['base//x'])],
            'registry_access[0] (repositories ["base//x"], users [*]): repository "base//x" has an empty path segment'
            ' (a leading, trailing or double "/")',
        ),
        (
            [rule(repositories=['/'])],
            'registry_access[0] (repositories ["/"], users [*]): repository "/" has an empty path segment'
            ' (a leading, trailing or double "/")',
        ),
        (
            [rule(repositories=['library/***'])],
            'registry_access[0] (repositories ["library/***"], users [*]): repository "library/***" has "***":'
            ' "**" must be a whole path segment, as in "library/**"',
        ),
        (
            [rule(repositories=['library/**x'])],
            'registry_access[0] (repositories ["library/**x"], users [*]): repository "library/**x" has "**x":'
            ' "**" must be a whole path segment, as in "library/**"',
        ),
        (
            [rule(repositories=['{user}**'])],
            'registry_access[0] (repositories ["{user}**"], users [*]): repository "{user}**" has "{user}**":'
            ' "**" must be a whole path segment, as in "library/**"',
        ),
        (
            [rule(repositories=['a*b*c*'])],
            'registry_access[0] (repositories ["a*b*c*"], users [*]): repository "a*b*c*" has 3 wildcards of varying'
            ' length ("**", or "*" beside other characters); at most 2 keep the matching nginx does for every'
            ' request fast',
        ),
        (
            [rule(repositories=['**/x-*/**'])],
            'registry_access[0] (repositories ["**/x-*/**"], users [*]): repository "**/x-*/**" has 3 wildcards of'
            ' varying length ("**", or "*" beside other characters); at most 2 keep the matching nginx does for'
            ' every request fast',
        ),
        (
            [rule(repositories=['{user}/**'], users=['*'])],
            'registry_access[0] (repositories ["{user}/**"], users [*]): user "team/eve" has a "/" in the name,'
            ' so {user} would give it part of the namespace "team"; rename the user or name the rule\'s users'
            ' without it',
        ),
        (
            [rule(repositories=['{user}/**'], users=['team/eve'])],
            'registry_access[0] (repositories ["{user}/**"], users [team/eve]): user "team/eve" has a "/" in the'
            ' name, so {user} would give it part of the namespace "team"; rename the user or name the rule\'s users'
            ' without it',
        ),
    ],
)
@BOTH
def test_bad_rules(check, rules, message):
    users = USERS + [{'name': 'team/eve', 'password': PASSWORD}]
    with pytest.raises(AccessError) as error:
        check(rules, users, [])
    assert str(error.value) == message
    assert PASSWORD not in str(error.value)


def test_a_slash_in_a_name_is_fine_without_user_token():
    users = [{'name': 'team/eve', 'password': PASSWORD}]
    document = access_document([rule(users=['team/eve'])], users, [])
    assert document['rules'][0]['users'] == ['team/eve']


def test_a_slash_in_a_name_is_fine_for_user_rules_naming_others():
    users = USERS + [{'name': 'team/eve', 'password': PASSWORD}]
    document = access_document([rule(repositories=['{user}/**'], users=['alice'])], users, [])
    assert document['rules'][0]['users'] == ['alice']


@pytest.mark.parametrize(
    'anonymous, message',
    [
        ('base/*', 'registry_anonymous_pull must be a list of repository globs, got "base/*"'),
        (True, 'registry_anonymous_pull must be a list of repository globs, got true'),
        (
            ['base/*', '{user}/**'],
            'registry_anonymous_pull[1]: repository "{user}/**": {user} has no meaning for anonymous pulls,'
            ' which have no user',
        ),
        (['base/*', ''], 'registry_anonymous_pull[1]: a repository glob must be a non-empty string, got ""'),
        ([None], 'registry_anonymous_pull[0]: a repository glob must be a non-empty string, got null'),
        (
            ['Base/*'],
            'registry_anonymous_pull[0]: repository "Base/*" has upper case letters; registry repository names are'
            ' lower case',
        ),
        (
            ['base/'],
            'registry_anonymous_pull[0]: repository "base/" has an empty path segment (a leading, trailing or double'
            ' "/")',
        ),
        (
            ['base/**x'],
            'registry_anonymous_pull[0]: repository "base/**x" has "**x": "**" must be a whole path segment, as in'
            ' "library/**"',
        ),
        (['base/{x}'], 'registry_anonymous_pull[0]: repository "base/{x}" has "{" or "}" outside the token {user}'),
        (['base/x@y'], 'registry_anonymous_pull[0]: repository "base/x@y" has "@"; ' + GLOB_CHARACTERS),
    ],
)
@BOTH
def test_bad_anonymous_pull(check, anonymous, message):
    with pytest.raises(AccessError) as error:
        check([PULL], USERS, anonymous)
    assert str(error.value) == message


@pytest.mark.parametrize(
    'users, message',
    [
        ({'name': 'alice'}, 'registry_users must be a list of users, got a dict'),
        ('alice', 'registry_users must be a list of users, got a str'),
        (['alice:' + PASSWORD], 'registry_users[0] must be a dict with a name, got a str'),
        ([{'name': 'alice'}, {'password': PASSWORD}], 'registry_users[1] needs a name (a non-empty string)'),
        ([{'name': '', 'password': PASSWORD}], 'registry_users[0] needs a name (a non-empty string)'),
        ([{'name': 7, 'password': PASSWORD}], 'registry_users[0] needs a name (a non-empty string)'),
    ],
)
@BOTH
def test_bad_users(check, users, message):
    with pytest.raises(AccessError) as error:
        check([PULL], users, [])
    assert str(error.value) == message
    assert PASSWORD not in str(error.value)


def test_errors_come_before_any_output():
    """A bad rule after good ones, or bad anonymous globs after good rules, still fails the whole call."""
    with pytest.raises(AccessError, match=r'^registry_access\[1\] '):
        access_document([PULL, rule(actions=['pul'])], USERS, ['base/*'])
    with pytest.raises(AccessError, match=r'^registry_anonymous_pull\[0\]: '):
        access_document([PULL], USERS, ['{user}'])


def test_unprintable_values_are_escaped_in_messages():
    with pytest.raises(AccessError) as error:
        access_document([rule(users=['*'], actions=['pull\x1b[31m'])], USERS, [])
    assert '\x1b' not in str(error.value)
    assert '"pull\\u001b[31m"' in str(error.value)


def test_values_json_cannot_show_are_shown_with_repr():
    with pytest.raises(AccessError) as error:
        access_document([rule(actions={'pull'})], USERS, [])
    assert str(error.value) == R0 + ": actions must be a list, got {'pull'}"


# ---- access_matchers: what nginx reads -----------------------------------------------------------

MATCHER_RULES = [
    {'repositories': ['base/*', 'library/**'], 'users': ['*'], 'actions': ['pull']},
    {'repositories': ['{user}/**', 'team-{user}/*'], 'users': ['*'], 'actions': ['pull', 'push']},
    {'repositories': ['**'], 'users': ['alice', 'd.o-t'], 'actions': ['pull', 'push', 'delete', 'catalog']},
]
MATCHER_USERS = [{'name': 'alice'}, {'name': 'bob'}, {'name': 'd.o-t'}, {'name': 'b1'}]


def _matchers():
    return access_matchers(access_document(MATCHER_RULES, MATCHER_USERS, ['base/*']))


@pytest.mark.parametrize(
    'action, user, name, allowed',
    [
        ('pull', 'bob', 'base/x', True),
        ('pull', 'bob', 'base/x/y', False),
        ('pull', 'bob', 'library/a/b', True),
        ('pull', 'bob', 'library', False),
        ('push', 'bob', 'base/x', False),
        ('push', 'bob', 'bob/app', True),
        ('push', 'bob', 'bob/a/b', True),
        ('push', 'bob', 'bob', False),
        ('push', 'bob', 'team-bob/app', True),
        ('push', 'bob', 'team-bob/a/b', False),
        ('push', 'bob', 'alice/app', False),
        # the back-reference is the whole name: b1 is not b, nor bob's prefix
        ('push', 'b', 'b1/app', False),
        ('push', 'b1', 'b1/app', True),
        ('push', 'b1', 'b10/app', False),
        ('delete', 'bob', 'bob/app', False),
        ('delete', 'alice', 'bob/app', True),
        # user names are escaped: the dot is a dot
        ('delete', 'd.o-t', 'x/y', True),
        ('delete', 'dxo-t', 'x/y', False),
    ],
)
def test_matchers_decide_as_the_rules_say(action, user, name, allowed):
    source = _matchers()[action]
    assert bool(re.search(source, user + '\n' + name)) is allowed


def test_matchers_catalog_anonymous_and_nothing():
    matchers = _matchers()
    assert matchers['version'] == 2
    assert re.search(matchers['catalog'], 'alice') and re.search(matchers['catalog'], 'd.o-t')
    assert not re.search(matchers['catalog'], 'bob')
    assert re.search(matchers['anonymous'], 'base/x') and not re.search(matchers['anonymous'], 'bob/x')
    empty = access_matchers(access_document([], MATCHER_USERS, []))
    for key in ('pull', 'push', 'delete', 'catalog', 'anonymous'):
        assert empty[key] == '^(?:(?!))$'
        assert not re.search(empty[key], 'alice\nbase/x')


# ---- access_rules: what the role writes (access.json) and nginx.conf reads -----------------------

# The keys nginx.conf, access.conf.j2 and registry_access.js read: a contract, not a detail.
RULES_KEYS = ['anonymous', 'catalog', 'delete', 'name_component', 'plain_pull_request', 'pull', 'push', 'version']


def test_access_rules_are_the_matchers_and_the_name_grammar():
    rules = access_rules(MATCHER_RULES, MATCHER_USERS, ['base/*'])
    assert sorted(rules) == RULES_KEYS
    assert {key: rules[key] for key in rules if key not in ('name_component', 'plain_pull_request')} == _matchers()
    assert rules['name_component'] == NAME_COMPONENT == '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
    assert rules['plain_pull_request'] == PLAIN_PULL_REQUEST
    json.dumps(rules)


@pytest.mark.parametrize('rules', [None, []])
@pytest.mark.parametrize('anonymous', [None, []])
def test_access_rules_without_rules_still_give_the_grammar(rules, anonymous):
    """The role computes them on every run: nginx.conf's blob shortcut reads the name grammar with no rules."""
    result = access_rules(rules, [], anonymous)
    assert sorted(result) == RULES_KEYS
    for key in ('pull', 'push', 'delete', 'catalog', 'anonymous'):
        assert result[key] == '^(?:(?!))$'
    assert result['name_component'] == NAME_COMPONENT
    assert result['plain_pull_request'] == PLAIN_PULL_REQUEST


@pytest.mark.parametrize(
    'component, valid',
    [
        ('a', True),
        ('library', True),
        ('a_b', True),
        ('a__b', True),
        ('c--d', True),
        ('v1.2', True),
        ('a___b', False),
        ('a..b', False),
        ('a._b', False),
        ('-a', False),
        ('a-', False),
        ('.a', False),
        ('A', False),
        ('a/b', False),
        ('', False),
    ],
)
def test_name_component_is_the_registry_grammar(component, valid):
    assert bool(re.fullmatch(NAME_COMPONENT, component)) is valid


NJS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'registry_nginx_proxy', 'files')


def test_the_njs_code_reads_the_name_grammar_and_the_basic_header_from_one_place_each():
    """registry_access.js reads name_component from access.json; only registry_basic.js parses Basic."""
    code = {}
    for name in ('registry_access.js', 'registry_auth.js', 'registry_basic.js'):
        with open(os.path.join(NJS, name)) as source:
            code[name] = source.read()
    assert NAME_COMPONENT not in code['registry_access.js']
    assert '[._]|__|-+' not in code['registry_access.js']
    assert 'rules.name_component' in code['registry_access.js']
    for name in ('registry_access.js', 'registry_auth.js'):
        assert "import basic from 'registry_basic.js';" in code[name]
        assert 'basic +' not in code[name]
        assert "Buffer.from(found[1], 'base64')" not in code[name]
    assert 'basic +' in code['registry_basic.js']
