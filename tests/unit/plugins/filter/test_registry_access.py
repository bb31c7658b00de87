"""The filter is access_document, with AnsibleFilterError for bad input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.privreg.registry.plugins.filter.registry_access import FilterModule
from ansible_collections.privreg.registry.plugins.module_utils._access import access_document

FILTERS = FilterModule().filters()
USERS = [{'name': 'alice', 'password': 'S3cret-pw'}, {'name': 'bob', 'state': 'absent'}]


def test_filter_names():
    assert sorted(FILTERS) == ['registry_access_document', 'registry_access_matchers']


def test_registry_access_document_filter():
    rules = [
        {'repositories': ['{user}/**'], 'users': ['*'], 'actions': ['pull', 'push']},
        {'repositories': ['**'], 'users': ['alice'], 'actions': ['catalog']},
    ]
    document = FILTERS['registry_access_document'](rules, USERS, ['base/*'])
    assert document == {
        'version': 1,
        'rules': [
            {'repositories': [[None, '/[^/]+(?:/[^/]+)*']], 'users': ['*'], 'actions': ['pull', 'push']},
            {'repositories': [['[^/]+(?:/[^/]+)*']], 'users': ['alice'], 'actions': ['catalog']},
        ],
        'anonymous': [['base/[^/]+']],
    }
    assert document == access_document(rules, USERS, ['base/*'])


@pytest.mark.parametrize(
    'args, message',
    [
        (
            ([{'repositories': ['**'], 'users': ['bob'], 'actions': ['pull']}], USERS, []),
            'registry_access[0] (repositories ["**"], users [bob]): user "bob" has state absent in registry_users;'
            ' a rule may name present users only',
        ),
        (
            ([{'repositories': ['**'], 'users': ['*'], 'actions': ['read']}], USERS, None),
            'registry_access[0] (repositories ["**"], users [*]): unknown action "read"; the actions are pull, push,'
            ' delete, catalog',
        ),
        (
            (None, USERS, ['{user}/**']),
            'registry_anonymous_pull[0]: repository "{user}/**": {user} has no meaning for anonymous pulls,'
            ' which have no user',
        ),
        ((None, 'alice', []), 'registry_users must be a list of users, got a str'),
    ],
)
def test_bad_input_is_a_filter_error_with_the_same_message(args, message):
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS['registry_access_document'](*args)
    assert error.value.message == message
