"""What WeasyPrint needs from us to draw a certificate fast and with the right fonts (no Django).

1. **The fallback face as a file of its own.** Noto Serif CJK JP ships only inside a collection
   (``NotoSerifCJK-Regular.ttc``, with the SC, TC and KR faces). WeasyPrint's ``local()`` finds a
   face by full or PostScript name and then loads the *whole collection* under the family, so
   ``local("Noto Serif CJK JP")`` failed ("Font-face 'MoyaiFallback' cannot be loaded") and
   characters that only the fallback has were drawn from whatever fontconfig found on the machine.
   :func:`fallback_face_file` copies the JP face's tables (unchanged, fontTools, lazy) into a
   single font file once, cached on disk, and the stylesheet loads that file by URL.

2. **No copy of the whole font file per PDF.** For every PDF, WeasyPrint copies each font's
   complete file into Python bytes (``pdf.fonts.Font``: 46 MB for IPAmj明朝) only to subset it
   with HarfBuzz, which reads the face itself. :func:`install` makes that copy a zero-copy view
   of the face's (memory-mapped) data, kept per face, and subsets from a face prepared once by
   ``hb_subset_preprocess`` (HarfBuzz ≥ 6: the cmap and glyph closure work done once, not per
   PDF). The output is the same subset; the font file WeasyPrint embeds is always ``bytes``.

The patch touches WeasyPrint internals (``weasyprint.pdf.fonts``); it is applied only when those
are as expected (checked by :func:`install`, tested in ``tests/certificates``), else WeasyPrint is
left as it is: slower, never wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# --- 1. the fallback face as its own file -----------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("MOYAI_FONT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "moyai", "fonts")
    return Path(base)


_extract_lock = threading.Lock()


def fallback_face_file(collection: Path, index: int) -> Path:
    """A single-face font file with the tables of face ``index`` of ``collection`` (a .ttc), made
    once and kept in ``$MOYAI_FONT_CACHE`` (default ``~/.cache/moyai/fonts``; a temporary directory
    when that cannot be written). A single font file is returned as it is."""
    if collection.suffix.lower() != ".ttc":
        return collection
    st = collection.stat()
    tag = hashlib.sha256(f"{collection.resolve()}|{st.st_size}|{st.st_mtime_ns}|{index}".encode()).hexdigest()[:16]
    with _extract_lock:
        for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"moyai-fonts-{os.getuid()}"):
            target = folder / f"{collection.stem}-{index}-{tag}.otf"
            if target.is_file() and target.stat().st_size > 0:
                return target
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _extract(collection, index, target)
                return target
            except OSError as exc:
                log.warning("フォントのキャッシュ %s に書けません（%s）", folder, type(exc).__name__)
        raise OSError(f"フォント {collection} の面 {index} を取り出せません")


def _extract(collection: Path, index: int, target: Path) -> None:
    from fontTools.ttLib import TTFont

    font = TTFont(str(collection), fontNumber=index, lazy=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                font.save(f, reorderTables=False)  # tables not touched are copied as they are
            os.replace(tmp, target)  # atomic: another process never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        font.close()


# --- 2. font data and subsetting without a copy per PDF ---------------------------------------------

_MAX_FACES = 16  # a certificate uses three faces; more means faces are not reused: stop keeping them

_lock = threading.RLock()
_installed: bool | None = None
_enabled = True
_views: dict[int, Any] = {}  # face address → memoryview of its data (the face is kept referenced)
_prepared: dict[int, Any] = {}  # face address → face prepared by hb_subset_preprocess
stats = {"views": 0, "view_hits": 0, "prepared": 0, "subsets": 0}


def install() -> bool:
    """Apply the speed-ups to WeasyPrint once per process; True when they are active."""
    global _installed
    with _lock:
        if _installed is not None:
            return _installed
        try:
            _installed = _patch()
        except Exception as exc:  # internals changed: keep WeasyPrint as it is
            log.warning("WeasyPrint の高速化を適用できません（%s）", exc)
            _installed = False
        return _installed


def active() -> bool:
    return bool(_installed) and _enabled


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """WeasyPrint's own behaviour inside the block (for tests comparing the two)."""
    global _enabled
    with _lock:
        before, _enabled = _enabled, False
        try:
            yield
        finally:
            _enabled = before


def _patch() -> bool:
    from weasyprint.pdf import fonts as pdf_fonts
    from weasyprint.text import ffi as wffi

    ffi, hb, hb_subset = wffi.ffi, wffi.harfbuzz, wffi.harfbuzz_subset
    font_cls = pdf_fonts.Font
    orig_face: Callable[[Any], Any] = pdf_fonts.get_pango_font_hb_face
    orig_data: Callable[..., Any] = pdf_fonts.get_hb_object_data
    orig_clean: Callable[..., Any] = font_cls.clean
    if not (callable(orig_face) and callable(orig_data) and callable(orig_clean)
            and hasattr(font_cls, "_harfbuzz_subset") and hb is not None):
        return False
    preprocess: Callable[[Any], Any] | None = None
    if hb_subset is not None and hb.hb_version_atleast(6, 0, 0):
        with contextlib.suppress(Exception):
            ffi.cdef("hb_face_t * hb_subset_preprocess (hb_face_t *source);")
        try:
            preprocess = hb_subset.hb_subset_preprocess
        except (AttributeError, ffi.error):
            preprocess = None

    def face_of(pango_font: Any) -> Any:
        face = orig_face(pango_font)
        if not _enabled:
            return face
        key = int(ffi.cast("uintptr_t", face))
        with _lock:
            if key not in _views and len(_views) < _MAX_FACES:
                hb.hb_face_reference(face)  # kept for the life of the process: the address stays unique
                blob = hb.hb_face_reference_blob(face)  # not destroyed: the view points into it
                length = ffi.new("unsigned int *")
                data = hb.hb_blob_get_data(blob, length)
                _views[key] = None if data == ffi.NULL else memoryview(ffi.buffer(data, int(length[0])))
                stats["views"] += 1
        return face

    def data_of(hb_object: Any, ot_color: Any = None, glyph: Any = None) -> Any:
        if ot_color is None and _enabled:
            key = int(ffi.cast("uintptr_t", hb_object))
            with _lock:
                view = _views.get(key)
            if view is not None:
                stats["view_hits"] += 1
                return view
        return orig_data(hb_object, ot_color, glyph)

    def prepared(face: Any) -> Any:
        key = int(ffi.cast("uintptr_t", face))
        with _lock:
            if key not in _views:  # only faces kept alive above may be keyed by address
                return face
            found = _prepared.get(key)
            if found is None and preprocess is not None:
                found = preprocess(face)
                if found == ffi.NULL:
                    return face
                _prepared[key] = found
                stats["prepared"] += 1
            return found if found is not None else face

    def clean(self: Any, to_unicode: Any, hinting: Any) -> Any:
        original = self.hb_face
        if _enabled and to_unicode:
            self.hb_face = prepared(original)  # the subset is taken from the prepared face
            stats["subsets"] += 1
        try:
            return orig_clean(self, to_unicode, hinting)
        finally:
            self.hb_face = original
            if isinstance(self.file_content, memoryview):  # not subset (forms, failure): embed bytes
                self.file_content = self.file_content.tobytes()

    pdf_fonts.get_pango_font_hb_face = face_of
    pdf_fonts.get_hb_object_data = data_of
    font_cls.clean = clean
    return True
