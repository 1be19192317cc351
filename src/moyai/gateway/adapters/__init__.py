"""Protocol adapters of the gateway besides REST/JSON (:mod:`moyai.gateway.rest`).

- :mod:`.soap` — SOAP 1.2 over HTTP with WS-Security (XML signature over Body and Timestamp),
  for peers built in the 地域情報プラットフォーム style of XML web services;
- :mod:`.layouts`, :mod:`.fixed`, :mod:`.csvbatch` — fixed-length Shift_JIS (cp932) record files
  and CSV batch files for legacy systems, record layouts as data (``gateway/data/record_layouts.yaml``);
- :mod:`.convert` — answering a request received in one protocol through a peer that speaks another.

Every adapter converts to and from the one canonical message (:mod:`moyai.gateway.domain.message`).
"""
