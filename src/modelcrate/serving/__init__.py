"""Handing models to serving platforms by digest: KServe's storage initializer, modelcar images, pins."""
