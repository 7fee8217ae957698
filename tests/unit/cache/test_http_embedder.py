from __future__ import annotations

import json

import httpx
import pytest

from runtime.cache import HTTPEmbedder


def server(dimension: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/embeddings"
        body = json.loads(request.content)
        data = [
            {"index": i, "embedding": [3.0 + i] + [0.0] * (dimension - 2) + [4.0]}
            for i, _ in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"data": list(reversed(data)), "model": body["model"]})

    return httpx.MockTransport(handler)


def test_vectors_come_back_in_input_order_and_normalised() -> None:
    embedder = HTTPEmbedder(
        "http://127.0.0.1:30000/v1", model="m", dimension=4, transport=server(4)
    )
    vectors = embedder.embed(["a", "b"])
    assert len(vectors) == 2
    assert vectors[0] == pytest.approx([0.6, 0.0, 0.0, 0.8])  # [3, 0, 0, 4] / 5
    assert vectors[1] == pytest.approx([0.7071, 0.0, 0.0, 0.7071], abs=1e-4)  # [4, 0, 0, 4]


def test_a_vector_of_the_wrong_length_is_refused() -> None:
    embedder = HTTPEmbedder(
        "http://127.0.0.1:30000/v1", model="m", dimension=8, transport=server(4)
    )
    with pytest.raises(ValueError, match="returned 4 dimensions, expected 8"):
        embedder.embed(["a"])
