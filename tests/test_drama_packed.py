"""The padding-free (packed) DRAMA path equals the independent float64 reference, like the
padded one: texts packed end to end with positions restarting, a block-diagonal mask on
eager/SDPA (flash-attention's variable-length kernel on CUDA uses the same packing)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import drama_fixtures as fx
import numpy as np
import pytest

from evalkit.models.drama import DramaEncoder
from evalkit.models.registry import resolve_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_drama_checkpoint(tmp_path_factory.mktemp("drama-packed") / "m", template=True)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_packed_matches_reference_and_padded(ckpt: Path, impl: str) -> None:
    spec = resolve_model(str(ckpt), model_type="drama")
    spec = replace(spec, extra={**spec.extra, "attn_implementation": impl})
    packed = DramaEncoder(spec, device="cpu", dtype="float32", packed=True)
    padded = DramaEncoder(spec, device="cpu", dtype="float32", packed=False)
    seen: list[int] = []
    original = packed._forward_packed

    def spy(seqs):  # the packed path really runs, several texts at once
        seen.append(len(seqs))
        return original(seqs)

    packed._forward_packed = spy  # type: ignore[method-assign]
    got_d = packed.encode_documents(fx.TEXTS, batch_size=4)
    got_q = packed.encode_queries(fx.TEXTS, batch_size=4, dim=16, force_dim=True)
    assert max(seen) > 1
    ref_d = fx.reference_embeddings(ckpt, fx.TEXTS)
    ref_q = fx.reference_embeddings(ckpt, fx.TEXTS, prefix="Query: ", dim=16)
    assert float(np.abs(got_d - np.asarray(ref_d)).max()) < 1e-5
    assert float(np.abs(got_q - np.asarray(ref_q)).max()) < 1e-5
    np.testing.assert_allclose(got_d, padded.encode_documents(fx.TEXTS, batch_size=4), atol=1e-5)
    # A causal reference is far away: the packed mask is bidirectional within each text.
    causal = fx.reference_embeddings(ckpt, fx.TEXTS, causal=True)
    assert float(np.abs(got_d - np.asarray(causal)).max()) > 1e-2
