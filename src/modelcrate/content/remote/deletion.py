"""Deleting a manifest from a registry: ``DELETE /v2/<name>/manifests/<digest>``.

The distribution spec deletes by digest only, and every tag naming that manifest goes with it (there is
no "untag"). Registries may refuse: registry:2 answers 405 ``UNSUPPORTED`` unless it runs with
``REGISTRY_STORAGE_DELETE_ENABLED=true``. Blobs stay until the registry's own garbage collection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import NotFound, RegistryError
from ...format.descriptor import Descriptor

if TYPE_CHECKING:
    from .repository import RegistryTarget


def delete_manifest(target: RegistryTarget, desc: Descriptor) -> None:
    """Delete the manifest ``desc`` from ``target``'s repository; 202 (or 200) is success."""
    scopes = (f"repository:{target.repository}:delete",)
    with target.request("DELETE", target.url("manifests", desc.digest), scopes=scopes) as resp:
        if resp.status in (200, 202):
            resp.drain()
            return
        if resp.status == 404:
            raise NotFound(f"manifest {desc.digest} is not in {target.name}")
        if resp.status == 405:
            resp.drain()
            raise RegistryError(f"{target.client.registry} does not allow deleting manifests",
                                status=405, codes=("UNSUPPORTED",),
                                hint="the registry's operator must enable deletes (registry:2: "
                                     "REGISTRY_STORAGE_DELETE_ENABLED=true)")
        raise target.client.error(resp, f"delete {desc.digest} from {target.name}")
