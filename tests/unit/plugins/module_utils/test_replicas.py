"""module_utils/_replicas.py: which hosts are replicas, and what they must agree on."""

import pytest

from ansible_collections.privreg.registry.plugins.module_utils._replicas import (
    gc_collector,
    replica_problems,
    replica_sets,
    storage_identity,
)


def replica(**changes):
    settings = {
        "storage": "s3",
        "s3_endpoint": "https://minio.example:9000",
        "s3_bucket": "registry",
        "s3_root_directory": "/prod",
        "s3_region": "us-east-1",
        "s3_path_style": True,
        "s3_redirect": False,
        "s3_access_key": "AKIA1",
        "s3_secret_key_sha256": "aa",
        "redis_addresses": ["redis:6379"],
        "redis_db": 0,
        "redis_tls": False,
        "redis_password_sha256": "bb",
        "http_secret_sha256": "cc",
        "host": "registry.example",
        "port": 443,
    }
    settings.update(changes)
    return settings


def own_disk(**changes):
    return {**replica(storage="filesystem", redis_addresses=[]), **changes}


def test_hosts_that_agree_have_no_problem():
    assert replica_problems({"a": replica(), "b": replica(), "c": replica()}) == []


def test_the_same_bucket_at_the_same_root_is_one_replica_set():
    hosts = {
        "a": replica(),
        "b": replica(s3_root_directory="prod/"),  # the same prefix, written otherwise
        "c": replica(s3_root_directory="/staging"),
        "d": replica(s3_bucket="other"),
        "e": own_disk(),
    }
    assert replica_sets(hosts) == {("https://minio.example:9000", "registry", "prod"): ["a", "b"]}
    assert storage_identity(own_disk()) is None


def test_a_lone_host_on_s3_is_no_replica_and_may_keep_a_generated_secret():
    assert replica_problems({"a": replica(http_secret_sha256=""), "b": own_disk()}) == []


def test_replicas_must_set_the_http_secret_explicitly():
    problems = replica_problems({"a": replica(), "b": replica(http_secret_sha256="")})
    assert len(problems) == 1
    assert "a, b share bucket 'registry' at https://minio.example:9000, root directory 'prod'" in problems[0]
    assert "set registry_http_secret explicitly" in problems[0] and "unset on b" in problems[0]


@pytest.mark.parametrize(
    "key, variable, value",
    [
        ("http_secret_sha256", "registry_http_secret", "dd"),
        ("s3_region", "registry_s3_region", "eu-west-1"),
        ("s3_path_style", "registry_s3_path_style", False),
        ("s3_redirect", "registry_s3_redirect", True),
        ("s3_access_key", "registry_s3_access_key", "AKIA2"),
        ("s3_secret_key_sha256", "registry_s3_secret_key", "ee"),
        ("redis_addresses", "registry_redis_addresses", ["other:6379"]),
        ("redis_db", "registry_redis_db", 1),
        ("redis_tls", "registry_redis_tls", True),
        ("redis_password_sha256", "registry_redis_password", "ff"),
        ("host", "registry_host", "b.example"),
        ("port", "registry_port", 5443),
    ],
)
def test_replicas_that_differ_are_named_with_the_variable(key, variable, value):
    problems = replica_problems({"a": replica(), "b": replica(**{key: value}), "c": replica()})
    assert problems == [
        "a, b, c share bucket 'registry' at https://minio.example:9000, root directory 'prod' "
        "but differ in %s (a, c / b)" % variable
    ]


def test_no_secret_value_is_ever_in_a_message():
    problems = replica_problems(
        {"a": replica(s3_secret_key_sha256="1" * 64), "b": replica(s3_secret_key_sha256="2" * 64)}
    )
    assert problems and not any("1" * 8 in p or "2" * 8 in p for p in problems)


def test_an_own_disk_host_on_the_replicas_redis_cache_is_refused():
    hosts = {"a": replica(), "b": replica(), "lone": own_disk(redis_addresses=["redis:6379"])}
    problems = replica_problems(hosts)
    assert len(problems) == 1
    assert problems[0].startswith("lone keeps its images on its own disk")
    assert "replicas a, b" in problems[0]
    # another cache, or none, is fine
    assert replica_problems({**hosts, "lone": own_disk(redis_addresses=["cache2:6379"])}) == []
    assert replica_problems({**hosts, "lone": own_disk()}) == []


def test_each_host_gets_the_problems_that_involve_it():
    hosts = {
        "a": replica(),
        "b": replica(http_secret_sha256="dd"),
        "x": replica(s3_bucket="other"),
        "y": replica(s3_bucket="other", redis_db=3),
        "lone": own_disk(),
    }
    assert len(replica_problems(hosts)) == 2
    assert replica_problems(hosts, "a") == replica_problems(hosts, "b")
    assert "registry_http_secret" in replica_problems(hosts, "a")[0]
    assert "registry_redis_db" in replica_problems(hosts, "y")[0]
    assert replica_problems(hosts, "lone") == []


def test_gc_collector_is_the_first_replica_by_name_or_the_host_itself():
    hosts = {
        "b": replica(),
        "a": replica(),
        "c": replica(s3_bucket="other"),
        "d": replica(s3_bucket="other"),
        "own": own_disk(),
    }
    assert gc_collector(hosts, "b") == "a"
    assert gc_collector(hosts, "a") == "a"
    assert gc_collector(hosts, "d") == "c"
    assert gc_collector(hosts, "own") == "own"
    # a host the play knows nothing of yet: its own disk, as far as anyone can tell
    assert gc_collector(hosts, "new") == "new"
