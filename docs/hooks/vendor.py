"""MkDocs hook: serve the browser libraries the guide needs from the site itself.

The libraries (MathJax, mermaid, ONNX Runtime Web) are pinned to exact versions in
`docs/vendor/package.json` and `docs/vendor/package-lock.json`. At build time this hook
installs them from the npm registry with `npm ci` into `.cache/vendor/<lockfile hash>/` (once
per lockfile; never committed) and adds the files that `package.json` lists under
`minigpt.site_files` to the site:

    "site_files": [{"from": "mathjax", "include": ["tex-mml-chtml.js"],
                    "to": "assets/vendor/mathjax"}]

copies `node_modules/mathjax/tex-mml-chtml.js` to `assets/vendor/mathjax/tex-mml-chtml.js`
(`include` entries are globs relative to `from`; their relative paths are kept). So the built
site makes no request to another origin. Without npm the build fails and says what to install.
MINIGPT_VENDOR_DIR=DIR uses an existing install (a folder holding `node_modules/`) instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File

log = get_plugin_logger("vendor")

SOURCE = Path("docs") / "vendor"  # package.json and package-lock.json, relative to the repo


def vendor_manifest(root: Path) -> dict:
    """The `minigpt` section of docs/vendor/package.json."""
    package = json.loads((root / SOURCE / "package.json").read_text(encoding="utf-8"))
    return package.get("minigpt", {})


def install(root: Path) -> Path:
    """The `node_modules` folder holding exactly the locked packages, installing it if needed."""
    if os.environ.get("MINIGPT_VENDOR_DIR"):
        modules = Path(os.environ["MINIGPT_VENDOR_DIR"]).expanduser() / "node_modules"
        if not modules.is_dir():
            raise PluginError(f"MINIGPT_VENDOR_DIR has no node_modules folder: {modules}")
        return modules
    lock = (root / SOURCE / "package-lock.json").read_bytes()
    target = root / ".cache" / "vendor" / hashlib.sha256(lock).hexdigest()[:16]
    stamp = target / ".installed"
    if stamp.is_file():
        return target / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise PluginError(
            "building the site needs npm (Node.js), which installs the pinned MathJax, mermaid "
            "and ONNX Runtime Web from docs/vendor/package-lock.json; install Node.js and npm "
            "(e.g. apt-get install nodejs npm), or set MINIGPT_VENDOR_DIR to a folder holding "
            "their node_modules"
        )
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(root / SOURCE / name, target / name)
    log.info("installing the site's browser libraries with npm ci into %s", target)
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=target,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise PluginError(f"npm ci failed in {target}:\n{result.stdout}{result.stderr}")
    stamp.write_text("ok\n", encoding="utf-8")
    return target / "node_modules"


def site_files(modules: Path, manifest: dict) -> dict[str, Path]:
    """Site path -> file on disk, for every file the manifest lists."""
    files: dict[str, Path] = {}
    for entry in manifest.get("site_files", []):
        base = modules / entry["from"]
        for pattern in entry["include"]:
            matches = sorted(p for p in base.glob(pattern) if p.is_file())
            if not matches:
                raise PluginError(f"docs/vendor: {entry['from']}/{pattern} matches no file")
            for path in matches:
                files[f"{entry['to']}/{path.relative_to(base).as_posix()}"] = path
    return files


def on_files(files, config):
    root = Path(config.config_file_path).resolve().parent
    modules = install(root)
    for dest, path in site_files(modules, vendor_manifest(root)).items():
        if files.get_file_from_path(dest) is not None:
            raise PluginError(f"{dest} is both a file in docs/ and a vendored library file")
        files.append(File.generated(config, dest, abs_src_path=str(path)))
    return files
