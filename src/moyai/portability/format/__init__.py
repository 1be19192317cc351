"""The format layer of the 中間標準レイアウト (pure Python, no Django import).

- :mod:`.layout` — the layout files as data (``data/jyuki_layout.yaml``) and their validation;
- :mod:`.codecs` — one codec per item type: text of a CSV field ⇄ Python value;
- :mod:`.csvio` — strict CSV reading (encoding detection, RFC 4180) and deterministic writing;
- :mod:`.persons` / :mod:`.mapping` — PersonState, households and history rows ⇄ row values,
  and history rows ⇄ 異動 (MoveEvent);
- :mod:`.problems` — :class:`Problem`, the one report record every step produces.
"""
