#!/usr/bin/python3
"""Generates src/tokenizer/unicode_tables.c from the Python standard library.

The reference tokenizer ran on Python 3.11 (unicodedata 14.0.0) with ftfy
6.3.1, so the tables that must match it bit for bit are taken from a Python
3.11 interpreter rather than typed in by hand:

  * the HTML5 named character references (html.entities.html5), used by
    html.unescape and by ftfy's stricter unescaper;
  * ftfy's extra all-caps entities (&EACUTE; -> 'É'), built the way ftfy 6.3
    builds them;
  * the single-byte codecs ftfy tries when it undoes mojibake, including its
    "sloppy" variants (undefined bytes decode as Latin-1, byte 0x1A stands
    for U+FFFD);
  * ftfy's width map (fullwidth/halfwidth forms, NFKC of U+FF01..U+FFEF);
  * the character classes of Python's `re` module that ftfy's regexes use
    (\\w, \\d) and the Cased / Case_Ignorable properties str.lower() consults
    for the final sigma;
  * str.lower() mappings that utf8proc's simple mapping does not give;
  * the character categories of ftfy's mojibake heuristic (badness.py and
    chardata.UTF8_CLUES), by Unicode name.

Run with Debian's /usr/bin/python3 (3.11):
    /usr/bin/python3 tools/tokenizer/gen_unicode_tables.py > src/tokenizer/unicode_tables.c
"""
import codecs
import html
import html.entities
import sys
import unicodedata

assert sys.version_info[:2] == (3, 11), "generate with Python 3.11 (unicodedata 14.0.0)"
assert unicodedata.unidata_version == "14.0.0"

out = []


def emit(line=""):
    out.append(line)


def c_string(s):
    """A C string literal holding the UTF-8 bytes of s."""
    parts = []
    for b in s.encode("utf-8"):
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C, 0x3F):
            parts.append(chr(b))
        else:
            parts.append("\\%03o" % b)
    return '"' + "".join(parts) + '"'


def ranges_of(pred):
    result = []
    start = None
    for cp in range(0x110001):
        ok = cp <= 0x10FFFF and not (0xD800 <= cp <= 0xDFFF) and pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            result.append((start, cp - 1))
            start = None
    return result


def emit_ranges(name, ranges):
    emit(f"const clip_cp_range {name}[] = {{")
    for lo, hi in ranges:
        emit(f"    {{0x{lo:04X}, 0x{hi:04X}}},")
    emit("};")
    emit(f"const size_t {name}_count = {len(ranges)};")
    emit()


# --- HTML5 named references --------------------------------------------------
entities = sorted(html.entities.html5.items(), key=lambda kv: kv[0].encode())


def ftfy_upper_entities():
    """ftfy 6.3 chardata._build_html_entities: the all-caps extras only (the
    ';'-terminated HTML5 names it also accepts are in the main table)."""
    extra = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            upper = "&" + name.upper()
            if html.unescape(upper) == upper:
                extra[name.upper()] = char.upper()
    return sorted(extra.items(), key=lambda kv: kv[0].encode())


# --- Single-byte codecs --------------------------------------------------------
CHARMAP_ENCODINGS = [
    "latin-1",
    "sloppy-windows-1252",
    "sloppy-windows-1251",
    "sloppy-windows-1250",
    "sloppy-windows-1253",
    "sloppy-windows-1254",
    "sloppy-windows-1257",
    "iso-8859-2",
    "macroman",
    "cp437",
]


def decode_table(encoding):
    """256 code points; None where the strict codec has no mapping."""
    if encoding.startswith("sloppy-"):
        base = encoding[len("sloppy-"):]
        table = list(bytes(range(256)).decode("latin-1"))
        decoded = bytes(range(256)).decode(base, errors="replace")
        for i, ch in enumerate(decoded):
            if ch != "\ufffd":
                table[i] = ch
        table[0x1A] = "\ufffd"
        # Check against the round trip Python's charmap codec would make.
        enc_map = codecs.charmap_build("".join(table))
        for i, ch in enumerate(table):
            assert codecs.charmap_encode(ch, "strict", enc_map)[0] == bytes([i])
        return [ord(c) for c in table]
    result = []
    for i in range(256):
        try:
            result.append(ord(bytes([i]).decode(encoding)))
        except UnicodeDecodeError:
            result.append(None)
    return result


tables = {e: decode_table(e) for e in CHARMAP_ENCODINGS}
strict_1252 = decode_table("windows-1252")
for e, t in tables.items():
    assert None not in t, e
    # Every encodable character must have exactly one byte.
    assert len(set(t)) == 256, e


# --- ftfy's character classes -------------------------------------------------
N = unicodedata.lookup

MOJIBAKE_CATEGORIES = {
    "common": [N("NO-BREAK SPACE"), N("SOFT HYPHEN"), N("MIDDLE DOT"), N("ACUTE ACCENT"),
               N("EN DASH"), N("EM DASH"), N("HORIZONTAL BAR"), N("HORIZONTAL ELLIPSIS"),
               N("RIGHT SINGLE QUOTATION MARK")],
    "c1": [chr(c) for c in range(0x80, 0xA0)],
    "bad": [N("BROKEN BAR"), N("CURRENCY SIGN"), N("DIAERESIS"), N("NOT SIGN"), N("MACRON"),
            N("CEDILLA"), N("LATIN SMALL LETTER F WITH HOOK"),
            N("MODIFIER LETTER CIRCUMFLEX ACCENT"), N("CARON"), N("BREVE"), N("OGONEK"),
            N("SMALL TILDE"), N("DAGGER"), N("DOUBLE DAGGER"), N("PER MILLE SIGN"),
            N("REVERSED NOT SIGN"), N("LOZENGE"), "\ufffd",
            N("FEMININE ORDINAL INDICATOR"), N("MASCULINE ORDINAL INDICATOR")],
    "law": [N("PILCROW SIGN"), N("SECTION SIGN")],
    "currency": [N("CENT SIGN"), N("POUND SIGN"), N("YEN SIGN"), N("PESETA SIGN"), N("EURO SIGN")],
    "start_punctuation": [N("INVERTED EXCLAMATION MARK"),
                          N("LEFT-POINTING DOUBLE ANGLE QUOTATION MARK"),
                          N("INVERTED QUESTION MARK"), N("COPYRIGHT SIGN"), N("GREEK TONOS"),
                          N("GREEK DIALYTIKA TONOS"), N("LEFT SINGLE QUOTATION MARK"),
                          N("SINGLE LOW-9 QUOTATION MARK"), N("LEFT DOUBLE QUOTATION MARK"),
                          N("DOUBLE LOW-9 QUOTATION MARK"), N("BULLET"),
                          N("SINGLE LEFT-POINTING ANGLE QUOTATION MARK"), "\uf8ff"],
    "end_punctuation": [N("REGISTERED SIGN"), N("RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK"),
                        N("DOUBLE ACUTE ACCENT"), N("RIGHT DOUBLE QUOTATION MARK"),
                        N("SINGLE RIGHT-POINTING ANGLE QUOTATION MARK"), N("TRADE MARK SIGN")],
    "numeric": [N("SUPERSCRIPT TWO"), N("SUPERSCRIPT THREE"), N("SUPERSCRIPT ONE"),
                N("PLUS-MINUS SIGN"), N("VULGAR FRACTION ONE QUARTER"),
                N("VULGAR FRACTION ONE HALF"), N("VULGAR FRACTION THREE QUARTERS"),
                N("MULTIPLICATION SIGN"), N("MICRO SIGN"), N("DIVISION SIGN"),
                N("FRACTION SLASH"), N("PARTIAL DIFFERENTIAL"), N("INCREMENT"),
                N("N-ARY PRODUCT"), N("N-ARY SUMMATION"), N("SQUARE ROOT"), N("INFINITY"),
                N("INTERSECTION"), N("INTEGRAL"), N("ALMOST EQUAL TO"), N("NOT EQUAL TO"),
                N("IDENTICAL TO"), N("LESS-THAN OR EQUAL TO"), N("GREATER-THAN OR EQUAL TO"),
                N("NUMERO SIGN")],
    "kaomoji": ([chr(c) for c in range(0xD2, 0xD7)] + [chr(c) for c in range(0xD9, 0xDD)]
                + [chr(c) for c in range(0xF2, 0xF7)] + [chr(c) for c in range(0xF8, 0xFD)]
                + [N("LATIN CAPITAL LETTER O WITH DOUBLE ACUTE"),
                   N("LATIN CAPITAL LETTER O WITH MACRON"),
                   N("LATIN CAPITAL LETTER U WITH MACRON"),
                   N("LATIN CAPITAL LETTER U WITH OGONEK"), N("DEGREE SIGN")]),
    "upper_accented": [chr(c) for c in range(0xC0, 0xD2)] + [N("LATIN CAPITAL LETTER " + n) for n in [
        "O WITH STROKE", "U WITH DIAERESIS", "Y WITH ACUTE", "A WITH BREVE", "A WITH MACRON",
        "A WITH OGONEK", "C WITH ACUTE", "C WITH CARON", "D WITH CARON", "D WITH STROKE",
        "E WITH OGONEK", "E WITH CARON", "E WITH MACRON", "E WITH DOT ABOVE", "G WITH BREVE",
        "G WITH CEDILLA", "I WITH DOT ABOVE", "I WITH MACRON", "K WITH CEDILLA", "L WITH ACUTE",
        "L WITH CARON", "L WITH STROKE", "L WITH CEDILLA", "N WITH ACUTE", "N WITH CARON",
        "N WITH CEDILLA"]] + [N("LATIN CAPITAL LIGATURE OE")] + [N("LATIN CAPITAL LETTER " + n) for n in [
        "R WITH CARON", "S WITH ACUTE", "S WITH CEDILLA", "S WITH CARON", "T WITH CEDILLA",
        "T WITH CARON", "U WITH RING ABOVE", "U WITH DOUBLE ACUTE", "Y WITH DIAERESIS",
        "Z WITH ACUTE", "Z WITH DOT ABOVE", "Z WITH CARON"]] + [
        N("CYRILLIC CAPITAL LETTER GHE WITH UPTURN")],
    "lower_accented": [N("LATIN SMALL LETTER SHARP S")] + [chr(c) for c in range(0xE0, 0xF2)] + [
        N("LATIN SMALL LETTER " + n) for n in [
            "A WITH BREVE", "A WITH OGONEK", "A WITH MACRON", "C WITH ACUTE", "C WITH CARON",
            "D WITH CARON", "D WITH STROKE", "E WITH OGONEK", "E WITH CARON", "E WITH MACRON",
            "E WITH DOT ABOVE", "G WITH BREVE", "G WITH CEDILLA", "I WITH OGONEK",
            "I WITH MACRON", "K WITH CEDILLA", "L WITH ACUTE", "L WITH CARON", "L WITH STROKE",
            "L WITH CEDILLA"]] + [N("LATIN SMALL LIGATURE OE")] + [
        N("LATIN SMALL LETTER " + n) for n in [
            "R WITH ACUTE", "S WITH ACUTE", "S WITH CEDILLA", "S WITH CARON", "T WITH CARON",
            "U WITH DIAERESIS", "Z WITH ACUTE", "Z WITH DOT ABOVE", "Z WITH CARON"]] + [
        N("CYRILLIC SMALL LETTER GHE WITH UPTURN"), N("LATIN SMALL LIGATURE FI"),
        N("LATIN SMALL LIGATURE FL")],
    "upper_common": [N("LATIN CAPITAL LETTER THORN")]
    + [chr(c) for c in range(ord(N("GREEK CAPITAL LETTER ALPHA")), ord(N("GREEK CAPITAL LETTER OMEGA")) + 1)]
    + [N("GREEK CAPITAL LETTER " + n) for n in [
        "ALPHA WITH TONOS", "EPSILON WITH TONOS", "ETA WITH TONOS", "IOTA WITH TONOS",
        "OMICRON WITH TONOS", "UPSILON WITH TONOS", "OMEGA WITH TONOS", "IOTA WITH DIALYTIKA",
        "UPSILON WITH DIALYTIKA"]]
    + [chr(c) for c in range(ord(N("CYRILLIC CAPITAL LETTER IO")), ord(N("CYRILLIC CAPITAL LETTER YA")) + 1)],
    "lower_common": [chr(c) for c in range(ord(N("GREEK SMALL LETTER ALPHA")), ord(N("GREEK SMALL LETTER OMEGA")) + 1)]
    + [N("GREEK SMALL LETTER " + n) for n in [
        "ALPHA WITH TONOS", "EPSILON WITH TONOS", "ETA WITH TONOS", "IOTA WITH TONOS",
        "UPSILON WITH DIALYTIKA AND TONOS"]]
    + [chr(c) for c in range(ord(N("CYRILLIC SMALL LETTER A")), ord(N("CYRILLIC SMALL LETTER DZHE")) + 1)],
    "box": list("│┌┐┘├┤┬┼")
    + [chr(c) for c in range(ord(N("BOX DRAWINGS DOUBLE HORIZONTAL")),
                             ord(N("BOX DRAWINGS DOUBLE VERTICAL AND HORIZONTAL")) + 1)]
    + list("▀▄█▌▐░▒▓"),
}

# chardata.UTF8_CLUES, derived from the codecs it was generated from: which
# characters a UTF-8 lead or continuation byte turns into when UTF-8 is read
# as Latin-1, Windows-1250/1251/1252/1253/1254/1257.
CLUE_ENCODINGS = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1250",
                  "sloppy-windows-1251", "sloppy-windows-1253", "sloppy-windows-1254",
                  "sloppy-windows-1257"]


def decoded(byte_values):
    chars = set()
    for e in CLUE_ENCODINGS:
        for b in byte_values:
            chars.add(chr(tables[e][b]))
    return chars


continuation = decoded(range(0x80, 0xC0)) | {chr(c) for c in range(0x80, 0xC0)} | {" "}
not_strict = {" ", N("EN DASH"), N("EM DASH"), N("HORIZONTAL BAR"), N("LEFT SINGLE QUOTATION MARK"),
              N("RIGHT SINGLE QUOTATION MARK"), N("SINGLE LOW-9 QUOTATION MARK"),
              N("LEFT DOUBLE QUOTATION MARK"), N("RIGHT DOUBLE QUOTATION MARK"),
              N("DOUBLE LOW-9 QUOTATION MARK"), N("BULLET"), N("HORIZONTAL ELLIPSIS")}
UTF8_CLUES = {
    "utf8_first_of_2": decoded(range(0xC2, 0xE0)),
    "utf8_first_of_3": decoded(range(0xE0, 0xF0)),
    "utf8_first_of_4": decoded([0xF0, 0xF3]),
    "utf8_continuation": continuation,
    "utf8_continuation_strict": continuation - not_strict,
}
# The sizes of ftfy 6.3's hand-written lists (duplicates removed).
assert len(UTF8_CLUES["utf8_first_of_2"]) == 124, len(UTF8_CLUES["utf8_first_of_2"])
assert len(UTF8_CLUES["utf8_first_of_4"]) == 9

CLASS_BITS = list(MOJIBAKE_CATEGORIES) + list(UTF8_CLUES)
masks = {}
for bit, name in enumerate(CLASS_BITS):
    members = MOJIBAKE_CATEGORIES.get(name) or UTF8_CLUES[name]
    for ch in members:
        masks[ord(ch)] = masks.get(ord(ch), 0) | (1 << bit)


# --- Python str / re character properties ---------------------------------------
def is_cased(c):
    return c.islower() or c.isupper() or c.istitle()


def is_case_ignorable(c):
    # Probe str.lower()'s own Final_Sigma test (CPython handle_capital_sigma):
    # a character between a cased letter and a final capital sigma is skipped
    # exactly when it is case-ignorable.
    return ("A" + c + "\u03a3").lower()[-1] == "\u03c2" if not is_cased(c) else \
        (" " + c + "\u03a3").lower()[-1] == "\u03c3"


# --- Output -------------------------------------------------------------------------
emit("/* Generated by tools/tokenizer/gen_unicode_tables.py from Python "
     f"{sys.version.split()[0]} (unicodedata {unicodedata.unidata_version}). Do not edit. */")
emit('#include "tokenizer/unicode_tables.h"')
emit()
emit("const clip_entity clip_html5_entities[] = {")
for name, value in entities:
    emit(f"    {{{c_string(name)}, {c_string(value)}}},")
emit("};")
emit(f"const size_t clip_html5_entities_count = {len(entities)};")
emit()
upper = ftfy_upper_entities()
emit("const clip_entity clip_ftfy_upper_entities[] = {")
for name, value in upper:
    emit(f"    {{{c_string(name)}, {c_string(value)}}},")
emit("};")
emit(f"const size_t clip_ftfy_upper_entities_count = {len(upper)};")
emit()
emit("const uint32_t clip_charmap_decode[CLIP_CHARMAP_COUNT][256] = {")
for e in CHARMAP_ENCODINGS:
    emit(f"    /* {e} */ {{")
    t = tables[e]
    for row in range(0, 256, 8):
        emit("        " + ", ".join(f"0x{c:04X}" for c in t[row:row + 8]) + ",")
    emit("    },")
emit("};")
emit()
emit("/* windows-1252 (strict): 0 marks the five undefined bytes. */")
emit("const uint32_t clip_cp1252_strict[256] = {")
for row in range(0, 256, 8):
    emit("    " + ", ".join(f"0x{(c if c is not None else 0):04X}" for c in strict_1252[row:row + 8]) + ",")
emit("};")
emit()
width = {0x3000: " "}
for i in range(0xFF01, 0xFFF0):
    alt = unicodedata.normalize("NFKC", chr(i))
    if alt != chr(i):
        width[i] = alt
assert all(1 <= len(v) <= 2 for v in width.values())
emit("const clip_cp_map2 clip_width_map[] = {")
for k in sorted(width):
    v = [ord(c) for c in width[k]] + [0]
    emit(f"    {{0x{k:04X}, {{0x{v[0]:04X}, 0x{v[1]:04X}}}}},")
emit("};")
emit(f"const size_t clip_width_map_count = {len(width)};")
emit()
emit_ranges("clip_py_word_ranges", ranges_of(lambda c: c.isalnum() or c == "_"))
emit_ranges("clip_py_decimal_ranges", ranges_of(lambda c: c.isdecimal()))
emit_ranges("clip_cased_ranges", ranges_of(is_cased))
emit_ranges("clip_case_ignorable_ranges", ranges_of(is_case_ignorable))
emit("/* Bits: " + ", ".join(f"{i} {n}" for i, n in enumerate(CLASS_BITS)) + " */")
emit("const clip_cp_pair clip_mojibake_classes[] = {")
for cp in sorted(masks):
    emit(f"    {{0x{cp:04X}, 0x{masks[cp]:05X}}},")
emit("};")
emit(f"const size_t clip_mojibake_classes_count = {len(masks)};")

sys.stdout.write("\n".join(out) + "\n")
