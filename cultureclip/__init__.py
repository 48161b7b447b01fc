"""The ``cultureclip`` command line and the pieces that tie the packages together."""

__version__ = "0.1.0"
