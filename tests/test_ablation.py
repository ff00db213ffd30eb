"""The ablation evidence costs one engine call for all its variants, and none when off."""

from __future__ import annotations

import pytest

from assistant.answer.extractive import ExtractiveAnswerer


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


class TestEmbedAhead:
    """Ablation texts embedded ahead, on another thread, give the same evidence and are
    not embedded again; what the ahead texts lack is embedded when needed."""

    def answerer(self, bot, embedder):
        return ExtractiveAnswerer(
            bot.settings,
            embedder,
            lexicon=bot.lexicon(),
            sentence_vectors=bot.store.sentence_vectors,
            ablated_words=2,
        )

    def test_vectors_embedded_ahead_are_used_and_the_evidence_is_the_same(self, shipped_bot):
        from concurrent.futures import ThreadPoolExecutor

        hits, q_vec = shipped_bot.retrieve(QUESTION, "de")
        plain = self.answerer(shipped_bot, CountingEmbedder(shipped_bot.embedder))
        expected = [c.evidence for c in plain.rank(QUESTION, "de", hits, q_vec)]
        embedder = CountingEmbedder(shipped_bot.embedder)
        answerer = self.answerer(shipped_bot, embedder)
        with ThreadPoolExecutor(1) as pool:
            ahead = answerer.embed_ahead(QUESTION, pool)
            ahead.result()
            assert embedder.batches == [answerer.ablation_texts(QUESTION)]
            ranked = answerer.rank(QUESTION, "de", hits, q_vec, ahead)
        assert len(embedder.batches) == 1  # nothing embedded twice
        assert [c.evidence for c in ranked] == expected

    def test_texts_the_ahead_work_lacks_are_embedded_then(self, shipped_bot):
        from concurrent.futures import Future

        hits, q_vec = shipped_bot.retrieve(QUESTION, "de")
        embedder = CountingEmbedder(shipped_bot.embedder)
        answerer = self.answerer(shipped_bot, embedder)
        first, second = answerer.ablation_texts(QUESTION)
        ahead: Future = Future()
        ahead.set_result({first: shipped_bot.embedder.query_many([first])[0], "other": [0.0]})
        answerer.rank(QUESTION, "de", hits, q_vec, ahead)
        assert embedder.batches == [[second]]
