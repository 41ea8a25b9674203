"""Remote registries as Targets: HTTP transport, authentication, credentials and the registry Target.

One module per concern: :mod:`.settings` (how to reach registries), :mod:`.client` (one registry:
connections, auth, requests, error mapping), :mod:`.repository` (the Target), :mod:`.upload` and
:mod:`.download` (blob transfer), :mod:`.referrers_api` (the OCI 1.1 referrers API), :mod:`.listing`
(catalog and tags), over :mod:`.http`, :mod:`.auth` and :mod:`.credentials`.

>>> from modelcrate.content.remote import RegistryTarget, RemoteSettings       # doctest: +SKIP
>>> repo = RegistryTarget.open("localhost:5000/team/bert", RemoteSettings.from_env())
>>> repo.tags()
['1.0', '1.1']
"""

from ..._internal.lazy import exports

# Loaded on first use: the settings alone (what every command with registry options builds) must not
# load the HTTP client.
_EXPORTS = {"Credentials": "credentials", "DockerConfig": "credentials", "RegistryClient": "client",
            "RegistryTarget": "repository", "RemoteSettings": "settings", "RetryPolicy": "settings",
            "Timeout": "settings", "TransportError": "http", "UploadLost": "upload", "catalog": "client"}

__all__ = sorted(_EXPORTS)

__getattr__ = exports(__name__, _EXPORTS)
