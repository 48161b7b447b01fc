"""The ``cultureclip`` command line and the pieces that tie the packages together."""

__version__ = "0.1.0"

CULTWIN_REPO_ID = "cultureclip/cultwin"
"""The CulTwin dataset on the Hub: the default of the ``cultwin`` benchmark, of ``build-dataset
--repo-id`` and of the dataset card's loading examples."""
