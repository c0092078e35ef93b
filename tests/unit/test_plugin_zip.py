"""The plugin zip: the plugin under backsoon/, no tests or dotfiles, and the same bytes for the same files."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.services.merchant import plugin_zip
from app.services.merchant.plugin_zip import PLUGIN_DIR, build_plugin_zip

SHIPPED = [
    "backsoon/assets/backsoon-variations.js",
    "backsoon/backsoon.php",
    "backsoon/includes/class-backsoon-frontend.php",
    "backsoon/includes/class-backsoon-plugin.php",
    "backsoon/includes/class-backsoon-privacy.php",
    "backsoon/includes/class-backsoon-settings.php",
    "backsoon/includes/class-backsoon-state.php",
]


def _open(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_the_zip_holds_the_plugin_under_its_folder_and_no_tests() -> None:
    archive = _open(build_plugin_zip())
    assert archive.namelist() == SHIPPED
    assert archive.read("backsoon/backsoon.php") == (PLUGIN_DIR / "backsoon.php").read_bytes()
    assert b"Plugin Name:          BackSoon" in archive.read("backsoon/backsoon.php")
    assert archive.testzip() is None
    for info in archive.infolist():
        assert (info.date_time, info.external_attr >> 16, info.compress_type) == (
            (1980, 1, 1, 0, 0, 0),
            0o100644,
            zipfile.ZIP_DEFLATED,
        )
    # The checkout does hold tests; they are left out, not absent.
    assert (PLUGIN_DIR / "tests" / "run.sh").is_file()


def test_two_builds_are_byte_identical() -> None:
    assert build_plugin_zip() == build_plugin_zip()


def test_timestamps_tests_dotfiles_and_symlinks_do_not_change_the_bytes(tmp_path: Path) -> None:
    copy = tmp_path / "wordpress-plugin"
    shutil.copytree(PLUGIN_DIR, copy)
    for path in copy.rglob("*"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    (copy / ".DS_Store").write_bytes(b"\x00\x01")
    (copy / ".git").mkdir()
    (copy / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (copy / "includes" / ".env").write_text("SECRET=1\n")
    (copy / "tests" / "test-extra.php").write_text("<?php echo 'ok';\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the plugin\n")
    (copy / "includes" / "linked.txt").symlink_to(outside)

    assert build_plugin_zip(copy) == build_plugin_zip()


def test_a_changed_file_changes_the_bytes(tmp_path: Path) -> None:
    copy = tmp_path / "wordpress-plugin"
    shutil.copytree(PLUGIN_DIR, copy)
    (copy / "assets" / "backsoon-variations.js").write_text("/* changed */\n")
    changed = build_plugin_zip(copy)
    assert changed != build_plugin_zip()
    assert _open(changed).read("backsoon/assets/backsoon-variations.js") == b"/* changed */\n"


def test_a_folder_without_the_main_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        build_plugin_zip(tmp_path)
    assert str(info.value) == f"no WordPress plugin at {tmp_path} (backsoon.php is missing)"


def test_the_command_writes_the_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "dist" / "backsoon-woocommerce.zip"
    assert plugin_zip.main([str(target)]) == 0
    assert target.read_bytes() == build_plugin_zip()
    assert capsys.readouterr().out == f"wrote {target} ({target.stat().st_size} bytes)\n"
    assert plugin_zip.main([str(target), "extra"]) == 2


def test_python_dash_m_writes_the_zip_as_make_plugin_zip_does(tmp_path: Path) -> None:
    target = tmp_path / "backsoon-woocommerce.zip"
    done = subprocess.run(
        [sys.executable, "-m", "app.services.merchant.plugin_zip", str(target)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # the plugin is found from the package, not the working directory
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert target.read_bytes() == build_plugin_zip()
