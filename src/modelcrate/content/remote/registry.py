"""The registry Target's public names under their earlier module path; the code lives in the modules
named for each concern (settings, client, repository, upload, download, referrers_api, listing)."""

from .client import RegistryClient, TransferStats, catalog
from .repository import RegistryTarget
from .settings import RemoteSettings
from .upload import UploadLost

__all__ = ["RegistryClient", "RegistryTarget", "RemoteSettings", "TransferStats", "UploadLost", "catalog"]
