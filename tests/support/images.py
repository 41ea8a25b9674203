"""Small container images built in tests (no image is ever fetched from the internet)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from typing import Any

from modelcrate.format import canonical
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import OCI_MANIFEST
from modelcrate.serving.modelcar import OCI_CONFIG, host_platform


def base_image(target: Any, files: dict[str, bytes], *, symlinks: dict[str, str] | None = None,
               tag: str = "1", made_by: str = "test image") -> Descriptor:
    """Push a one-layer OCI image (gzip layer) holding ``files`` (mode 0755) and ``symlinks``; tag it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted({p.rsplit("/", 1)[0] for p in [*files, *(symlinks or {})] if "/" in p}):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.mode, info.size = 0o755, len(data)
            tar.addfile(info, io.BytesIO(data))
        for path, link in (symlinks or {}).items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    raw = buf.getvalue()
    layer = gzip.compress(raw, mtime=0)
    os_, arch = host_platform()
    config = canonical.dumps({"architecture": arch, "os": os_, "config": {"Cmd": ["/bin/sh"]},
                              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
                              "history": [{"created_by": made_by}]})
    layer_desc = Descriptor.of("application/vnd.oci.image.layer.v1.tar+gzip", layer)
    config_desc = Descriptor.of(OCI_CONFIG, config)
    target.push(layer_desc, io.BytesIO(layer))
    target.push(config_desc, io.BytesIO(config))
    manifest = build_manifest(config_desc, [layer_desc])
    desc = Descriptor.of(OCI_MANIFEST, manifest)
    target.push(desc, io.BytesIO(manifest))
    target.tag(desc, tag)
    return desc
