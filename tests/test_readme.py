"""The READMEs: each addon's README.rst (its admin guide, which Odoo shows as the app's description) is what
tools/render_readme.py makes of its readme/, every fragment speaks English and Chinese, the READMEs are
reStructuredText without a warning, and the repository README's commands exist."""

import importlib.util
import os
import re
import shutil
from pathlib import Path

import docutils.core
import docutils.nodes
import pytest

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "ziqi_dingtalk"
# every addon of the repository with README fragments (what tools/render_readme.py renders)
ADDONS = sorted(path.parent for path in ROOT.glob("*/readme") if (path.parent / "__manifest__.py").is_file())
FRAGMENTS = sorted(path for addon in ADDONS for path in (addon / "readme").glob("*.rst"))
APPROVAL = ROOT / "ziqi_dingtalk_approval"
FULL_GUIDE = {"DESCRIPTION", "INSTALL", "CONFIGURE", "USAGE", "TROUBLESHOOTING", "SECURITY", "CONTRIBUTORS"}
# as oca-gen-addon-readme checks a README (pypa/readme_renderer's settings): a warning is an error
RST_SETTINGS = {
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "report_level": 2,
    "halt_level": 2,
    "output_encoding": "unicode",
    "warning_stream": False,
}
CJK = re.compile(r"[\u3400-\u9fff]")
WORD = re.compile(r"\b[A-Za-z]{3,}\b")
LITERAL = re.compile(r"``.*?``|https?://\S+", re.DOTALL)
UNDERLINE = re.compile(r"^([~^])\1{2,}$")


def load_renderer():
    spec = importlib.util.spec_from_file_location("render_readme", ROOT / "tools" / "render_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def doctree(path):
    return docutils.core.publish_doctree(path.read_text(encoding="utf-8"), settings_overrides=RST_SETTINGS)


def sections(text):
    """(title, body) of each subsection of a fragment (title "" for the text before the first one)."""
    found, title, body = [], "", []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if index + 1 < len(lines) and UNDERLINE.match(lines[index + 1]) and line.strip():
            found.append((title, "\n".join(body)))
            title, body = line, []
        elif not UNDERLINE.match(line):
            body.append(line)
    found.append((title, "\n".join(body)))
    return [(title, body) for title, body in found if body.strip()]


def addon_id(path):
    return str(path.relative_to(ROOT))


def test_the_addons_with_a_guide():
    names = {addon.name for addon in ADDONS}
    assert {
        "ziqi_dingtalk",
        "ziqi_dingtalk_approval",
        "ziqi_dingtalk_approval_purchase",
        "ziqi_dingtalk_approval_expense",
    } <= names
    assert load_renderer().addon_dirs() == ADDONS


@pytest.mark.parametrize("addon", ADDONS, ids=addon_id)
def test_committed_readme_is_what_the_fragments_render(addon):
    renderer = load_renderer()
    assert (addon / "README.rst").read_text(encoding="utf-8") == renderer.render(
        addon
    ), f"{addon.name}/README.rst is stale: run tools/render_readme.py"
    assert renderer.main(["--check", "--addon-dir", str(addon)]) == 0


def test_check_covers_every_addon(capsys):
    assert load_renderer().main(["--check"]) == 0
    out = capsys.readouterr().out
    for addon in ADDONS:
        assert f"{addon.name}/README.rst is up to date" in out


def test_check_fails_on_a_stale_readme(tmp_path, capsys):
    addon = tmp_path / "ziqi_dingtalk"
    shutil.copytree(ADDON / "readme", addon / "readme")
    shutil.copy(ADDON / "__manifest__.py", addon)
    renderer = load_renderer()
    assert renderer.main(["--check", "--addon-dir", str(addon)]) == 1  # no README.rst yet
    assert renderer.main(["--addon-dir", str(addon)]) == 0
    assert renderer.main(["--check", "--addon-dir", str(addon)]) == 0
    (addon / "README.rst").write_text("edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    assert renderer.main(["--check", "--addon-dir", str(addon)]) == 1
    assert "is not what its readme/ fragments render to" in capsys.readouterr().err


def test_unknown_fragment_is_refused(tmp_path):
    addon = tmp_path / "ziqi_dingtalk"
    shutil.copytree(ADDON / "readme", addon / "readme")
    shutil.copy(ADDON / "__manifest__.py", addon)
    (addon / "readme" / "USGAE.rst").write_text("Typo / 拼写错误\n", encoding="utf-8")
    renderer = load_renderer()
    with pytest.raises(renderer.ReadmeError, match="USGAE.rst"):
        renderer.render(addon)


@pytest.mark.parametrize("addon", [ADDON, APPROVAL], ids=addon_id)
def test_rendered_in_oca_order(addon):
    text = (addon / "README.rst").read_text(encoding="utf-8")
    manifest = load_renderer().read_manifest(addon)
    assert text.splitlines()[1] == manifest["name"]
    titles = [
        "Installation / 安装",
        "Configuration / 配置",
        "Usage / 使用",
        "Troubleshooting / 故障排除",
        "Security / 安全",
        "Bug Tracker / 问题反馈",
        "Credits / 致谢",
        "Authors / 作者",
        "Contributors / 贡献者",
    ]
    positions = [text.index(f"\n{title}\n") for title in titles]
    assert positions == sorted(positions)
    assert text.index(".. contents::") < positions[0]
    assert f"\n* {manifest['author']}\n" in text


@pytest.mark.parametrize(
    "path", [*(addon / "README.rst" for addon in ADDONS), ROOT / "README.rst"], ids=addon_id
)
def test_readme_is_clean_restructuredtext(path):
    docutils.core.publish_string(
        path.read_text(encoding="utf-8"), writer_name="html", settings_overrides=RST_SETTINGS
    )


@pytest.mark.parametrize("addon", ADDONS, ids=addon_id)
def test_the_expected_fragments_exist(addon):
    names = {path.stem for path in (addon / "readme").glob("*.rst")}
    # the core and the approval addon have the full admin guide; a glue addon describes itself
    expected = FULL_GUIDE if addon in (ADDON, APPROVAL) else {"DESCRIPTION", "USAGE"}
    assert expected <= names


@pytest.mark.parametrize("path", FRAGMENTS, ids=addon_id)
def test_every_fragment_section_is_in_english_and_chinese(path):
    for title, body in sections(path.read_text(encoding="utf-8")):
        prose = LITERAL.sub("", body)
        where = f"{path.name}, section {title or '(top)'}"
        assert len(CJK.findall(prose)) >= 2, f"{where}: no Chinese text"
        assert len(WORD.findall(prose)) >= 3, f"{where}: no English text"


@pytest.mark.parametrize("addon", ADDONS, ids=addon_id)
def test_admin_guide_has_no_project_history(addon):
    text = (addon / "README.rst").read_text(encoding="utf-8")
    for word in (
        "issue 2",
        "issue 3",
        "Status\n======",
        "before/after",
        "earlier session",
        "bin/test",
        "bin/demo",
    ):
        assert word not in text, word


def development_commands():
    """The commands of the literal blocks of the repository README's Development section."""
    tree = doctree(ROOT / "README.rst")
    for section in tree.findall(docutils.nodes.section):
        if section[0].astext().startswith("Development"):
            return [
                line.split()[0]
                for block in section.findall(docutils.nodes.literal_block)
                for line in block.astext().splitlines()
                if line.strip()
            ]
    raise AssertionError("README.rst has no Development section")


def test_root_readme_gives_the_two_commands_and_they_exist():
    commands = development_commands()
    assert commands == ["bin/demo", "bin/test"]
    for command in commands:
        assert (ROOT / command).is_file() and os.access(ROOT / command, os.X_OK), command


def test_root_readme_points_at_files_that_exist():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    paths = set(
        re.findall(r"(?<![\w/.])((?:bin|docs|tools|\.ci)/[\w.-]+|ziqi_dingtalk\w*/README\.rst)", text)
    )
    assert {
        "ziqi_dingtalk/README.rst",
        "ziqi_dingtalk_approval/README.rst",
        "docs/benchmarks.md",
        "docs/design.md",
        "docs/sandbox.md",
    } <= paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"README.rst names files that do not exist: {missing}"
