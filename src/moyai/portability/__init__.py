"""中間標準レイアウト (standard migration layout): moving a 団体's 住民記録 in and out.

``moyai.portability.format`` is the pure format layer (no Django): the layouts as data, the item
codecs, strict CSV reading and deterministic writing, and the mapping between history rows and
異動 (:class:`~moyai.residents.domain.model.MoveEvent`).  The database import/export services
build on it.
"""
