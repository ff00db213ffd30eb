"""Fusion of dense and lexical rankings, on their own: pure functions, no index."""

from assistant.retrieval import fuse, keep_dense_top
from assistant.store import StoredChunk


def chunk(cid: str, lang: str = "de") -> StoredChunk:
    return StoredChunk(cid, cid, f"{cid}.txt", "v", 0, 1, None, lang, 0)


class TestFuse:
    def test_a_chunk_in_both_rankings_wins(self):
        a, b, c = chunk("a"), chunk("b"), chunk("c")
        hits = fuse([(a, 0.9), (b, 0.8)], [(b, 5.0), (c, 4.0)], "de", 1.5, 0.0)
        assert [h.chunk.id for h in hits][0] == "b"
        assert hits[0].ranks == {"dense": 2, "lexical": 1}

    def test_lexical_hits_in_the_other_language_do_not_count(self):
        de, en = chunk("de", "de"), chunk("en", "en")
        hits = fuse([(de, 0.9)], [(en, 9.0)], "de", 1.5, 0.0)
        assert [h.chunk.id for h in hits] == ["de", "en"] and hits[1].fused == 0.0

    def test_a_lexical_hit_counts_by_the_share_of_the_question_it_covers(self):
        """One shared common word ("hours") must not outrank the best dense match."""
        best, stray = chunk("best", "en"), chunk("stray", "en")
        dense = [(best, 0.9)]
        lexical = [(stray, 3.0)]
        plain = fuse(dense, lexical, "en", 1.5, 0.0)
        assert plain[0].chunk.id == "stray"  # what went wrong before
        weighted = fuse(dense, lexical, "en", 1.5, 0.0, coverage={"stray": 0.1})
        assert weighted[0].chunk.id == "best"


class TestKeepDenseTop:
    def test_the_best_dense_hits_are_always_kept(self):
        a, b, c, d = (chunk(x) for x in "abcd")
        hits = fuse([(d, 0.9), (c, 0.8)], [(a, 9), (b, 8), (c, 7)], "de", 3.0, 0.0)
        top = keep_dense_top(hits, 2, 2)
        assert {h.chunk.id for h in top} == {"c", "d"}

    def test_nothing_changes_when_they_are_already_in(self):
        a, b = chunk("a"), chunk("b")
        hits = fuse([(a, 0.9), (b, 0.8)], [], "de", 1.5, 0.0)
        assert keep_dense_top(hits, 5, 2) == hits


class TestLanguageGate:
    def test_when_the_best_dense_match_is_in_the_other_language_dense_order_stands(self):
        german, english = chunk("de1", "de"), chunk("en1", "en")
        hits = fuse([(german, 0.86), (english, 0.85)], [(english, 9.0)], "en", 1.5, 0.0, gate=0.05)
        assert [h.chunk.id for h in hits] == ["de1", "en1"]

    def test_lexical_evidence_only_reorders_chunks_near_the_best(self):
        a, b, far = chunk("a"), chunk("b"), chunk("far")
        dense = [(a, 0.90), (b, 0.89), (far, 0.70)]
        hits = fuse(dense, [(b, 5.0), (far, 9.0)], "de", 1.5, 0.0, gate=0.05)
        assert [h.chunk.id for h in hits][:2] == ["b", "a"]  # b is close enough to be lifted
        assert hits[-1].chunk.id == "far"  # far is not
