"""The lifecycle tests' world (keys, policy, clock, the local store or registry:2) for the tracking tests."""

from tests.lifecycle.conftest import POLICY, World, key_set, local_world, registry_world, world  # noqa: F401

TRACKING_POLICY = POLICY + """\
    documents: [validation-report]
environments:
  prod-eu: {stage: production}
  staging-eu: {stage: staging, deployers: [{key: keys/carol.pub}]}
"""
