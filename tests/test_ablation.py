"""The ablation evidence costs one engine call for all its variants, and none when off."""

from __future__ import annotations

import pytest

from assistant.extractive import ExtractiveAnswerer


class CountingEmbedder:
    """The real embedder, with a record of the question variants it was asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.batches: list[list[str]] = []

    def query_many(self, texts):
        self.batches.append(list(texts))
        return self.inner.query_many(texts)

    def __getattr__(self, name):
        return getattr(self.inner, name)


QUESTION = "Wann wurde der Pakistan Crypto Council gegründet?"


@pytest.mark.parametrize("words", [2, 1, 0])
def test_the_ablation_embeds_the_rarest_words_variants_in_one_call(shipped_bot, words):
    embedder = CountingEmbedder(shipped_bot.embedder)
    answerer = ExtractiveAnswerer(
        shipped_bot.settings,
        embedder,
        lexicon=shipped_bot.lexicon(),
        sentence_vectors=shipped_bot.store.sentence_vectors,
        ablated_words=words,
    )
    hits, q_vec = shipped_bot.retrieve(QUESTION, "de")
    ranked = answerer.rank(QUESTION, "de", hits, q_vec)
    assert ranked
    if words == 0:
        assert embedder.batches == []
        assert all(c.ablation_drops == () for c in ranked)
        assert all(c.evidence["ablation_min"] == 0.0 for c in ranked)
        return
    [variants] = embedder.batches
    assert len(variants) == words and all(v != QUESTION for v in variants)
    for c in ranked:
        assert len(c.ablation_drops) == words
        assert c.evidence["ablation_min"] == pytest.approx(min(c.ablation_drops))
