"""`xase-witness`: a C2SP tlog-witness that cosigns a log's checkpoints only while they stay consistent.

    state.py     the last checkpoint cosigned per log, in SQLite, checked and advanced in one transaction
    protocol.py  add-checkpoint: the request, every status the protocol defines, the cosignature
    server.py    the HTTP server (the standard library's, threaded) and its caps
    cli.py       `xase-witness init` (a key, its vkey) and `xase-witness serve`

It needs nothing beyond the SDK's own dependencies (cryptography), so it runs on a machine of its own; a key in
AWS KMS (`--kms-key-id`) needs boto3, the `[kms]` extra.
"""
