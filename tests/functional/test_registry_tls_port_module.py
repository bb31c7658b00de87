"""privreg.registry.registry_tls_port run by real ansible and ansible-playbook on localhost.

Certificates come from the openssl CLI (a different producer than the unit tests' cryptography).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

MODULE = 'privreg.registry.registry_tls_port'


def ansible_env():
    env = dict(
        os.environ,
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_HOST_KEY_CHECKING='False',
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    env.pop('ANSIBLE_CONFIG', None)
    return env


def run_module(args, cwd, check=False):
    """`ansible localhost -m MODULE -a JSON`; returns (rc, status, result, stderr) from the minimal callback."""
    command = ['ansible', 'localhost', '-i', 'localhost,', '-c', 'local', '-m', MODULE, '-a', json.dumps(args)]
    if check:
        command.append('--check')
    proc = subprocess.run(
        command, cwd=str(cwd), env=ansible_env(), capture_output=True, text=True, timeout=180, check=False
    )
    start = proc.stdout.find('localhost | ')
    status, separator, payload = proc.stdout[start:].partition(' => ')
    assert start >= 0 and separator, 'no result in output:\n%s\n%s' % (proc.stdout, proc.stderr)
    return proc.returncode, status, json.loads(payload), proc.stderr


def run_playbook(playbook, cwd, *options):
    path = cwd / 'playbook.yml'
    path.write_text(textwrap.dedent(playbook))
    command = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(path)] + list(options)
    return subprocess.run(
        command, cwd=str(cwd), env=ansible_env(), capture_output=True, text=True, timeout=300, check=False
    )


def openssl_certificate(directory, subject_alt_names, days=365, name='server'):
    """A self-signed EC certificate and unencrypted key made by the openssl CLI; returns their paths."""
    cert, key = directory / (name + '.crt'), directory / (name + '.key')
    subprocess.run(
        [
            'openssl',
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:prime256v1',
            '-nodes',
            '-subj',
            '/CN=privreg test',
            '-addext',
            'subjectAltName=' + subject_alt_names,
            '-days',
            str(days),
            '-keyout',
            str(key),
            '-out',
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def openssl_fingerprint(cert):
    out = subprocess.run(
        ['openssl', 'x509', '-in', cert, '-noout', '-fingerprint', '-sha256'],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().split('=', 1)[1]


@pytest.mark.parametrize('check', [True, False], ids=['check_mode', 'apply'])
def test_nginx_proxy_on_44301_with_certificate(tmp_path, check):
    cert, key = openssl_certificate(tmp_path, 'DNS:registry.example.test,DNS:*.example.test,IP:127.0.0.1')
    rc, status, result, stderr = run_module(
        dict(host='Registry.Example.Test', port=44301, certificate=cert, private_key=key), tmp_path, check=check
    )
    assert (rc, status) == (0, 'localhost | SUCCESS')
    certificate = result.pop('certificate')
    assert result == {
        'changed': False,
        'host': 'registry.example.test',
        'client_port': 44301,
        'topology': 'nginx_proxy',
        'endpoint': 'registry.example.test:44301',
        'registry_http_host': 'https://registry.example.test:44301',
        'registry_http_addr': ':5000',
        'published_ports': ['44301:443'],
        'nginx_listen': '443 ssl',
        'nginx_host_listen': '44301 ssl',
        'anonymous_pull_endpoint': None,
        'anonymous_pull_certs_d_dir': None,
        'nginx_anonymous_pull_listen': None,
        'nginx_upstream': 'http://registry:5000',
        'certs_d_dir': '/etc/docker/certs.d/registry.example.test:44301',
        'probe_url': 'https://registry.example.test:44301/v2/',
        'subject_alt_name': 'DNS:registry.example.test',
    }
    assert certificate['subject_alt_names'] == ['DNS:registry.example.test', 'DNS:*.example.test', 'IP:127.0.0.1']
    assert certificate['subject'] == 'CN=privreg test'
    assert certificate['sha256_fingerprint'] == openssl_fingerprint(cert)
    assert certificate['days_left'] in (364, 365)
    assert 'expires on' not in stderr


def test_native_on_ipv6_with_bind_address_and_ip_san(tmp_path):
    cert, key = openssl_certificate(tmp_path, 'IP:::1')
    rc, status, result, _stderr = run_module(
        dict(host='[::1]', port=5000, topology='native', bind_address='::1', certificate=cert, private_key=key),
        tmp_path,
    )
    assert (rc, status) == (0, 'localhost | SUCCESS')
    assert (result['endpoint'], result['published_ports'], result['registry_http_host'], result['certs_d_dir']) == (
        '[::1]:5000',
        ['[::1]:5000:5000'],
        'https://[::1]:5000',
        '/etc/docker/certs.d/[::1]:5000',
    )


def test_certificate_expiring_soon_is_a_warning(tmp_path):
    cert, key = openssl_certificate(tmp_path, 'DNS:r.example.test', days=10)
    rc, status, result, stderr = run_module(dict(host='r.example.test', certificate=cert, private_key=key), tmp_path)
    assert (rc, status) == (0, 'localhost | SUCCESS')
    assert result['certificate']['days_left'] == 9
    assert (
        '[WARNING]: certificate %s expires on %s, in 9 days: renew it' % (cert, result['certificate']['not_after'])
    ) in stderr


@pytest.mark.parametrize('check', [True, False], ids=['check_mode', 'apply'])
def test_certificate_for_another_name_fails_with_its_names(tmp_path, check):
    cert, key = openssl_certificate(tmp_path, 'DNS:other.example.test,IP:10.0.0.5')
    rc, status, result, _stderr = run_module(
        dict(host='r.example.test', port=44301, certificate=cert), tmp_path, check=check
    )
    assert (rc, status) == (2, 'localhost | FAILED!')
    assert result['msg'] == (
        "certificate %s does not cover host 'r.example.test': it is valid for DNS:other.example.test, IP:10.0.0.5;"
        " reissue it with subjectAltName DNS:r.example.test" % cert
    )


def test_key_of_another_certificate_fails(tmp_path):
    cert = openssl_certificate(tmp_path, 'DNS:r.example.test', name='one')[0]
    other_key = openssl_certificate(tmp_path, 'DNS:r.example.test', name='two')[1]
    rc, status, result, _stderr = run_module(
        dict(host='r.example.test', certificate=cert, private_key=other_key), tmp_path
    )
    assert (rc, result['msg']) == (
        2,
        'private_key %s does not match certificate %s: their public keys differ;'
        ' give the key the certificate was issued for' % (other_key, cert),
    )


@pytest.mark.parametrize(
    'args, message',
    [
        (
            dict(host='https://r.example.test:44301'),
            "host 'https://r.example.test:44301' must not contain a scheme (https://): give the bare DNS name or IP address",
        ),
        (
            dict(host='r.example.test:44301'),
            "host 'r.example.test:44301' must not contain a port: set port: 44301 instead",
        ),
        (dict(host='r.example.test', port=0), 'port must be an integer from 1 to 65535, got 0'),
        (
            dict(host='r.example.test', private_key='/nonexistent.key'),
            "missing parameter(s) required by 'private_key': certificate",
        ),
        (
            dict(host='r.example.test', certificate='/nonexistent.crt'),
            'certificate /nonexistent.crt cannot be read: No such file or directory',
        ),
    ],
)
def test_bad_input_fails_with_exact_message(tmp_path, args, message):
    rc, status, result, _stderr = run_module(args, tmp_path, check=True)
    assert (rc, status, result['msg']) == (2, 'localhost | FAILED!', message)


AGREEMENT_PLAYBOOK = '''
- name: Module and filters give the same addresses
  hosts: localhost
  gather_facts: false
  vars:
    host: "{host}"
    port: {port}
    topology: {topology}
    bind: "{bind}"
  tasks:
    - name: Registry addresses are computed by the module
      privreg.registry.registry_tls_port:
        host: "{{{{ host }}}}"
        port: "{{{{ port }}}}"
        topology: "{{{{ topology }}}}"
        bind_address: "{{{{ bind }}}}"
      register: tls

    - name: The filters equal the module's keys
      ansible.builtin.assert:
        that:
          - (host | privreg.registry.registry_endpoint(port)) == tls.endpoint
          - (host | privreg.registry.registry_url(port)) == tls.registry_http_host
          - (host | privreg.registry.docker_certs_dir(port)) == tls.certs_d_dir
          - tls is not changed
        quiet: true
'''


@pytest.mark.parametrize(
    'host, port, topology, bind',
    [
        ('r.example.test', 443, 'nginx_proxy', ''),
        ('r.example.test', 44301, 'native', '127.0.0.1'),
        ('2001:db8::10', 5000, 'nginx_proxy', '::1'),
    ],
)
@pytest.mark.parametrize('check', [True, False], ids=['check_mode', 'apply'])
def test_module_and_filters_agree_in_a_playbook(tmp_path, host, port, topology, bind, check):
    playbook = AGREEMENT_PLAYBOOK.format(host=host, port=port, topology=topology, bind=bind)
    proc = run_playbook(playbook, tmp_path, *(['--check'] if check else []))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'localhost                  : ok=2    changed=0    unreachable=0    failed=0' in proc.stdout


def test_filter_error_reaches_the_playbook(tmp_path):
    proc = run_playbook(
        '''
        - name: A bad host in a filter fails the task
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Endpoint is computed
              ansible.builtin.debug:
                msg: "{{ 'r.example.test:5000' | privreg.registry.registry_endpoint }}"
        ''',
        tmp_path,
    )
    assert proc.returncode == 2
    assert "host 'r.example.test:5000' must not contain a port: set port: 5000 instead" in proc.stdout + proc.stderr


TOPOLOGY_ROLE_PLAYBOOK = '''
- name: The topology filter names the role, as site.yml uses it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Each topology names its role; unset is nginx_proxy
      ansible.builtin.assert:
        that:
          - ('native' | privreg.registry.registry_topology_role) == 'privreg.registry.registry_native'
          - ('nginx_proxy' | privreg.registry.registry_topology_role) == 'privreg.registry.registry_nginx_proxy'
          - (registry_topology | default('') | privreg.registry.registry_topology_role)
            == 'privreg.registry.registry_nginx_proxy'
          - (registry_topology | default(None) | privreg.registry.registry_topology_role)
            == 'privreg.registry.registry_nginx_proxy'
        quiet: true

    - name: A topology from an inventory variable names its role
      ansible.builtin.debug:
        msg: "{{ topology | privreg.registry.registry_topology_role }}"
      vars:
        topology: "{{ topology_from_inventory }}"
'''


@pytest.mark.parametrize(
    'topology, rc, expected',
    [
        ('native', 0, '"msg": "privreg.registry.registry_native"'),
        ('proxy', 2, "topology must be one of native, nginx_proxy, got 'proxy'"),
    ],
)
def test_topology_role_filter_in_a_playbook(tmp_path, topology, rc, expected):
    proc = run_playbook(TOPOLOGY_ROLE_PLAYBOOK, tmp_path, '-e', 'topology_from_inventory=' + topology)
    assert proc.returncode == rc, proc.stdout + proc.stderr
    assert expected in proc.stdout + proc.stderr
