"""pipedeck: a keyboard-driven control plane for Meta ad data pipelines."""

__version__ = "0.1.0"
