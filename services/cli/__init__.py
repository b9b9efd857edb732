"""The ``invarium`` command line (reads INVARIUM_BASE_URL and INVARIUM_API_KEY)."""
