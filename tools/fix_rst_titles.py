"""Lengthen reStructuredText title underlines to the display width of their title (Chinese characters are
two columns wide for docutils). Usage: python tools/fix_rst_titles.py README.rst"""

import sys
import unicodedata


def width(text):
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def fix(lines):
    for i in range(1, len(lines)):
        line, title = lines[i], lines[i - 1]
        if len(line) >= 3 and set(line) <= set("=-~") and len(set(line)) == 1 and title.strip():
            if set(title) <= set("=-~"):
                continue
            lines[i] = line[0] * max(len(line), width(title))
            if i >= 2 and lines[i - 2] and set(lines[i - 2]) == set(line[0]):
                lines[i - 2] = lines[i]
    return lines


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(fix(lines)))
