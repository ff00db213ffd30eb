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
