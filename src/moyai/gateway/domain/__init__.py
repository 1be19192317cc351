"""Pure domain of the linkage gateway: no Django, ninja or psycopg here.

- :mod:`.organisations` — organisation kinds, organisations and information items (data files)
- :mod:`.legal_basis` — the legal-basis table (modelled on 番号法 別表第二) and :func:`authorise`
- :mod:`.keystore` — keys outside the database, with ids and rotation
- :mod:`.codes` — 符号: per-organisation pseudonymous codes derived with a keyed function
- :mod:`.canonical` — the canonical JSON encoding that is hashed and signed
- :mod:`.signing` — checkpoint and message signatures (Ed25519 through PyNaCl; HMAC-SHA256 without it)
- :mod:`.merkle` — RFC 6962 Merkle tree hashes and inclusion proofs
- :mod:`.log` — the hash-chained exchange log with signed checkpoints and its verifier
- :mod:`.message` — the canonical request and response of an exchange
- :mod:`.jws` — compact JWS with EdDSA (Ed25519) for the REST/JSON adapter
"""
