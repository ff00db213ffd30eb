"""Fusion of dense and lexical rankings, on their own: pure functions, no index."""

from assistant.retrieve.retriever import fuse, keep_dense_top
from assistant.store.records import StoredChunk


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

    def test_rrf_k_sets_how_much_a_single_top_rank_is_worth(self):
        """A small constant favours the one first place, a large one the chunk found
        twice (bench/sweep_retrieval.py measures the value)."""
        a, x, y, b = chunk("a"), chunk("x"), chunk("y"), chunk("b")
        dense = [(a, 0.9), (x, 0.8), (y, 0.7), (b, 0.6)]
        sharp = fuse(dense, [(b, 5.0)], "de", 0.5, 0.0, rrf_k=1)
        flat = fuse(dense, [(b, 5.0)], "de", 0.5, 0.0, rrf_k=60)
        assert sharp[0].chunk.id == "a" and flat[0].chunk.id == "b"
        assert flat[0].fused == 1 / 64 + 0.5 / 61


class TestTranslatedQuestion:
    """An English question put into German words by the dictionary: German lexical
    hits count like hits in the question's own language."""

    def test_translated_hits_count_with_their_weight(self):
        a, b = chunk("a", "de"), chunk("b", "de")
        dense = [(a, 0.9), (b, 0.89)]
        plain = fuse(dense, [(b, 5.0)], "en", 1.5, 0.0)
        assert [h.chunk.id for h in plain] == ["a", "b"]  # dense order stands
        moved = fuse(dense, [(b, 5.0)], "en", 1.5, 0.0, translated={"de": 1.5})
        assert [h.chunk.id for h in moved] == ["b", "a"]
        assert moved[0].ranks == {"dense": 2, "lexical": 1}

    def test_the_gate_still_applies(self):
        a, far = chunk("a", "de"), chunk("far", "de")
        hits = fuse(
            [(a, 0.9), (far, 0.7)], [(far, 9.0)], "en", 1.5, 0.0, gate=0.05, translated={"de": 1.5}
        )
        assert hits[0].chunk.id == "a"


class TestPerLanguageLexicalRanks:
    def test_a_lexical_rank_counts_within_the_chunks_language(self):
        """Hits of another language's index neither take nor push a chunk's rank."""
        de1, de2 = chunk("de1", "de"), chunk("de2", "de")
        en1, en2 = chunk("en1", "en"), chunk("en2", "en")
        hits = fuse([], [(en1, 9.0), (de1, 3.0), (en2, 8.0), (de2, 2.0)], "de", 1.5, 0.0)
        ranks = {h.chunk.id: h.ranks["lexical"] for h in hits}
        assert ranks == {"en1": 1, "de1": 1, "en2": 2, "de2": 2}
        assert [h.chunk.id for h in hits][:2] == ["de1", "de2"]


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

    def test_a_kept_hit_fusion_placed_last_is_not_cut_for_another(self):
        """Fused [b, a], dense best [a, c], k 2: both dense hits, not [b, c]."""
        a, b, c = chunk("a"), chunk("b"), chunk("c")
        hits = fuse([(a, 0.8), (c, 0.78), (b, 0.5)], [(b, 9.0)], "de", 3.0, 0.0)
        assert [h.chunk.id for h in hits][:2] == ["b", "a"]
        assert [h.chunk.id for h in keep_dense_top(hits, 2, 2)] == ["a", "c"]
        assert [h.chunk.id for h in keep_dense_top(hits, 3, 2)] == ["b", "a", "c"]

    def test_a_list_of_one_holds_the_best_dense_hit(self):
        a, b, c, d = (chunk(x) for x in "abcd")
        hits = fuse([(d, 0.9), (c, 0.8)], [(a, 9), (b, 8), (c, 7)], "de", 3.0, 0.0)
        assert [h.chunk.id for h in keep_dense_top(hits, 1, 2)] == ["d"]


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


class FakeStore:
    """A ChunkReader over a fixed set of chunks: dense ranking given, texts by id."""

    def __init__(self, chunks: list[StoredChunk], dense: list[tuple[str, float]]):
        self.by_id = {c.id: c for c in chunks}
        self.dense = dense
        self.fetched: list[list[str]] = []

    def query(self, embedding, k):
        return [(self.by_id[cid], s) for cid, s in self.dense[:k]]

    def chunks(self, ids):
        self.fetched.append(list(ids))
        return {cid: self.by_id[cid] for cid in ids if cid in self.by_id}

    def embeddings(self, ids):
        return {cid: [1.0, 0.0] for cid in ids}


class FakeEmbedder:
    def get_query_embedding(self, query):
        return [1.0, 0.0]


def text_chunk(cid: str, text: str, source: str, version: str = "v") -> StoredChunk:
    return StoredChunk(cid, text, source, version, 0, len(text), None, "de", 0)


class TestHybridRetriever:
    chunks = [
        text_chunk("a", "Der Rat wurde im März gegründet.", "a.md"),
        text_chunk("b", "Bilal bin Saqib ist Geschäftsführer des Rates.", "b.md"),
        text_chunk("old", "Bilal bin Saqib war früher Geschäftsführer.", "c.md", version="v0"),
    ]

    def retriever(self, store, manifest_versions=None, gate=0.05, **fusion):
        from assistant.retrieve.lexical import LanguageIndex, Lexicon
        from assistant.retrieve.retriever import HybridRetriever, Snapshot
        from assistant.settings import Settings
        from assistant.store.records import FileEntry

        versions = manifest_versions or {"a.md": "v", "b.md": "v", "c.md": "v"}
        manifest = {s: FileEntry(v, 1, 1, 1, "de") for s, v in versions.items()}
        lexicon = Lexicon({"de": LanguageIndex.build("de", [(c.id, c.text) for c in self.chunks])})
        snaps = []

        def snapshot():
            snaps.append(1)
            return Snapshot(manifest, lexicon)

        settings = Settings(_env_file=None, top_k=2, candidates=5, lexical_gate=gate)
        return HybridRetriever(settings, store, FakeEmbedder(), snapshot, **fusion), snaps

    def test_lexical_hits_are_read_from_the_store_by_id(self):
        store = FakeStore(self.chunks, dense=[("a", 0.80)])
        retriever, _ = self.retriever(store)
        hits, _ = retriever.search("Wer ist Geschäftsführer des Rates?", "de")
        assert "b" in [h.chunk.id for h in hits]
        assert store.fetched and "b" in store.fetched[0] and "a" not in store.fetched[0]

    def test_with_k_dense_hits_the_gate_makes_reading_lexical_only_hits_needless(self):
        """Gated, a chunk only BM25 found gets no weight: the same hits, no store read."""
        chunks = [
            text_chunk("a", "Der Rat wurde im März gegründet.", "a.md"),
            text_chunk("c", "Der Rat tagt im Rathaus.", "c.md"),
            text_chunk("b", "Bilal bin Saqib ist Geschäftsführer des Rates.", "b.md"),
        ]
        self.chunks = chunks
        question = "Wer ist Geschäftsführer des Rates?"
        enough = FakeStore(chunks, dense=[("a", 0.80), ("c", 0.78)])
        retriever, _ = self.retriever(enough)
        hits, _ = retriever.search(question, "de")
        assert enough.fetched == []  # "b", found by BM25 only, was not read
        assert [h.chunk.id for h in hits] == ["a", "c"]
        # what reading it would have given: the same two, "b" weighed nothing
        from assistant.retrieve.retriever import fuse

        snap = retriever._snapshot()
        lexical = [(enough.by_id[cid], sc) for cid, sc, _ in snap.lexicon.search(question, 5)]
        dense = enough.query(None, 5)
        full = fuse(dense, lexical, "de", 1.5, 0.0, coverage=None, gate=0.05)
        assert [h.chunk.id for h in full[:2]] == ["a", "c"] and full[2].fused == 0.0

        short = FakeStore(chunks, dense=[("a", 0.80)])  # fewer than k: read, as before
        hits, _ = self.retriever(short)[0].search(question, "de")
        assert "b" in short.fetched[0] and [h.chunk.id for h in hits] == ["a", "b"]

    def test_dense_kept_is_a_parameter(self):
        """Ungated, BM25 lifts "b" over dense retrieval's second best unless the two best
        dense hits are kept (bench/sweep_retrieval.py measures 0 to 3)."""
        chunks = [
            text_chunk("a", "Der Rat wurde im März gegründet.", "a.md"),
            text_chunk("c", "Die Stadt liegt am Fluss.", "c.md"),
            text_chunk("b", "Bilal bin Saqib ist Geschäftsführer des Rates.", "b.md"),
        ]
        self.chunks = chunks
        question = "Wer ist Geschäftsführer des Rates?"
        dense = [("a", 0.80), ("c", 0.78), ("b", 0.50)]
        found = {}
        for kept in (0, 2):
            retriever, _ = self.retriever(FakeStore(chunks, dense), gate=0.0, dense_kept=kept)
            found[kept] = [h.chunk.id for h in retriever.search(question, "de")[0]]
        assert "b" in found[0] and found[2] == ["a", "c"]

    def test_chunks_of_superseded_versions_are_never_returned(self):
        store = FakeStore(self.chunks, dense=[("old", 0.9), ("a", 0.8)])
        retriever, _ = self.retriever(store)
        hits, _ = retriever.search("früher Geschäftsführer", "de")
        assert "old" not in [h.chunk.id for h in hits]

    def test_each_question_reads_the_current_snapshot(self):
        retriever, snaps = self.retriever(FakeStore(self.chunks, dense=[("a", 0.8)]))
        retriever.search("Rat", "de")
        retriever.search("Rat", "de")
        assert len(snaps) == 2

    def test_as_a_llama_index_retriever_it_returns_chunks_with_their_spans(self):
        retriever, _ = self.retriever(FakeStore(self.chunks, dense=[("a", 0.8), ("b", 0.7)]))
        nodes = retriever.retrieve("Wann wurde der Rat gegründet?")
        assert nodes[0].node.node_id == "a"
        assert nodes[0].node.get_content() == self.chunks[0].text
        assert (nodes[0].node.start_char_idx, nodes[0].node.end_char_idx) == (0, 32)
        assert nodes[0].score == 0.8


class RemoteLexical:
    """A LexicalSearch that is not the in-process BM25 (as a search server's sparse index
    would be): fixed hits, every call recorded."""

    languages = ["de"]

    def __init__(self, hits: list[tuple[str, float, str]]):
        self.hits = hits
        self.calls: list[tuple[str, int]] = []

    def search(self, question, k, queries=None):
        self.calls.append((question, k))
        return self.hits[:k]

    def coverage(self, question, texts, queries=None):
        return dict.fromkeys(texts, 1.0)


class TestLexicalSearchSeam:
    chunks = TestHybridRetriever.chunks

    def test_the_in_process_lexicon_is_a_lexical_search(self):
        from assistant.retrieve.lexical import LanguageIndex, Lexicon
        from assistant.retrieve.retriever import LexicalSearch

        lexicon = Lexicon({"de": LanguageIndex.build("de", [(c.id, c.text) for c in self.chunks])})
        assert isinstance(lexicon, LexicalSearch) and lexicon.languages == ["de"]
        assert isinstance(RemoteLexical([]), LexicalSearch)

    def test_the_retriever_searches_whatever_lexical_search_it_is_given(self):
        from assistant.retrieve.retriever import HybridRetriever, Snapshot
        from assistant.settings import Settings
        from assistant.store.records import FileEntry

        manifest = {s: FileEntry("v", 1, 1, 1, "de") for s in ("a.md", "b.md", "c.md")}
        remote = RemoteLexical([("b", 7.0, "de")])
        store = FakeStore(self.chunks, dense=[("a", 0.80)])
        retriever = HybridRetriever(
            Settings(_env_file=None, top_k=2, candidates=5),
            store,
            FakeEmbedder(),
            lambda: Snapshot(manifest, lexicon=None),  # no in-process index at all
            lexical=lambda snap: remote,
        )
        hits, _ = retriever.search("Wer leitet den Rat?", "de")
        assert remote.calls == [("Wer leitet den Rat?", 5)]
        assert [h.chunk.id for h in hits] == ["a", "b"] and hits[1].lexical == 7.0
