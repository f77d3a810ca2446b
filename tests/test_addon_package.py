"""The addon as Odoo's community packages its addons: the wheel odoo-addon-isanet_gocardless
(whool, isanet_gocardless/pyproject.toml), and its README and Apps page made from readme/."""

from __future__ import annotations

import ast
import email.parser
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "isanet_gocardless"
sys.path.insert(0, str(ROOT))

from tools import addon_readme  # noqa: E402

MANIFEST = ast.literal_eval((ADDON / "__manifest__.py").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from the addon's folder (its files tracked by git)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            str(ADDON),
            "-w",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    (path,) = out.glob("*.whl")
    return path


def test_wheel_name_and_version_from_the_manifest(wheel):
    assert MANIFEST["version"].startswith("18.0.")
    assert wheel.name == f"odoo_addon_isanet_gocardless-{MANIFEST['version']}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(
            f"odoo_addon_isanet_gocardless-{MANIFEST['version']}.dist-info/METADATA"
        ).decode()
    headers = email.parser.HeaderParser().parsestr(meta)
    assert headers["Name"] == "odoo-addon-isanet_gocardless"
    assert headers["Version"] == MANIFEST["version"]
    assert headers["License"] == MANIFEST["license"]
    assert headers["Description-Content-Type"] == "text/markdown"
    # Odoo 18.0 and the manifest's Python dependencies, with requirements.txt's ranges.
    pinned = {
        line.split(";")[0].replace(" ", "")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert set(headers.get_all("Requires-Dist")) == {"odoo==18.0.*", *pinned}
    names = {re.split(r"[<>=!~]", requirement)[0] for requirement in pinned}
    assert {name.replace("_", "-") for name in MANIFEST["external_dependencies"]["python"]} == {
        name.lower().replace("_", "-") for name in names
    }


def test_manifest_dependencies_load_without_packaging():
    """Odoo 18 parses a version range in external_dependencies only when `packaging` is
    installed (not one of its requirements): plain names, else the addon cannot install."""
    for name in MANIFEST["external_dependencies"]["python"]:
        assert re.fullmatch(r"\w+", name), name


def test_wheel_holds_the_addon_in_odoos_namespace(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    prefix = "odoo/addons/isanet_gocardless/"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ADDON, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {prefix + name for name in tracked if name != "pyproject.toml"}
    assert {name for name in names if name.startswith(prefix)} == expected
    for name in (
        "__manifest__.py",
        "__init__.py",
        "gocardless_core/__init__.py",
        "i18n/fr.po",
        "static/description/index.html",
        "static/description/icon.png",
        "README.md",
    ):
        assert prefix + name in names, name
    # Nothing else: no stray module at the top, no build or cache files.
    assert all(name.startswith((prefix, "odoo_addon_isanet_gocardless-")) for name in names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_readme_and_apps_page_are_made_from_the_fragments():
    """README.md, index.html and its screenshots are the generator's output (else: run
    python3 tools/addon_readme.py)."""
    files = addon_readme.outputs()
    assert addon_readme.stale(files) == []
    for fragment in ("DESCRIPTION", "CONFIGURE", "USAGE", "HISTORY"):
        assert (ADDON / "readme" / f"{fragment}.md").exists()


def test_apps_page_shows_the_icon_and_screenshots_of_the_addon():
    page = (ADDON / "static" / "description" / "index.html").read_text()
    assert '<img src="icon.png"' in page and MANIFEST["name"] in page
    images = addon_readme.screenshots(
        "\n".join(text for _n, _t, text in addon_readme.fragments(ADDON))
    )
    assert images  # the fragments show screenshots
    for name in images:
        assert f'src="screenshots/{name}"' in page
        copy = ADDON / "static" / "description" / "screenshots" / name
        assert copy.read_bytes() == (ROOT / "docs" / "screenshots" / name).read_bytes()
    for section in ("Configuration", "Usage", "Changelog", "Credits"):
        assert f'id="{section.lower()}">{section}</h2>' in page
    readme = (ADDON / "README.md").read_text()
    assert "](static/description/screenshots/" in readme and "../static" not in readme


def test_generator_check_mode_names_a_stale_file(tmp_path):
    addon = tmp_path / "isanet_gocardless"
    (addon / "readme").mkdir(parents=True)
    (addon / "__manifest__.py").write_text(
        "{'name': 'X', 'version': '18.0.1.0.0', 'license': 'LGPL-3', 'author': 'A, B'}"
    )
    (addon / "readme" / "DESCRIPTION.md").write_text("What it does.\n\n# Part\n\n```\n# kept\n```")
    (addon / "readme" / "USAGE.md").write_text("Use it.\n\n## Step")
    files = addon_readme.outputs(tmp_path, "isanet_gocardless")
    readme = files[addon / "README.md"].decode()
    assert "## Part" in readme and "# kept" in readme  # headings demoted, code untouched
    assert "## Usage\n\nUse it.\n\n### Step" in readme
    assert "- A\n- B" in readme and "[Usage](#usage)" in readme
    assert addon_readme.stale(files) == list(files)
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    assert addon_readme.stale(addon_readme.outputs(tmp_path, "isanet_gocardless")) == []
