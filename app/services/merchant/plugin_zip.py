"""The WordPress plugin as the zip a merchant uploads: the plugin folder under ``backsoon/``, without tests or dotfiles.

The bytes depend only on the files' paths and contents: entries are sorted, dated 1980-01-01 (the earliest a zip can
say), and carry fixed permissions, so two builds of one checkout are identical and a download can be compared with
a build. ``make plugin-zip`` writes ``dist/backsoon-woocommerce.zip`` through ``python -m`` this module.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import integrations.woocommerce

PLUGIN_DIR = Path(integrations.woocommerce.__file__).resolve().parent / "wordpress-plugin"
ZIP_NAME = "backsoon-woocommerce.zip"
FOLDER = "backsoon"  # WordPress installs the plugin as wp-content/plugins/backsoon/
MAIN_FILE = "backsoon.php"
EXCLUDED_DIRS = frozenset({"tests"})
_EPOCH = (1980, 1, 1, 0, 0, 0)
_MODE = 0o100644  # a regular file, rw-r--r--


def plugin_files(root: Path = PLUGIN_DIR) -> Iterator[tuple[str, Path]]:
    """(path inside the plugin, file) for every file that ships, sorted by path."""
    found: list[tuple[str, Path]] = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or rel.parts[0] in EXCLUDED_DIRS:
            continue
        # A symlink could pull in a file from outside the plugin.
        if path.is_symlink() or not path.is_file():
            continue
        found.append((rel.as_posix(), path))
    yield from sorted(found)


def build_plugin_zip(root: Path = PLUGIN_DIR) -> bytes:
    """The plugin zip's bytes, identical for identical files."""
    if not (root / MAIN_FILE).is_file():
        raise FileNotFoundError(f"no WordPress plugin at {root} ({MAIN_FILE} is missing)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in plugin_files(root):
            info = zipfile.ZipInfo(f"{FOLDER}/{name}", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _MODE << 16
            info.create_system = 3  # Unix, so unzip applies the mode above
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the plugin zip to the path given (``dist/backsoon-woocommerce.zip`` by default)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        print("usage: python -m app.services.merchant.plugin_zip [OUTPUT.zip]", file=sys.stderr)
        return 2
    target = Path(args[0] if args else f"dist/{ZIP_NAME}")
    target.parent.mkdir(parents=True, exist_ok=True)
    data = build_plugin_zip()
    target.write_bytes(data)
    print(f"wrote {target} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
