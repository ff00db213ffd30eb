"""The answerer's candidates: one stored vector per sentence, window vectors derived."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.answer.extractive import ExtractiveAnswerer, window_vector

QUESTION = "Wann wurde der Pakistan Crypto Council gegründet?"


class TestWindowVector:
    def test_the_first_sentence_is_its_own_window(self):
        v = np.array([0.6, 0.8], dtype=np.float32)
        assert np.array_equal(window_vector(None, v), v)

    def test_a_window_points_between_its_two_sentences(self):
        prev, sent = np.array([1.0, 0.0]), np.array([0.0, 1.0])
        w = window_vector(prev, sent)
        cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
        assert cos(w, prev) == pytest.approx(cos(w, sent)) == pytest.approx(2**-0.5)

    def test_lists_and_arrays_give_the_same_vector(self):
        assert window_vector([1.0, 2.0], [3.0, 4.0]).tolist() == [4.0, 6.0]


class TestCandidates:
    def answerer(self, bot, sentence_vectors):
        return ExtractiveAnswerer(
            bot.settings, bot.embedder, lexicon=bot.lexicon(), sentence_vectors=sentence_vectors
        )

    def test_stored_and_freshly_embedded_vectors_agree(self, shipped_bot):
        """An index whose sentence vectors are not stored yet (phase 2 still running)
        gives the same candidates and, within int8 rounding, the same vectors."""
        hits, _ = shipped_bot.retrieve(QUESTION, "de")
        stored = self.answerer(shipped_bot, shipped_bot.store.sentence_vectors).candidates(hits)
        fresh = self.answerer(shipped_bot, lambda ids: {}).candidates(hits)
        assert [(c.start, c.end, c.ordinal) for c in stored] == [
            (c.start, c.end, c.ordinal) for c in fresh
        ]
        assert stored
        for a, b in zip(stored, fresh):
            for x, y in ((a.sentence_vec, b.sentence_vec), (a.window_vec, b.window_vec)):
                x, y = np.asarray(x), np.asarray(y)
                assert float(x @ y / np.linalg.norm(x) / np.linalg.norm(y)) > 0.999

    def test_a_window_is_the_sum_of_its_sentence_and_the_one_before(self, shipped_bot):
        hits, _ = shipped_bot.retrieve(QUESTION, "de")
        cands = self.answerer(shipped_bot, shipped_bot.store.sentence_vectors).candidates(hits)
        by_place = {(c.hit.chunk.id, c.ordinal): c for c in cands}
        pairs = [(by_place.get((c.hit.chunk.id, c.ordinal - 1)), c) for c in cands]
        pairs = [(p, c) for p, c in pairs if p is not None]
        assert pairs, "the article has neighbouring sentences"
        for prev, cand in pairs:
            expected = np.asarray(prev.sentence_vec) + np.asarray(cand.sentence_vec)
            assert np.allclose(cand.window_vec, expected)

    def test_an_index_from_before_derived_windows_is_used_as_it_is(self, shipped_bot):
        """Stored window vectors ("w") and no vectors for short sentences before answer
        sentences: the stored windows are the windows, and nothing is embedded."""
        from dataclasses import replace

        from assistant.ingest.chunking import answer_sentences

        hits, _ = shipped_bot.retrieve(QUESTION, "de")
        new = shipped_bot.store.sentence_vectors([h.chunk.id for h in hits])
        rng = np.random.default_rng(3)
        old, windows = {}, {}
        for h in hits:
            c = h.chunk
            place = {(c.start + s.start, c.start + s.end): j for j, s in answer_sentences(c.text)}
            rows = [v for v in new[c.id] if (v.start, v.end) in place]
            olds = [
                replace(v, kind="w", vector=rng.normal(size=len(v.vector)).tolist())
                for v in rows
                if place[v.start, v.end] > 0
            ]
            old[c.id] = rows + olds
            windows.update({(c.id, place[v.start, v.end]): v.vector for v in olds})
        calls = []

        class Embedder:
            def get_text_embedding_batch(self, texts):
                calls.append(texts)
                return shipped_bot.embedder.get_text_embedding_batch(texts)

        answerer = ExtractiveAnswerer(
            shipped_bot.settings,
            Embedder(),
            lexicon=shipped_bot.lexicon(),
            sentence_vectors=lambda ids: old,
        )
        cands = answerer.candidates(hits)
        assert cands and calls == []
        derived = [c for c in cands if (c.hit.chunk.id, c.ordinal) in windows]
        assert derived
        for cand in derived:
            assert np.allclose(cand.window_vec, windows[cand.hit.chunk.id, cand.ordinal])
