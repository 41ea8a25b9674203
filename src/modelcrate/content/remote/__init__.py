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

from .client import RegistryClient, catalog
from .credentials import Credentials, DockerConfig
from .http import RetryPolicy, Timeout, TransportError
from .repository import RegistryTarget
from .settings import RemoteSettings
from .upload import UploadLost

__all__ = ["Credentials", "DockerConfig", "RegistryClient", "RegistryTarget", "RemoteSettings", "RetryPolicy",
           "Timeout", "TransportError", "UploadLost", "catalog"]
