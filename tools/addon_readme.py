"""Make the addon's README.md and its Apps page (static/description/index.html) from the
fragments of isanet_gocardless/readme/, as Odoo's community does for its addons
(oca-gen-addon-readme): DESCRIPTION, then CONTEXT, INSTALL, CONFIGURE, USAGE, ROADMAP,
DEVELOP, HISTORY, CONTRIBUTORS and CREDITS when present, and the manifest's name, version,
license and authors.

Images: a fragment shows an image of the addon as ``../static/description/...`` (relative to
the fragment); a screenshot ``static/description/screenshots/NAME`` is a copy of
``docs/screenshots/NAME`` (the browser test's), made here.

    python3 tools/addon_readme.py            # write the files
    python3 tools/addon_readme.py --check    # exit 1, naming them, when a file is not current

Needs markdown-it-py (requirements-dev.txt), not Odoo.
"""

from __future__ import annotations

import argparse
import ast
import html
import re
import sys
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
ADDON = "isanet_gocardless"
SCREENSHOTS = ROOT / "docs" / "screenshots"
# OCA's fragments, in their order, with the title of their section (DESCRIPTION has none).
FRAGMENTS = (
    ("DESCRIPTION", None),
    ("CONTEXT", "Context"),
    ("INSTALL", "Installation"),
    ("CONFIGURE", "Configuration"),
    ("USAGE", "Usage"),
    ("ROADMAP", "Known issues / Roadmap"),
    ("DEVELOP", "Development"),
    ("HISTORY", "Changelog"),
    ("CONTRIBUTORS", "Contributors"),
    ("CREDITS", "Other credits"),
)
LICENSES = {
    "LGPL-3": "https://www.gnu.org/licenses/lgpl-3.0-standalone.html",
    "AGPL-3": "https://www.gnu.org/licenses/agpl-3.0-standalone.html",
    "GPL-3": "https://www.gnu.org/licenses/gpl-3.0-standalone.html",
}
GENERATED = (
    "<!-- Made by tools/addon_readme.py from the fragments of readme/: edit those, then run it. -->"
)
IMAGE_PREFIX = "../static/description/"
HEADING = re.compile(r"^(#{1,5}) ", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529;
       max-width: 60rem; margin: 0 auto; padding: 1rem; line-height: 1.5; }
header { display: flex; align-items: center; gap: 1rem; }
header img { width: 80px; height: 80px; }
.meta { color: #6c757d; }
img { max-width: 100%; border: 1px solid #dee2e6; }
header img { border: 0; }
code { background: #f1f3f5; padding: 0 .2em; border-radius: 3px; }
"""


def manifest(addon_dir):
    return ast.literal_eval((Path(addon_dir) / "__manifest__.py").read_text())


def fragments(addon_dir):
    """The fragments present, in order: (name, section title, text)."""
    found = []
    for name, title in FRAGMENTS:
        path = Path(addon_dir) / "readme" / f"{name}.md"
        if path.exists():
            found.append((name, title, path.read_text().strip()))
    return found


def demote(text, levels=1):
    """The fragment's headings one level down (its sections sit under the README's), code
    blocks untouched."""
    parts, last = [], 0
    for fence in FENCE.finditer(text):
        parts.append(
            HEADING.sub(lambda m: "#" * (len(m[1]) + levels) + " ", text[last : fence.start()])
        )
        parts.append(fence[0])
        last = fence.end()
    parts.append(HEADING.sub(lambda m: "#" * (len(m[1]) + levels) + " ", text[last:]))
    return "".join(parts)


def slug(title):
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def package_name(addon=ADDON):
    return f"odoo-addon-{addon}"


def readme_markdown(addon_dir, image_prefix):
    """The README's Markdown, images under ``image_prefix`` (the README's own folder's view
    of static/description/)."""
    info = manifest(addon_dir)
    parts = fragments(addon_dir)
    license_name = info.get("license", "LGPL-3")
    license_link = (
        f"[{license_name}]({LICENSES[license_name]})" if license_name in LICENSES else license_name
    )
    lines = [
        f"# {info['name']}",
        "",
        f"**Version** {info['version']} · **License** {license_link} · "
        f"**Odoo** {'.'.join(info['version'].split('.')[:2])} · "
        f"**Package** `{package_name(Path(addon_dir).name)}`",
        "",
    ]
    if info.get("summary"):
        lines += [info["summary"], ""]
    sections = [(title, text) for _name, title, text in parts if title]
    lines += [demote(text) + "\n" for _name, title, text in parts if not title]
    if sections:
        lines += ["**Table of contents**", ""]
        lines += [f"- [{title}](#{slug(title)})" for title, _text in sections]
        lines += ["- [Credits](#credits)", ""]
    for title, text in sections:
        lines += [f"## {title}", "", demote(text), ""]
    authors = [a.strip() for a in info.get("author", "").split(",") if a.strip()]
    lines += ["## Credits", "", "### Authors", ""]
    lines += [f"- {author}" for author in authors]
    text = "\n".join(lines).rstrip() + "\n"
    return text.replace(f"]({IMAGE_PREFIX}", f"]({image_prefix}")


def render_html(markdown_text, info):
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown_text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            token.attrSet("id", slug(tokens[index + 1].content))
    body = md.renderer.render(tokens, md.options, {})
    title = html.escape(info["name"])
    # The first heading becomes the page's header, beside the icon.
    body = re.sub(r"^<h1[^>]*>.*?</h1>\n", "", body, count=1)
    return (
        "<!DOCTYPE html>\n"
        f"{GENERATED}\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<header><img src="icon.png" alt=""><h1>{title}</h1></header>\n'
        f"{body}</body>\n</html>\n"
    )


def screenshots(text):
    """The screenshot files the README shows (names under static/description/screenshots/)."""
    return sorted(
        set(re.findall(r"\]\(" + re.escape(IMAGE_PREFIX) + r"screenshots/([^)\s]+)\)", text))
    )


def outputs(root=ROOT, addon=ADDON):
    """Every file this makes: {path: bytes}."""
    addon_dir = Path(root) / addon
    info = manifest(addon_dir)
    source = readme_markdown(addon_dir, IMAGE_PREFIX)
    files = {
        addon_dir / "README.md": (
            GENERATED + "\n\n" + readme_markdown(addon_dir, "static/description/")
        ).encode(),
        addon_dir / "static" / "description" / "index.html": render_html(
            readme_markdown(addon_dir, ""), info
        ).encode(),
    }
    for name in screenshots(source):
        origin = Path(root) / "docs" / "screenshots" / name
        if not origin.exists():
            raise SystemExit(f"readme/: the screenshot {name} is not in docs/screenshots/")
        files[addon_dir / "static" / "description" / "screenshots" / name] = origin.read_bytes()
    return files


def stale(files):
    return [
        path for path, content in files.items() if not path.exists() or path.read_bytes() != content
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the files are current")
    args = parser.parse_args(argv)
    files = outputs()
    changed = stale(files)
    if args.check:
        for path in changed:
            print(f"{path.relative_to(ROOT)} is not current: python3 tools/addon_readme.py")
        return 1 if changed else 0
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
