"""The linkage gateway (情報連携): legal-basis authorisation, 符号, tamper-evident exchange log.

- :mod:`.domain` — pure code: organisations and legal basis, keys, 符号, canonical JSON, the log,
  the canonical message and its JWS
- :mod:`.models`, :mod:`.store` — the log, checkpoints, 符号 table and nonce cache in the database;
  ``verify_log_command``
- :mod:`.service`, :mod:`.rest`, :mod:`.registry` — the exchange service, the REST/JSON adapter and
  the read model over the 住民記録
- :mod:`.disclosure` — 情報提供等記録 for one resident
- :mod:`.server` — the gateway as its own ASGI service (psycopg async pool, group-commit log),
  mutual TLS with a test CA, routing between the two data centres (``moyai gateway serve``)

See ``docs/exchange.md`` for what is built.
"""
