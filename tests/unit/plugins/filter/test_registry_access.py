"""The filters are access_rules (and the deprecated access_document, access_matchers), with
AnsibleFilterError for bad input; their YAML docs show what the functions return."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.privreg.registry.plugins.filter.registry_access import FilterModule
from ansible_collections.privreg.registry.plugins.module_utils._access import (
    access_document,
    access_matchers,
    access_rules,
)

FILTERS = FilterModule().filters()
DOCS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'filter')
USERS = [{'name': 'alice', 'password': 'S3cret-pw'}, {'name': 'bob', 'state': 'absent'}]


def test_filter_names():
    assert sorted(FILTERS) == ['registry_access_document', 'registry_access_matchers', 'registry_access_rules']


def test_registry_access_rules_filter():
    rules = [{'repositories': ['{user}/**'], 'users': ['*'], 'actions': ['pull', 'push']}]
    result = FILTERS['registry_access_rules'](rules, USERS, ['base/*'])
    assert result == access_rules(rules, USERS, ['base/*'])
    # The deprecated pair gives the same expressions: one implementation behind all three.
    matchers = FILTERS['registry_access_matchers'](FILTERS['registry_access_document'](rules, USERS, ['base/*']))
    assert matchers == access_matchers(access_document(rules, USERS, ['base/*']))
    assert {key: result[key] for key in matchers} == matchers


def test_registry_access_rules_doc_sample_is_what_the_filter_returns():
    """The documented sample is the result for its example rule: the doc cannot drift from the grammar."""
    with open(os.path.join(DOCS, 'registry_access_rules.yml')) as doc:
        sample = yaml.safe_load(doc)['RETURN']['_value']['sample']
    rules = [{'repositories': ['{user}/**'], 'users': ['*'], 'actions': ['pull', 'push']}]
    assert sample == FILTERS['registry_access_rules'](rules, [], ['base/*'])


@pytest.mark.parametrize('name', ['registry_access_document', 'registry_access_matchers'])
def test_the_old_filters_are_documented_as_deprecated(name):
    with open(os.path.join(DOCS, name + '.yml')) as doc:
        deprecated = yaml.safe_load(doc)['DOCUMENTATION']['deprecated']
    assert deprecated['removed_in'] == '1.0.0'
    assert 'registry_access_rules' in deprecated['alternative']


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
@pytest.mark.parametrize('name', ['registry_access_rules', 'registry_access_document'])
def test_bad_input_is_a_filter_error_with_the_same_message(name, args, message):
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS[name](*args)
    assert error.value.message == message
