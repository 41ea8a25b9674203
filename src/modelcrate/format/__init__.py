"""Pure format code: references, digests, descriptors, manifests, config and metadata. No I/O here."""
