"""宛名連携 (住民記録システム標準仕様書 7.2.3): 宛名 data to the 団体's other business systems.

The full set and the differences since a cursor, pulled over the API or pushed as batch files
(JSON, CSV, fixed-length Shift_JIS via the gateway's adapters), resumable without loss or
duplicates. See ``docs/exchange.md`` (宛名連携).
"""
