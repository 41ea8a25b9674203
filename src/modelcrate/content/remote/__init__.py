"""Remote registries as Targets: HTTP transport, authentication, credentials and the registry Target.

>>> from modelcrate.content.remote import RegistryTarget, RemoteSettings       # doctest: +SKIP
>>> repo = RegistryTarget.open("localhost:5000/team/bert", RemoteSettings.from_env())
>>> repo.tags()
['1.0', '1.1']
"""

from .credentials import Credentials, DockerConfig
from .http import RetryPolicy, Timeout, TransportError
from .registry import RegistryClient, RegistryTarget, RemoteSettings, UploadLost, catalog

__all__ = ["Credentials", "DockerConfig", "RegistryClient", "RegistryTarget", "RemoteSettings", "RetryPolicy",
           "Timeout", "TransportError", "UploadLost", "catalog"]
