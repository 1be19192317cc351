"""The linkage gateway (情報連携): legal-basis authorisation, 符号, tamper-evident exchange log.

Only the pure domain (:mod:`moyai.gateway.domain`) and its data files (``data/``) exist so far;
the ASGI service, mTLS, message signatures, protocol adapters and the two data centres are to
come (see ``docs/exchange.md``).
"""
