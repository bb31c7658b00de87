"""Certificate checks on certificates generated here with cryptography."""

from __future__ import annotations

import datetime
import ipaddress
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.privreg.registry.plugins.module_utils._certificate import (
    CertificateError,
    check_certificate,
    check_certificate_files,
    dns_name_matches,
    validity,
)

UTC = datetime.UTC
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
JAN_2026 = datetime.datetime(2026, 1, 1, tzinfo=UTC)
JAN_2027 = datetime.datetime(2027, 1, 1, tzinfo=UTC)

EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def make_cert(names=('DNS:r.example',), key=EC_KEY, not_before=JAN_2026, not_after=JAN_2027, common_name='r.example'):
    """A self-signed certificate with the given SANs ('DNS:...' / 'IP:...'; None: no SAN extension)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if names is not None:
        general_names = []
        for name in names:
            kind, value = name.split(':', 1)
            general_names.append(x509.DNSName(value) if kind == 'DNS' else x509.IPAddress(ipaddress.ip_address(value)))
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    return builder.sign(key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, password=None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def check(cert, host, now=NOW, key=None, **kwargs):
    return check_certificate(pem(cert), host, now, key_pem=key, cert_path='/tls/r.crt', key_path='/tls/r.key', **kwargs)


@pytest.mark.parametrize(
    'pattern, name, matches',
    [
        ('r.example', 'r.example', True),
        ('R.Example', 'r.EXAMPLE', True),
        ('r.example.', 'r.example', True),
        ('*.example', 'r.example', True),
        ('*.registry.example.org', 'eu.registry.example.org', True),
        ('*.example', 'a.b.example', False),  # one label only
        ('*.example', 'example', False),  # not the apex
        ('*.r.example', 'r.example', False),
        ('r*.example', 'r1.example', False),  # partial wildcards: Go does not match them
        ('*.*.example', 'a.b.example', False),
        ('r.example', 'x.r.example', False),
        ('other.example', 'r.example', False),
    ],
)
def test_dns_name_matches(pattern, name, matches):
    assert dns_name_matches(pattern, name) is matches


@pytest.mark.parametrize(
    'names, host',
    [
        (['DNS:r.example'], 'r.example'),
        (['DNS:other.example', 'DNS:R.EXAMPLE'], 'r.example'),
        (['DNS:*.example'], 'r.example'),
        (['DNS:*.example'], 'R.Example'),
        (['IP:10.0.0.5'], '10.0.0.5'),
        (['DNS:r.example', 'IP:127.0.0.1'], '127.0.0.1'),
        (['IP:::1'], '[::1]'),
        (['IP:2001:db8::10'], '2001:DB8:0::10'),
    ],
)
def test_certificate_covers_host(names, host):
    facts, warnings = check(make_cert(names), host)
    assert facts['subject_alt_names'] == names
    assert warnings == []


@pytest.mark.parametrize(
    'names, host, valid_for, wanted',
    [
        (['DNS:other.example'], 'r.example', 'DNS:other.example', 'DNS:r.example'),
        (['DNS:*.example', 'DNS:example'], 'a.r.example', 'DNS:*.example, DNS:example', 'DNS:a.r.example'),
        (['DNS:r.example', 'IP:10.0.0.6'], '10.0.0.5', 'DNS:r.example, IP:10.0.0.6', 'IP:10.0.0.5'),
        (['DNS:10.0.0.5'], '10.0.0.5', 'DNS:10.0.0.5', 'IP:10.0.0.5'),  # an IP needs an IP SAN
        (['DNS:*.0.0.5'], '10.0.0.5', 'DNS:*.0.0.5', 'IP:10.0.0.5'),  # no wildcards for IPs
        (['IP:10.0.0.5'], 'r.example', 'IP:10.0.0.5', 'DNS:r.example'),
        (['IP:::1'], '::2', 'IP:::1', 'IP:::2'),
    ],
)
def test_certificate_not_covering_host_lists_its_names(names, host, valid_for, wanted):
    with pytest.raises(CertificateError) as error:
        check(make_cert(names), host)
    assert str(error.value) == (
        "certificate /tls/r.crt does not cover host '%s': it is valid for %s; reissue it with subjectAltName %s"
        % (host.lower(), valid_for, wanted)
    )


def test_common_name_only_certificate_is_refused():
    with pytest.raises(CertificateError) as error:
        check(make_cert(names=None), 'r.example')
    assert str(error.value) == (
        "certificate /tls/r.crt does not cover host 'r.example': it has no subjectAltName, and clients ignore"
        " the Common Name (CN=r.example); reissue it with subjectAltName DNS:r.example"
    )


@pytest.mark.parametrize(
    'now, message',
    [
        (
            datetime.datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
            'certificate /tls/r.crt is not valid before 2026-01-01 00:00:00 UTC (now 2025-12-31 23:59:59 UTC):'
            ' check the clock of the target or reissue it',
        ),
        (
            datetime.datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC),
            'certificate /tls/r.crt expired on 2027-01-01 00:00:00 UTC: renew it',
        ),
        (
            datetime.datetime(2030, 1, 1, tzinfo=UTC),
            'certificate /tls/r.crt expired on 2027-01-01 00:00:00 UTC: renew it',
        ),
    ],
)
def test_certificate_outside_its_validity_window(now, message):
    with pytest.raises(CertificateError) as error:
        check(make_cert(), 'r.example', now=now)
    assert str(error.value) == message


@pytest.mark.parametrize(
    'now, warning_days, warnings',
    [
        (datetime.datetime(2026, 12, 1, 23, 0, tzinfo=UTC), 30, []),
        (datetime.datetime(2026, 12, 2, 0, 0, tzinfo=UTC), 30, []),  # exactly 30 days left
        (
            datetime.datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC),
            30,
            ['certificate /tls/r.crt expires on 2027-01-01 00:00:00 UTC, in 29 days: renew it'],
        ),
        (
            datetime.datetime(2026, 12, 31, 12, 0, tzinfo=UTC),
            30,
            ['certificate /tls/r.crt expires on 2027-01-01 00:00:00 UTC, in 0 days: renew it'],
        ),
        (datetime.datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC), 7, []),
        (
            datetime.datetime(2026, 6, 1, tzinfo=UTC),
            365,
            ['certificate /tls/r.crt expires on 2027-01-01 00:00:00 UTC, in 214 days: renew it'],
        ),
    ],
)
def test_expiry_warning(now, warning_days, warnings):
    facts, found = check(make_cert(), 'r.example', now=now, expiry_warning_days=warning_days)
    assert found == warnings


def test_facts_describe_the_certificate():
    cert = make_cert(['DNS:r.example', 'DNS:*.r.example', 'IP:10.0.0.5'])
    facts, warnings = check(cert, 'r.example', key=key_pem(EC_KEY))
    assert facts == {
        'subject': 'CN=r.example',
        'issuer': 'CN=r.example',
        'subject_alt_names': ['DNS:r.example', 'DNS:*.r.example', 'IP:10.0.0.5'],
        'not_before': '2026-01-01 00:00:00 UTC',
        'not_after': '2027-01-01 00:00:00 UTC',
        'days_left': 213,
        'sha256_fingerprint': ':'.join('%02X' % byte for byte in cert.fingerprint(hashes.SHA256())),
    }
    assert warnings == []


def test_rsa_key_matches_its_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    facts, warnings = check(make_cert(key=key), 'r.example', key=key_pem(key))
    assert facts['subject_alt_names'] == ['DNS:r.example']


def test_chain_file_is_checked_by_its_leaf():
    leaf = make_cert(['DNS:r.example'])
    ca = make_cert(['DNS:ca.example'], key=OTHER_EC_KEY, common_name='Example CA')
    facts, warnings = check_certificate(
        key_pem(EC_KEY) + pem(leaf) + pem(ca), 'r.example', NOW, key_pem=key_pem(EC_KEY)
    )
    assert facts['subject_alt_names'] == ['DNS:r.example']


@pytest.mark.parametrize(
    'key, message',
    [
        (
            key_pem(OTHER_EC_KEY),
            'private_key /tls/r.key does not match certificate /tls/r.crt: their public keys'
            ' differ; give the key the certificate was issued for',
        ),
        (
            key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            'private_key /tls/r.key does not match certificate /tls/r.crt: their public keys differ; give the key the'
            ' certificate was issued for',
        ),
        (
            key_pem(EC_KEY, password=b'secret'),
            'private_key /tls/r.key is encrypted: the registry and nginx need a key without a passphrase',
        ),
        (b'not a key\n', 'private_key /tls/r.key holds no PEM private key that can be read'),
        (pem(make_cert()), 'private_key /tls/r.key holds no PEM private key that can be read'),
    ],
)
def test_wrong_or_unreadable_key(key, message):
    with pytest.raises(CertificateError) as error:
        check(make_cert(), 'r.example', key=key)
    assert str(error.value) == message


@pytest.mark.parametrize('cert_pem', [b'', b'garbage\n', key_pem(EC_KEY)])
def test_file_without_certificate(cert_pem):
    with pytest.raises(CertificateError) as error:
        check_certificate(cert_pem, 'r.example', NOW, cert_path='/tls/r.crt')
    assert str(error.value) == 'certificate /tls/r.crt holds no PEM certificate'


def test_check_certificate_files(tmp_path):
    cert_path, key_path = tmp_path / 'r.crt', tmp_path / 'r.key'
    cert_path.write_bytes(pem(make_cert(['DNS:*.example'])))
    key_path.write_bytes(key_pem(EC_KEY))
    facts, warnings = check_certificate_files(str(cert_path), 'r.example', NOW, str(key_path))
    assert facts['subject_alt_names'] == ['DNS:*.example']
    with pytest.raises(CertificateError) as error:
        check_certificate_files(str(cert_path), 'a.r.example', NOW, str(key_path))
    assert str(error.value) == (
        "certificate %s does not cover host 'a.r.example': it is valid for DNS:*.example; reissue it"
        " with subjectAltName DNS:a.r.example" % cert_path
    )


@pytest.mark.parametrize(
    'missing, message',
    [
        ('certificate', 'certificate {path} cannot be read: No such file or directory'),
        ('private_key', 'private_key {path} cannot be read: No such file or directory'),
    ],
)
def test_check_certificate_files_missing(tmp_path, missing, message):
    paths = {'certificate': tmp_path / 'r.crt', 'private_key': tmp_path / 'r.key'}
    paths['certificate'].write_bytes(pem(make_cert()))
    paths['private_key'].write_bytes(key_pem(EC_KEY))
    paths[missing] = tmp_path / 'absent.pem'
    with pytest.raises(CertificateError) as error:
        check_certificate_files(str(paths['certificate']), 'r.example', NOW, str(paths['private_key']))
    assert str(error.value) == message.format(path=paths[missing])


NAIVE_JAN_2026 = JAN_2026.replace(tzinfo=None)
NAIVE_JAN_2027 = JAN_2027.replace(tzinfo=None)


@pytest.mark.parametrize(
    'certificate',
    [
        make_cert(),
        # cryptography >= 42
        types.SimpleNamespace(not_valid_before_utc=JAN_2026, not_valid_after_utc=JAN_2027),
        # cryptography < 42 (Debian 12: 38): naive datetimes in UTC only
        types.SimpleNamespace(not_valid_before=NAIVE_JAN_2026, not_valid_after=NAIVE_JAN_2027),
    ],
    ids=['cryptography', 'since_42', 'before_42'],
)
def test_validity_is_aware_utc(certificate):
    not_before, not_after = validity(certificate)
    assert (not_before, not_after) == (JAN_2026, JAN_2027)
    assert not_before.tzinfo == not_after.tzinfo == UTC
