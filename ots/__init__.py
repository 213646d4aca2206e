"""ots: a self-hosted one-time-secret service.

A secret is stored encrypted behind a passphrase and can be read exactly once
by whoever holds its ``secret_key`` and the passphrase.
"""

__version__ = "0.1.0"
