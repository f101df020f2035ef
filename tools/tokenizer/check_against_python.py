#!/usr/bin/python3
"""Differential check of tokenizer stages against the Python the reference
ran (Debian's python3 3.11 and python3-regex 2022.10.31):

  html       html.unescape on random strings full of references
  lower      str.lower() (full mapping, final sigma) on random Greek and
             every other printable code point
  class      the pre-tokenizer's classes (\\p{L}, \\p{N}, other, \\s under
             re.IGNORECASE) for every code point
  pretok     regex.findall of CLIP's pattern on random lower-case words

Usage (after building the library in build/):
    /usr/bin/python3 tools/tokenizer/check_against_python.py [build]
Needs: apt-get install python3-regex
"""
import html
import html.entities
import os
import random
import subprocess
import sys

import regex

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
exe = os.path.join(build, "tokenizer_oracle")
libs = subprocess.run(["pkg-config", "--libs", "openblas", "libcjson", "libutf8proc", "libjpeg", "libpng",
                       "libwebp", "zlib"], capture_output=True, text=True, check=True).stdout.split()
subprocess.run(["cc", "-O1", "-I" + os.path.join(root, "include"), "-I" + os.path.join(root, "src"),
                os.path.join(root, "tools/tokenizer/oracle.c"), os.path.join(build, "libclip.a"), *libs,
                "-lm", "-lpthread", "-o", exe], check=True)


def run(mode, strings):
    data = "".join(s.encode("utf-8").hex() + "\n" for s in strings).encode()
    out = subprocess.run([exe, mode], input=data, capture_output=True, check=True).stdout.decode().split("\n")
    return out[: len(strings)]


def decode(h):
    return bytes.fromhex(h).decode("utf-8")


failures = 0
random.seed(20240601)
names = list(html.entities.html5)


def random_html():
    parts = []
    for _ in range(random.randint(1, 8)):
        r = random.random()
        if r < 0.3:
            parts.append("&" + random.choice(names))
        elif r < 0.45:
            num = random.choice([0, 1, 9, 10, 13, 59, 65, 127, 128, 129, 141, 159, 160, 0xD800, 0xFDD0, 0xFFFE,
                                 0x1FFFE, 0x10FFFF, 0x110000, 10**12, random.randint(0, 200000)])
            parts.append("&#" + str(num) + random.choice([";", "", ";x", "a"]))
        elif r < 0.55:
            parts.append("&#" + random.choice("xX") + format(random.randint(0, 0x120000), "x") + random.choice([";", "", "g;"]))
        elif r < 0.65:
            name = random.choice(names).rstrip(";")
            parts.append("&" + name[: random.randint(1, len(name))] + random.choice(["", ";", "x;", "é", " ", "\n", "&"]))
        elif r < 0.75:
            parts.append("&" + "".join(random.choice("abcAmpltg;#x\r\t\x00é1") for _ in range(random.randint(0, 40))))
        else:
            parts.append("".join(random.choice("ab &;#\n<é") for _ in range(random.randint(0, 6))))
    return "".join(parts)


strings = [random_html() for _ in range(30000)]
bad = sum(decode(g) != html.unescape(s) for s, g in zip(strings, run("html", strings)))
print(f"html.unescape: {bad} mismatches of {len(strings)}")
failures += bad

letters = "ΣσςΑαΒβ'.:\u0345\u0301\u00b7\u2019ΐİIiẞßǅǄ\u0307AaZz0"
strings = ["".join(random.choice(letters) for _ in range(random.randint(1, 12))) for _ in range(30000)]
strings += [chr(c) for c in range(0x80, 0x30000)
            if not 0xD800 <= c <= 0xDFFF and chr(c).isprintable() and not chr(c).isspace()]
bad = sum(decode(g) != s.lower() for s, g in zip(strings, run("lower", strings)))
print(f"str.lower: {bad} mismatches of {len(strings)}")
failures += bad

L = regex.compile(r"[\p{L}]", regex.I)
N = regex.compile(r"[\p{N}]", regex.I)
O = regex.compile(r"[^\s\p{L}\p{N}]", regex.I)
S = regex.compile(r"\s")
got = subprocess.run([exe, "class"], capture_output=True, check=True).stdout.decode().split()
bad = 0
for cp, g in zip((c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF), got):
    ch = chr(cp)
    want = 0 if L.match(ch) else 1 if N.match(ch) else 2 if O.match(ch) else 3 if S.match(ch) else 4
    bad += int(g) != want
print(f"pre-tokenizer classes: {bad} mismatches of {len(got)} code points")
failures += bad

pattern = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                        regex.IGNORECASE)
alphabet = ["'", "s", "t", "r", "e", "v", "m", "l", "d", "ſ", "<|startoftext|>", "<|endoftext|>", "<|ſtartoftext|>",
            "<|", "|>", "<", ">", "|", "a", "1", "١", "é", "\u0345", "\u0301", "!", "猫", "😀", "\u200d", "-", "ⅰ"]
strings = ["".join(random.choice(alphabet) for _ in range(random.randint(1, 10))) for _ in range(50000)]
bad = 0
for s, g in zip(strings, run("pretok", strings)):
    pieces = [p.decode("utf-8") for p in bytes.fromhex(g).split(b"\x01")[:-1]]
    bad += pieces != pattern.findall(s)
print(f"pre-tokenizer: {bad} mismatches of {len(strings)}")
failures += bad
sys.exit(1 if failures else 0)
