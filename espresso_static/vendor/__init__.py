"""Third-party files the built sites ship, each an unmodified pinned release with its
licence (``<package>/LICENSE``), written and verified by ``scripts/fetch_vendor.py``.
Not our code: never edit them; the test suite checks them byte for byte."""
