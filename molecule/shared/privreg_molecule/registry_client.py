"""What a registry's clients do, for the Molecule scenarios' tests.

Every scenario (native, nginx_proxy, custom_port) checks the registry the way
its users meet it: the real docker CLI for logging in, pushing and pulling,
and curl with status codes for what the CLI hides (see FIELD_NOTES: the docker
CLI falls back to plain HTTP for registries on 127.0.0.0/8, so a denied
anonymous pull shows odd errors; denials are checked with curl).

Commands run on the testinfra ``host`` (the scenario's target). Passwords never
appear in a command line (``ps``): they reach docker and curl on standard
input, through the shell's builtin ``printf``.

Import from a scenario's tests (pytest.ini puts molecule/shared on the path)::

    from privreg_molecule.registry_client import RegistryClient
"""

import json

# curl prints this line after the headers when asked for `-w`.
_STATUS_MARK = "privreg-status:"


def _curl_config_value(text):
    """Quote a value for a curl config file (`-K`): double quotes, backslash escapes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class RegistryClient:
    """One registry as a client machine sees it.

    endpoint:   what clients type (``localhost:25443``; no port for 443).
    ca_file:    CA certificate on the host, for curl (the docker CLI uses
                /etc/docker/certs.d/<endpoint>/ca.crt, which the roles install).
    docker_config: a folder for the docker CLI's config.json, so logins made
                by a test never touch the user's ~/.docker.
    """

    def __init__(self, host, endpoint, ca_file, docker_config):
        self.host = host
        self.endpoint = endpoint
        self.ca_file = ca_file
        self.docker_config = docker_config
        self.host.run_expect([0], "mkdir -p -m 0700 %s", docker_config)

    # ---- HTTP, with status codes -------------------------------------------

    def request(self, path="/v2/", user=None, password=None, method="GET"):
        """Send one HTTPS request; return ``(status, headers)``.

        ``headers`` has lower-case names. ``status`` is 0 when no HTTP answer
        came (connection refused, TLS failure).
        """
        config = ""
        if user is not None:
            config = "user = " + _curl_config_value(f"{user}:{password}") + "\n"
        url = f"https://{self.endpoint}{path}"
        result = self.host.run(
            "printf '%%s' %s | curl -sS -K - -o /dev/null -D - -X %s --cacert %s -w %s %s",
            config,
            method,
            self.ca_file,
            "\n" + _STATUS_MARK + "%{http_code}\n",
            url,
        )
        headers = {}
        status = 0
        for line in result.stdout.splitlines():
            if line.startswith(_STATUS_MARK):
                status = int(line[len(_STATUS_MARK) :])
            elif ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, headers

    def status(self, path="/v2/", user=None, password=None):
        """The HTTP status of ``GET <path>``, anonymous or as ``user``."""
        return self.request(path, user, password)[0]

    def manifest_status(self, repository, tag, user=None, password=None):
        """The status of fetching a manifest: what ``docker pull`` asks first."""
        return self.status(f"/v2/{repository}/manifests/{tag}", user, password)

    # ---- the docker CLI -----------------------------------------------------

    def docker(self, command, *args, stdin=None):
        """Run ``docker <command>`` with this client's config folder; returns the CommandResult.

        ``command`` is a testinfra format string (``%s`` for each of ``args``).
        ``stdin`` is fed through the shell's builtin printf (never in argv).
        """
        prefix = "DOCKER_CONFIG=%s docker "
        if stdin is not None:
            return self.host.run("printf '%%s' %s | " + prefix + command, stdin, self.docker_config, *args)
        return self.host.run(prefix + command, self.docker_config, *args)

    def login(self, user, password):
        """``docker login`` with the password on standard input."""
        return self.docker("login --username %s --password-stdin %s", user, self.endpoint, stdin=password)

    def logout(self):
        return self.docker("logout %s", self.endpoint)

    def logged_in_users(self):
        """Registries this client holds credentials for (keys of config.json ``auths``)."""
        text = self.host.run("cat %s/config.json", self.docker_config).stdout or "{}"
        return sorted(json.loads(text).get("auths", {}))

    def push(self, ref):
        return self.docker("push %s", ref)

    def pull(self, ref):
        return self.docker("pull %s", ref)

    def remove_image(self, ref):
        """Remove the local image (not the one in the registry)."""
        return self.docker("image rm %s", ref)

    def repo_digest(self, ref):
        """The ``repo@sha256:...`` digest docker recorded for ``ref`` after a push or pull."""
        out = self.docker("image inspect --format '{{json .RepoDigests}}' %s", ref)
        assert out.rc == 0, out.stderr
        return json.loads(out.stdout)

    def build_multilayer_image(self, repository, tag="1", layers=3, kib_per_layer=256):
        """Build ``<endpoint>/<repository>:<tag>`` with ``layers`` layers of random bytes.

        ``FROM scratch`` with one ``COPY`` per layer: no base image is needed
        (nothing can be pulled here), and random content makes every blob new
        to the registry. Returns ``(ref, layer_count)``, the count read back
        from the built image.
        """
        ref = f"{self.endpoint}/{repository}:{tag}"
        context = self.host.check_output("mktemp -d")
        try:
            lines = ["FROM scratch"]
            for index in range(layers):
                name = f"layer{index}.bin"
                self.host.run_expect(
                    [0], "head -c %s /dev/urandom > %s", str(kib_per_layer * 1024), f"{context}/{name}"
                )
                lines.append(f"COPY {name} /{name}")
            self.host.run_expect([0], "printf '%%s\\n' %s > %s", "\n".join(lines), f"{context}/Dockerfile")
            built = self.docker("build -q -t %s %s", ref, context)
            assert built.rc == 0, built.stderr
        finally:
            self.host.run("rm -rf %s", context)
        count = self.docker("image inspect --format '{{len .RootFS.Layers}}' %s", ref)
        return ref, int(count.stdout.strip())
