"""Every string the addon shows has its Simplified Chinese translation."""

from pathlib import Path

import polib

I18N = Path(__file__).resolve().parents[1] / "ziqi_dingtalk" / "i18n"


def test_every_exported_string_has_a_chinese_translation():
    pot = polib.pofile(str(I18N / "ziqi_dingtalk.pot"))
    po = {entry.msgid: entry.msgstr for entry in polib.pofile(str(I18N / "zh_CN.po"))}
    missing = [entry.msgid for entry in pot if not po.get(entry.msgid)]
    assert not missing, f"strings without a zh_CN translation (run bin/i18n): {missing}"


def test_translations_keep_their_placeholders():
    for entry in polib.pofile(str(I18N / "zh_CN.po")):
        for placeholder in ("%(", "%s"):
            assert entry.msgid.count(placeholder) == entry.msgstr.count(placeholder), entry.msgid


def test_odoo_can_extract_the_strings_of_every_python_file():
    """Odoo's export reads Python through Babel, which evaluates each string token; an f-string in a
    translated call makes it skip the whole file silently, dropping all that file's strings."""
    from babel.messages import extract

    root = I18N.parents[1]
    for path in sorted(root.glob("ziqi_*/**/*.py")):
        with path.open("rb") as source:
            try:
                list(extract.extract("python", source, keywords={"_": None, "_lt": None}))
            except Exception as error:  # any failure loses the file's strings
                name = path.relative_to(root)
                raise AssertionError(f"{name}: Babel cannot extract it ({error})") from error
