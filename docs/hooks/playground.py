"""MkDocs hook: the playground, where the guide's published model runs in the reader's browser.

* The published run is the first of `PUBLISHED_RUNS` whose folder in `minigpt/runs/` holds
  `model.safetensors` (written by `minigpt publish`). Its weights are checked against the
  SHA-256 in its `run.json` and exported to ONNX with `minigpt.onnx_export` into
  `.cache/playground/<key>/` (once per weights, package code and PyTorch version; never
  committed). The site gets `assets/playground/<run>.onnx` and `assets/playground/model.json`:
  the run's name, model configuration, tokenizer, step and validation loss.
* A page holding `<div class="minigpt-playground">` gets the playground's stylesheet and
  `javascripts/playground.js` at the end of its content, so that Material's instant navigation
  loads them too; the div gets the URLs of the model and of ONNX Runtime Web's files (served
  by docs/hooks/vendor.py), relative to the page, and the script loads both. Other pages load
  nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

log = get_plugin_logger("playground")

PUBLISHED_RUNS = ("shakespeare-char", "shakespeare-char-cpu")  # the GPU run first, once it exists
SITE_FOLDER = "assets/playground"
MANIFEST = f"{SITE_FOLDER}/model.json"
RUNTIME = "assets/vendor/onnxruntime-web"  # see docs/vendor/package.json
PLACEHOLDER = re.compile(r'<div class="minigpt-playground"')


def published_run(root: Path) -> Path:
    for name in PUBLISHED_RUNS:
        folder = root / "minigpt" / "runs" / name
        if (folder / "model.safetensors").is_file():
            return folder
    raise PluginError(
        "the playground needs a published run: none of minigpt/runs/{"
        + ",".join(PUBLISHED_RUNS)
        + "} holds model.safetensors (write it with minigpt publish)"
    )


def export_key(weights_sha256: str, root: Path) -> str:
    """Changes with the weights, the package's model code and the PyTorch version."""
    import torch

    digest = hashlib.sha256(f"{weights_sha256} {torch.__version__}".encode())
    for source in sorted((root / "minigpt").glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def build_model_files(root: Path) -> dict[str, Path]:
    """Site path -> file: the ONNX graph and the manifest, exported when not cached."""
    from minigpt.training.publish import load_published_model, verified_weights

    folder = published_run(root)
    _, weights = verified_weights(folder)
    target = root / ".cache" / "playground" / export_key(weights["sha256"], root)
    onnx_name = f"{folder.name}.onnx"
    manifest_path = target / "model.json"
    if not manifest_path.is_file():
        from minigpt.onnx_export import INPUT_NAMES, OUTPUT_NAMES, export_onnx

        log.info("exporting %s to ONNX into %s", folder, target)
        model, tokenizer = load_published_model(folder)
        export_onnx(model, target / onnx_name)
        summary = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        manifest = {
            "run": folder.name,
            "onnx": onnx_name,
            "onnx_bytes": (target / onnx_name).stat().st_size,
            "inputs": list(INPUT_NAMES),
            "outputs": list(OUTPUT_NAMES),
            "model_config": model.config.to_dict(),
            "tokenizer": tokenizer.to_dict(),
            "num_parameters": model.num_parameters(),
            "step": weights["step"],
            "val_loss": summary.get("final_val_loss"),
            "weights_sha256": weights["sha256"],
        }
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False) + "\n", "utf-8")
    return {f"{SITE_FOLDER}/{onnx_name}": target / onnx_name, MANIFEST: manifest_path}


def on_files(files, config):
    root = Path(config.config_file_path).resolve().parent  # on sys.path: see environment.py
    for dest, path in build_model_files(root).items():
        files.append(File.generated(config, dest, abs_src_path=str(path)))
    return files


def on_page_content(html, page, config, files):
    if not PLACEHOLDER.search(html):
        return html
    here = page.file.url

    def url(path: str) -> str:
        return get_relative_url(path, here)

    attributes = f' data-model="{url(MANIFEST)}" data-runtime="{url(RUNTIME)}/"'
    html = PLACEHOLDER.sub(lambda m: m.group(0) + attributes, html, count=1)
    return (
        html
        + f'\n<link rel="stylesheet" href="{url("stylesheets/playground.css")}">'
        + f'\n<script src="{url("javascripts/playground.js")}"></script>\n'
    )
