"""Render an addon's README.rst from its readme/ fragments, the way OCA's oca-gen-addon-readme does.

    python tools/render_readme.py            # write the README.rst of every addon that has a readme/
    python tools/render_readme.py --check    # exit 1 when one of them is not up to date
    python tools/render_readme.py --addon-dir ziqi_dingtalk_approval    # one addon only

The addons are the directories of the repository holding a ``__manifest__.py`` and a ``readme/`` folder.

The title comes from the manifest's ``name``, then its ``summary``, the badges (licence, maturity when the
manifest gives ``development_status``, the GitHub repository when ``website`` is one), the DESCRIPTION
fragment (no heading), a table of contents, then one section per fragment in OCA's order, with two
fragments OCA does not have (TROUBLESHOOTING, SECURITY) after USAGE, and last Bug Tracker and Credits
(Authors from the manifest, the CONTRIBUTORS and CREDITS fragments, Maintainers).

Fragments are reStructuredText; their own subsections are underlined with ``~`` (then ``^``), since
``=`` is taken by the sections this script writes. Plain Python standard library only.
"""

import argparse
import ast
import difflib
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON_DIR = ROOT / "ziqi_dingtalk"
FRAGMENTS_DIR = "readme"

# (fragment, section title): OCA's order; TROUBLESHOOTING and SECURITY are this project's own
SECTIONS = (
    ("CONTEXT", "Use Cases / Context / 使用场景"),
    ("INSTALL", "Installation / 安装"),
    ("CONFIGURE", "Configuration / 配置"),
    ("USAGE", "Usage / 使用"),
    ("TROUBLESHOOTING", "Troubleshooting / 故障排除"),
    ("SECURITY", "Security / 安全"),
    ("DEVELOP", "Development / 开发"),
    ("ROADMAP", "Known issues / Roadmap / 已知问题与路线图"),
    ("HISTORY", "Changelog / 更新日志"),
)
CREDIT_FRAGMENTS = (("CONTRIBUTORS", "Contributors / 贡献者"), ("CREDITS", "Other credits / 其他致谢"))
FRAGMENTS = (
    "DESCRIPTION",
    *(name for name, _title in SECTIONS),
    *(name for name, _title in CREDIT_FRAGMENTS),
)
LEVEL3 = "~"  # oca-gen-addon-readme's level3_underline for .rst fragments

LICENSE_BADGES = {
    "AGPL-3": ("licence-AGPL--3-blue", "http://www.gnu.org/licenses/agpl-3.0-standalone.html"),
    "LGPL-3": ("licence-LGPL--3-blue", "http://www.gnu.org/licenses/lgpl-3.0-standalone.html"),
    "GPL-3": ("licence-GPL--3-blue", "http://www.gnu.org/licenses/gpl-3.0-standalone.html"),
}
MATURITY_BADGES = {
    "alpha": ("maturity-Alpha-red", "Alpha"),
    "beta": ("maturity-Beta-yellow", "Beta"),
    "production/stable": ("maturity-Production%2FStable-green", "Production/Stable"),
    "mature": ("maturity-Mature-brightgreen", "Mature"),
}
GITHUB_RE = re.compile(r"^https?://github\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+?)/?$")


def addon_dirs(root=ROOT):
    """The addons of the repository that have README fragments, by name."""
    return sorted(
        path
        for path in Path(root).iterdir()
        if (path / "__manifest__.py").is_file() and (path / FRAGMENTS_DIR).is_dir()
    )


class ReadmeError(Exception):
    """The fragments or the manifest cannot be rendered (the message says why)."""


def width(text):
    """Display width as docutils measures a title: East Asian wide characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def heading(title, char, overline=False):
    line = char * width(title)
    return [line, title, line] if overline else [title, line]


def read_manifest(addon_dir):
    path = addon_dir / "__manifest__.py"
    try:
        return ast.literal_eval(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError) as error:
        raise ReadmeError(f"cannot read the manifest {path}: {error}") from None


def read_fragments(addon_dir):
    """{fragment name: its text, ending with one newline}; unknown or non-.rst files are an error, so that a
    misnamed fragment is never left out silently."""
    folder = addon_dir / FRAGMENTS_DIR
    if not folder.is_dir():
        raise ReadmeError(f"no fragments folder {folder}")
    fragments = {}
    for path in sorted(folder.iterdir()):
        name = path.stem
        if path.suffix != ".rst" or name not in FRAGMENTS:
            known = ", ".join(f"{fragment}.rst" for fragment in FRAGMENTS)
            raise ReadmeError(f"{path}: not a fragment this renderer knows (one of {known})")
        text = "\n".join(line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()).strip("\n")
        if text:
            fragments[name] = text + "\n"
    if "DESCRIPTION" not in fragments:
        raise ReadmeError(f"{folder / 'DESCRIPTION.rst'} is missing or empty")
    return fragments


def escape(text):
    """Plain text safe inside reStructuredText inline markup."""
    return re.sub(r"([\\*`|_])", r"\\\1", text)


def github_repo(manifest):
    match = GITHUB_RE.match(manifest.get("website") or "")
    return (match["org"], match["repo"]) if match else None


def badges(manifest, addon_name):
    found = []
    license_badge = LICENSE_BADGES.get(manifest.get("license"))
    if license_badge:
        found.append(
            (
                f"https://img.shields.io/badge/{license_badge[0]}.png",
                license_badge[1],
                f"License: {manifest['license']}",
            )
        )
    status = MATURITY_BADGES.get((manifest.get("development_status") or "").lower())
    if status:
        found.append(
            (
                f"https://img.shields.io/badge/{status[0]}.png",
                "https://odoo-community.org/page/development-status",
                status[1],
            )
        )
    repo = github_repo(manifest)
    if repo:
        org, name = repo
        found.append(
            (
                f"https://img.shields.io/badge/github-{org.replace('-', '--')}%2F{name.replace('-', '--')}"
                "-lightgray.png?logo=github",
                f"https://github.com/{org}/{name}/tree/HEAD/{addon_name}",
                f"{org}/{name}",
            )
        )
    lines = []
    for index, (image, target, alt) in enumerate(found, 1):
        lines += [f".. |badge{index}| image:: {image}", f"    :target: {target}", f"    :alt: {alt}"]
    if found:
        lines += ["", " ".join(f"|badge{index}|" for index in range(1, len(found) + 1))]
    return lines


def bug_tracker(manifest, addon_name):
    repo = github_repo(manifest)
    lines = [*heading("Bug Tracker / 问题反馈", "="), ""]
    if repo:
        issues = f"https://github.com/{repo[0]}/{repo[1]}/issues"
        lines += [
            f"Bugs are tracked on `GitHub Issues <{issues}>`_.",
            "In case of trouble, please check there if your issue has already been reported. If you",
            f"spotted it first, please open an issue with the addon (``{addon_name}``), the Odoo version",
            "and the steps to reproduce.",
            "",
            f"问题在 `GitHub Issues <{issues}>`__ 上跟踪。",
            "遇到问题时，请先查看是否已有人报告；如果是新问题，请提交一个 issue，",
            f"写明模块（``{addon_name}``）、Odoo 版本和重现步骤。",
        ]
    else:
        lines += [
            "Report bugs to the addon's authors (see *Credits*), with the Odoo version and the steps to",
            "reproduce.",
            "",
            "请将问题报告给模块作者（见“致谢”），并写明 Odoo 版本和重现步骤。",
        ]
    return [*lines, ""]


def credits_section(manifest, fragments, addon_name):
    lines = [*heading("Credits / 致谢", "="), ""]
    authors = [author.strip() for author in (manifest.get("author") or "").split(",") if author.strip()]
    if authors:
        lines += [*heading("Authors / 作者", LEVEL3), "", *(f"* {author}" for author in authors), ""]
    for name, title in CREDIT_FRAGMENTS:
        if name in fragments:
            lines += [*heading(title, LEVEL3), "", *fragments[name].splitlines(), ""]
    maintainers = manifest.get("maintainers") or []
    repo = github_repo(manifest)
    if maintainers or repo:
        lines += [*heading("Maintainers / 维护者", LEVEL3), ""]
        if maintainers:
            lines += [f"Current maintainers / 当前维护者: {', '.join(maintainers)}", ""]
        if repo:
            url = f"https://github.com/{repo[0]}/{repo[1]}"
            lines += [
                f"This module is part of the `{repo[0]}/{repo[1]} <{url}>`_ project on GitHub.",
                "You are welcome to contribute.",
                "",
                f"本模块属于 GitHub 上的 `{repo[0]}/{repo[1]} <{url}>`__ 项目，欢迎参与贡献。",
                "",
            ]
    return lines


def render(addon_dir=ADDON_DIR):
    """The README.rst text the fragments and the manifest of ``addon_dir`` render to."""
    addon_dir = Path(addon_dir)
    manifest = read_manifest(addon_dir)
    fragments = read_fragments(addon_dir)
    addon_name = addon_dir.resolve().name
    name = manifest.get("name") or addon_name
    lines = [
        *heading(name, "=", overline=True),
        "",
        "..",
        "   !! This file is generated by tools/render_readme.py from readme/*.rst and __manifest__.py:",
        "   !! edit those, then run tools/render_readme.py; changes made here are overwritten.",
        "",
    ]
    badge_lines = badges(manifest, addon_name)
    if badge_lines:
        lines += [*badge_lines, ""]
    if manifest.get("summary"):
        lines += [f"**{escape(manifest['summary'].strip())}**", ""]
    lines += [*fragments["DESCRIPTION"].splitlines(), ""]
    lines += ["**Table of contents / 目录**", "", ".. contents::", "   :local:", ""]
    for fragment, title in SECTIONS:
        if fragment in fragments:
            lines += [*heading(title, "="), "", *fragments[fragment].splitlines(), ""]
    lines += bug_tracker(manifest, addon_name)
    lines += credits_section(manifest, fragments, addon_name)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: exit 1 if a README.rst is not what the fragments render to",
    )
    parser.add_argument(
        "--addon-dir",
        type=Path,
        action="append",
        help="an addon (may be repeated; default: every addon of the repository with a readme/ folder)",
    )
    args = parser.parse_args(argv)
    addons = args.addon_dir or addon_dirs()
    if not addons:
        print(f"error: no addon with a {FRAGMENTS_DIR}/ folder under {ROOT}", file=sys.stderr)
        return 2
    return max(write_or_check(addon_dir, args.check) for addon_dir in addons)


def write_or_check(addon_dir, check):
    """0 when ``addon_dir``'s README.rst is (now) what its fragments render to, 1 when ``check`` finds it
    stale, 2 when it cannot be rendered."""
    addon_dir = Path(addon_dir)
    readme = addon_dir / "README.rst"
    try:
        text = render(addon_dir)
    except ReadmeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        shown = readme.resolve().relative_to(ROOT)
    except ValueError:
        shown = readme
    if check:
        current = readme.read_text(encoding="utf-8") if readme.is_file() else None
        if current == text:
            print(f"{shown} is up to date")
            return 0
        why = "is missing" if current is None else "is not what its readme/ fragments render to"
        print(
            f"error: {shown} {why}: run tools/render_readme.py and commit the result "
            f"(edit {addon_dir.resolve().name}/readme/*.rst, never README.rst itself).",
            file=sys.stderr,
        )
        if current is not None:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    f"{shown} (committed)",
                    f"{shown} (rendered)",
                    lineterm="",
                )
            )
            sys.stderr.write("\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else "") + "\n")
        return 1
    if readme.is_file() and readme.read_text(encoding="utf-8") == text:
        print(f"{shown} is up to date")
    else:
        readme.write_text(text, encoding="utf-8")
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
