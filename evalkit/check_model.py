"""Does a loaded model reproduce its model card? ``evalkit check-model drama-base``.

The DRAMA card encodes two MIRACL queries and two passages and prints the 2x2 score matrix
at full dimension and at 256 dims; a correct harness reproduces it within 0.002. The numbers
that dpr-scale issue #20 reports for transformers >= 4.53 (``[[0.4585, 0.2432], [0.1273,
0.5092]]``) fail this check, which is what it is for.

:func:`compare_scores` holds the logic and takes any encoder and any expected matrices, so it is
tested on tiny random checkpoints; :func:`check_model` feeds it a registered model and the
card's numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError, ModelError
from evalkit.models.base import Encoder

CARD_QUERIES: tuple[str, ...] = (
    "What percentage of the Earth's atmosphere is oxygen?",
    "意大利首都是哪里？",
)
CARD_DOCUMENTS: tuple[str, ...] = (
    "The amount of oxygen in the atmosphere has fluctuated over the last 600 million years, "
    "reaching a peak of 35% during the Carboniferous period, significantly higher than today's "
    "21%.",
    "羅馬是欧洲国家意大利首都和罗马首都广域市的首府及意大利全国的政治、经济、文化和交通中心，"
    "位于意大利半島中部的台伯河下游平原地，建城初期在七座小山丘上，故又名“七丘之城”。"
    "按城市范围内的人口计算，罗马是意大利人口最多的城市，也是欧盟人口第三多的城市。",
)

Expected = Mapping[int | None, Sequence[Sequence[float]]]
"""Matryoshka dim (``None`` = full) -> expected ``queries x documents`` score matrix."""

CARD_EXPECTED: dict[int | None, list[list[float]]] = {
    None: [[0.5310, 0.0821], [0.1298, 0.6181]],
    256: [[0.6031, 0.1750], [0.2005, 0.7251]],
}
REFERENCE_SCORES: dict[str, dict[int | None, list[list[float]]]] = {"drama-base": CARD_EXPECTED}
"""Models whose card gives example scores (only drama-base's does)."""
TOLERANCE = 0.002


@dataclass
class DimCheck:
    dim: int | None
    expected: list[list[float]]
    got: list[list[float]]
    max_abs_diff: float
    passed: bool


@dataclass
class CheckResult:
    model: str
    tolerance: float
    checks: list[DimCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "passed": self.passed,
            "tolerance": self.tolerance,
            "checks": [c.__dict__ for c in self.checks],
        }


def compare_scores(
    encoder: Encoder,
    expected: Expected,
    *,
    queries: Sequence[str] = CARD_QUERIES,
    documents: Sequence[str] = CARD_DOCUMENTS,
    tolerance: float = TOLERANCE,
    name: str | None = None,
) -> CheckResult:
    """Encode ``queries`` and ``documents`` at each dim of ``expected`` and compare
    ``query_embs @ doc_embs.T`` entry by entry; a dim passes when every entry is within
    ``tolerance``."""
    result = CheckResult(model=name or encoder.spec.name, tolerance=tolerance)
    for dim, exp in expected.items():
        want = np.asarray(exp, dtype=np.float64)
        if want.shape != (len(queries), len(documents)):
            raise EvalkitError(
                f"expected scores for dim {dim or 'full'} have shape {want.shape}, "
                f"need {(len(queries), len(documents))}"
            )
        # the dims of the reference scores are the card's: compare there whatever the spec lists
        q = encoder.encode_queries(list(queries), dim=dim, force_dim=True)
        d = encoder.encode_documents(list(documents), dim=dim, force_dim=True)
        got = q.astype(np.float64) @ d.astype(np.float64).T
        diff = float(np.abs(got - want).max())
        result.checks.append(
            DimCheck(
                dim=dim,
                expected=want.tolist(),
                got=got.tolist(),
                max_abs_diff=diff,
                passed=diff <= tolerance,
            )
        )
    return result


def read_expected(path: str | Path) -> dict[int | None, list[list[float]]]:
    """Expected matrices from JSON: ``{"full": [[...]], "256": [[...]]}``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise EvalkitError(f"--expected {path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise EvalkitError(f"--expected {path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(raw, dict) or not raw:
        raise EvalkitError(f'--expected {path}: expected an object like {{"full": [[...]]}}')
    out: dict[int | None, list[list[float]]] = {}
    for key, matrix in raw.items():
        if key == "full":
            dim = None
        elif str(key).isdigit():
            dim = int(key)
        else:
            raise EvalkitError(f"--expected {path}: key {key!r} is not 'full' or a dimension")
        out[dim] = matrix
    return out


def check_model(
    name: str = "drama-base",
    *,
    local_dir: str | Path | None = None,
    expected: Expected | None = None,
    device: str | None = None,
    dtype: str | None = "float32",
    model_type: str | None = None,
    tolerance: float = TOLERANCE,
) -> CheckResult:
    """Run the model card's example for ``name`` and compare with its published scores.

    ``local_dir`` loads the weights from a directory instead of the Hub (compared against
    ``name``'s card); ``expected`` replaces the card's numbers. float32 by default, as the
    card's numbers were produced. Raises a one-line :class:`ModelError` when the weights
    cannot be loaded (no network and not in the local Hugging Face cache)."""
    from dataclasses import replace

    from evalkit.models.registry import load_encoder, resolve_model

    if expected is None:
        if name not in REFERENCE_SCORES:
            known = ", ".join(sorted(REFERENCE_SCORES))
            raise EvalkitError(
                f"check-model {name}: no published example scores for this model (known: "
                f"{known}); pass expected scores (--expected FILE.json)"
            )
        expected = REFERENCE_SCORES[name]
    if local_dir is not None:
        path = Path(local_dir)
        if not path.is_dir():
            raise EvalkitError(f"--model-dir {path}: not a directory")
        spec = (
            resolve_model(name, model_type)
            if _registered(name)
            else resolve_model(str(path), model_type or "drama")
        )
        spec = replace(spec, extra={**spec.extra, "local_dir": str(path.resolve())})
    else:
        spec = resolve_model(name, model_type)
    try:
        encoder = load_encoder(
            spec, device=device, dtype=dtype, local_copy_option="--model-dir DIR"
        )
    except ModelError as e:
        where = spec.extra.get("local_dir") or spec.hf_id
        raise ModelError(
            f"check-model {name}: cannot load the weights of {where}; they are not available "
            f"here (no Hub access and not in the local cache?): {_first_line(e)}"
        ) from None
    return compare_scores(encoder, expected, tolerance=tolerance, name=name)


def _registered(name: str) -> bool:
    from evalkit.models.registry import registered_models

    return name in registered_models()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
