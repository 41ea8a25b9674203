"""modelcrate: machine-learning models as OCI artifacts."""

__version__ = "0.1.0"
