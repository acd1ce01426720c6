"""The README renders as reStructuredText without a warning (Odoo shows it as the app description)."""

from pathlib import Path

import docutils.core
import docutils.utils

README = Path(__file__).resolve().parents[1] / "ziqi_dingtalk" / "README.rst"


def test_readme_renders_cleanly():
    docutils.core.publish_string(
        README.read_text(encoding="utf-8"),
        writer_name="html",
        settings_overrides={"report_level": 2, "halt_level": 2, "output_encoding": "unicode"},
    )


def test_readme_states_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "bin/demo" in text and "bin/test" in text
