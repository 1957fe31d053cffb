"""Fonts for burned-in subtitles: which family suits the text, where ovsub's extra fonts are, and fontconfig."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Sequence
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

log = logging.getLogger("ovsub")

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
ASSETS_FONTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"  # fonts shipped with ovsub, if any
FONT_PACKAGE_GROUPS = ("fontpkg.family", "justmytype.packs")  # entry points of font-only PyPI packages
SYSTEM_FONTCONFIG = "/etc/fonts/fonts.conf"  # the system's fonts, included unless FONTCONFIG_FILE says otherwise
MISSING_GLYPH_RE = re.compile(r"failed to find any fallback with glyph 0x([0-9A-Fa-f]+)")
FONTS_HINT = "pip install 'ovsub[fonts]' (Noto fonts), or apt-get install fonts-noto-core fonts-noto-cjk"

# Noto families by language, used when BurnStyle.font_name is None, so that Han characters get the
# glyph shapes readers of that language expect; other scripts fall back through fontconfig.
LANGUAGE_FONTS = {
    "zh": "Noto Sans SC", "yue": "Noto Sans TC", "ja": "Noto Sans JP", "ko": "Noto Sans KR",
    "ar": "Noto Sans Arabic", "fa": "Noto Sans Arabic", "ur": "Noto Sans Arabic", "ps": "Noto Sans Arabic",
    "sd": "Noto Sans Arabic", "hi": "Noto Sans Devanagari", "mr": "Noto Sans Devanagari",
    "ne": "Noto Sans Devanagari", "sa": "Noto Sans Devanagari",
}  # fmt: skip
DEFAULT_FONT = "Noto Sans"  # Latin, Greek, Cyrillic, Vietnamese; fontconfig substitutes its default sans if absent
# The same Noto CJK fonts are called "Noto Sans SC" in the Google Fonts builds (PyPI packages)
# and "Noto Sans CJK SC" in Debian's fonts-noto-cjk; fontconfig is told they stand for each other.
FAMILY_ALIASES = {
    "Noto Sans SC": "Noto Sans CJK SC", "Noto Sans TC": "Noto Sans CJK TC",
    "Noto Sans JP": "Noto Sans CJK JP", "Noto Sans KR": "Noto Sans CJK KR",
}  # fmt: skip
# libass sizes a font by its whole line height (OS/2 win ascent + descent). These families have
# taller lines than Noto Sans (2.17 and 1.91 em against 1.52), so at the same size their letters
# would look a third smaller; they get this much more size.
FONT_SIZE_FACTORS = {"Noto Sans Arabic": 1.43, "Noto Sans Devanagari": 1.25}


def guess_family(text: str, language: str | None) -> str:
    """Pick a font family for subtitles in ``language`` (or, if unknown, for the script of ``text``)."""
    if language:
        code = language.strip().lower().split("-")[0]
        if code in LANGUAGE_FONTS:
            return LANGUAGE_FONTS[code]
    counts = {"kana": 0, "hangul": 0, "han": 0, "arabic": 0, "devanagari": 0, "letters": 0}
    for ch in text:
        o = ord(ch)
        if 0x3040 <= o <= 0x30FF:
            counts["kana"] += 1
        elif 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF:
            counts["hangul"] += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            counts["han"] += 1
        elif 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F:
            counts["arabic"] += 1
        elif 0x0900 <= o <= 0x097F:
            counts["devanagari"] += 1
        elif ch.isalpha():
            counts["letters"] += 1
    if counts["kana"]:
        return "Noto Sans JP"
    if counts["hangul"]:
        return "Noto Sans KR"
    script = max(("han", "arabic", "devanagari"), key=lambda k: counts[k])
    if counts[script] > counts["letters"]:
        return {"han": "Noto Sans SC", "arabic": "Noto Sans Arabic", "devanagari": "Noto Sans Devanagari"}[script]
    return DEFAULT_FONT


def font_dirs() -> tuple[Path, ...]:
    """Folders of fonts ovsub adds to the system's for burn-in: bundled ones, then font packages."""
    dirs: list[Path] = []
    if ASSETS_FONTS_DIR.is_dir():
        dirs.append(ASSETS_FONTS_DIR)
    for group in FONT_PACKAGE_GROUPS:
        for ep in entry_points(group=group):
            top = ep.module.split(".")[0]
            with contextlib.suppress(ImportError, ValueError):
                spec = find_spec(top)  # locates the package without importing it
                if spec is not None and spec.submodule_search_locations:
                    dirs.extend(Path(p) for p in spec.submodule_search_locations)
    return tuple(dict.fromkeys(d for d in dirs if d.is_dir()))


def font_files() -> tuple[Path, ...]:
    """Every font file in font_dirs() (for diagnostics and tests)."""
    return tuple(
        p for d in font_dirs() for p in sorted(d.rglob("*")) if p.suffix.lower() in FONT_SUFFIXES and p.is_file()
    )


def fontconfig_file(workdir: Path, extra_dirs: Sequence[Path]) -> Path:
    """Write a fonts.conf that adds our font folders to the system's; fontconfig then finds them for fallback."""
    system = os.environ.get("FONTCONFIG_FILE") or SYSTEM_FONTCONFIG
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">',
        "<fontconfig>",
        f"  <cachedir>{xml_escape(str(workdir / 'fontcache'))}</cachedir>",
        *(f"  <dir>{xml_escape(str(d.resolve()))}</dir>" for d in extra_dirs),
        *(_alias(a, b) for pair in FAMILY_ALIASES.items() for a, b in (pair, pair[::-1])),
        f'  <include ignore_missing="yes">{xml_escape(system)}</include>',
        "</fontconfig>",
    ]
    conf = workdir / "fonts.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _alias(family: str, stands_for: str) -> str:
    """A fontconfig rule: when `family` is asked for and missing, `stands_for` will do (libass asks this way)."""
    return f"  <alias><family>{family}</family><accept><family>{stands_for}</family></accept></alias>"


def report_missing_glyphs(output: Path, stderr: str) -> None:
    """One warning for the characters no font had (libass names them in ffmpeg's stderr); the rest to debug."""
    missing = sorted({int(code, 16) for code in MISSING_GLYPH_RE.findall(stderr)})
    if missing:
        shown = "".join(chr(c) for c in missing[:20])
        codes = ", ".join(f"U+{c:04X}" for c in missing[:5])
        log.warning(
            "%s: no font has %d character(s) of the subtitles (%s: %s), they show as boxes; install fonts: %s",
            output, len(missing), codes, shown, FONTS_HINT,
        )  # fmt: skip
    other = [line for line in stderr.splitlines() if line.strip() and not MISSING_GLYPH_RE.search(line)]
    if other:
        log.debug("ffmpeg said while burning %s:\n%s", output, "\n".join(other[-20:]))

