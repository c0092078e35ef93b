"""The WordPress companion plugin as an installable zip, built from integrations/woocommerce/wordpress-plugin.

WordPress's "Upload Plugin" wants one top-level folder named after the plugin, so every entry sits under
``backsoon/``. The plugin's own tests stay out. Entries carry a fixed timestamp and are sorted, so the same plugin
files always give the same bytes (a release zip can be checked against a download).

``python -m app.services.merchant.plugin_zip dist/backsoon-woocommerce.zip`` writes the same zip to a file.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

__all__ = ["FILENAME", "PLUGIN_DIR", "TOP_FOLDER", "build_zip", "plugin_files"]

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "integrations" / "woocommerce" / "wordpress-plugin"
TOP_FOLDER = "backsoon"
FILENAME = "backsoon-woocommerce.zip"
_EXCLUDED_DIRS = frozenset({"tests"})
_FIXED_TIME = (2026, 1, 1, 0, 0, 0)


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """The plugin's files to ship, relative to its folder, sorted; tests and hidden files left out."""
    files = []
    for path in plugin_dir.rglob("*"):
        rel = path.relative_to(plugin_dir)
        if not path.is_file() or rel.parts[0] in _EXCLUDED_DIRS or any(p.startswith(".") for p in rel.parts):
            continue
        files.append(rel)
    return sorted(files, key=lambda p: p.as_posix())


def build_zip(plugin_dir: Path = PLUGIN_DIR) -> bytes:
    """The installable plugin zip, built in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in plugin_files(plugin_dir):
            info = zipfile.ZipInfo(f"{TOP_FOLDER}/{rel.as_posix()}", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (plugin_dir / rel).read_bytes())
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    """Write the zip to the path given (default dist/backsoon-woocommerce.zip)."""
    target = Path(argv[0]) if argv else Path("dist") / FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(build_zip())
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
