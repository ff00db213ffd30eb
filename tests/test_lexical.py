"""The lexical index: BM25 postings, per-language stemming, the persisted cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistant.retrieve.lexical import (
    LanguageIndex,
    Lexicon,
    LexiconCache,
    bm25_postings,
    language_key,
    tokenize,
)

GERMAN = [
    ("de-0", "Der Pakistan Crypto Council wurde im März gegründet."),
    ("de-1", "Bilal bin Saqib ist der Geschäftsführer des Rates."),
    ("de-2", "Die Regierung plant eine strategische Bitcoin-Reserve."),
]
ENGLISH = [
    ("en-0", "The council was founded in March by the finance ministry."),
    ("en-1", "Running processes are listed by the ps command."),
]


class TestBm25Postings:
    def test_a_query_scores_what_bm25_says(self):
        docs = [["a", "b"], ["b", "c", "c"], ["d"]]
        vocab, indptr, doc_ids, weights = bm25_postings(docs)
        c = vocab.index("c")
        postings = list(doc_ids[indptr[c] : indptr[c + 1]])
        assert postings == [1]
        # Lucene BM25 by hand for tf=2, df=1, N=3, dl=3, avgdl=2
        idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
        expected = idf * 2 / (2 + 1.5 * (1 - 0.75 + 0.75 * 3 / 2))
        assert weights[indptr[c]] == pytest.approx(expected, rel=1e-5)

    def test_k1_and_b_are_parameters(self):
        """Lucene's default k1 (1.2) and no length normalisation (b=0), by hand."""
        docs = [["a", "b"], ["b", "c", "c"], ["d"]]
        vocab, indptr, _, weights = bm25_postings(docs, k1=1.2, b=0.0)
        c = vocab.index("c")
        idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
        assert weights[indptr[c]] == pytest.approx(idf * 2 / (2 + 1.2), rel=1e-5)
        plain = LanguageIndex.build("de", GERMAN).search("Rates Rates", 1)
        flat = LanguageIndex.build("de", GERMAN, k1=0.9).search("Rates Rates", 1)
        assert plain[0][0] == flat[0][0] and plain[0][1] != flat[0][1]

    def test_document_frequency_is_the_posting_length(self):
        vocab, indptr, _, _ = bm25_postings([["x", "y"], ["x"], ["x", "x"]])
        x = vocab.index("x")
        assert indptr[x + 1] - indptr[x] == 3

    def test_streamed_build_equals_the_tuple_per_posting_build(self):
        """PostingsBuilder (flat arrays, one document at a time) gives exactly what the
        earlier build from a (term, doc, tf) tuple per posting gave."""
        rng = np.random.default_rng(3)
        words = [f"w{i}" for i in range(300)]
        docs = [
            [words[int(z) % 300] for z in rng.zipf(1.3, int(n))] for n in rng.integers(0, 60, 400)
        ]
        vocab: dict[str, int] = {}
        rows = []
        for d, terms in enumerate(docs):
            counts: dict[int, int] = {}
            for t in terms:
                tid = vocab.setdefault(t, len(vocab))
                counts[tid] = counts.get(tid, 0) + 1
            rows.extend((tid, d, tf) for tid, tf in counts.items())
        table = np.asarray(rows, dtype=np.int64)
        table = table[np.lexsort((table[:, 1], table[:, 0]))]
        term, doc, tf = table[:, 0], table[:, 1], table[:, 2].astype(np.float32)
        lengths = np.asarray([len(d) for d in docs], dtype=np.float32)
        df = np.bincount(term, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1.0 + (len(docs) - df + 0.5) / (df + 0.5))
        norm = tf + 1.5 * (1.0 - 0.75 + 0.75 * lengths[doc] / float(lengths.mean()))
        expected = (idf[term] * tf / norm).astype(np.float32)
        got_vocab, indptr, doc_ids, weights = bm25_postings(docs)
        assert got_vocab == list(vocab)
        assert np.array_equal(doc_ids, doc.astype(np.int32))
        assert np.array_equal(weights, expected)
        assert indptr[-1] == len(rows) and doc_ids.dtype == np.int32

    def test_empty(self):
        vocab, indptr, doc_ids, weights = bm25_postings([])
        assert vocab == [] and len(doc_ids) == 0 and len(weights) == 0


class TestLanguageIndex:
    def test_search_finds_the_chunk_with_the_rare_terms(self):
        index = LanguageIndex.build("de", GERMAN)
        hits = index.search("Wer ist Geschäftsführer des Rates?", 3)
        assert hits[0][0] == "de-1"
        assert all(score > 0 for _, score in hits)

    def test_german_is_stemmed_as_german_and_english_as_english(self):
        de = LanguageIndex.build("de", GERMAN)
        en = LanguageIndex.build("en", ENGLISH)
        assert de.terms("Gründungen") == de.terms("Gründung")
        assert en.terms("processes") == en.terms("process")
        assert en.search("Which process lists the running processes?", 2)[0][0] == "en-1"

    def test_no_shared_term_no_hit(self):
        index = LanguageIndex.build("de", GERMAN)
        assert index.search("Quantenchromodynamik", 5) == []
        assert index.search("", 5) == []

    def test_idf_and_rarity(self):
        index = LanguageIndex.build("de", GERMAN)
        (rare,) = index.terms("Reserve")
        (common,) = index.terms("Rates")
        assert index.idf("nirgendwo") == pytest.approx(index.rarity_scale())
        assert index.idf(rare) == index.idf(common)  # both in one chunk
        assert index.df(rare) == 1

    def test_saved_and_loaded_it_answers_the_same(self, tmp_path):
        index = LanguageIndex.build("de", GERMAN)
        index.save(tmp_path / "de")
        loaded = LanguageIndex.load(tmp_path / "de", "de")
        question = "Wann wurde der Crypto Council gegründet?"
        assert loaded.search(question, 3) == index.search(question, 3)
        assert loaded.term_weights(question) == index.term_weights(question)
        assert loaded.known("bitcoin") and not loaded.known("ethereum")
        assert isinstance(loaded.ids, np.memmap)


class TestLexicon:
    def test_search_spans_languages_each_with_its_stemmer(self):
        lexicon = Lexicon(
            {"de": LanguageIndex.build("de", GERMAN), "en": LanguageIndex.build("en", ENGLISH)}
        )
        found = lexicon.search("council founded March", 1)
        ids = [cid for cid, _, _ in found]
        assert "en-0" in ids  # the best of each language, not the best k overall
        assert "de-0" in ids  # the German chunk shares "Council", stemmed as German
        assert {(cid, lang) for cid, _, lang in found} == {("en-0", "en"), ("de-0", "de")}

    def test_known_spans_the_whole_corpus(self):
        lexicon = Lexicon(
            {"de": LanguageIndex.build("de", GERMAN), "en": LanguageIndex.build("en", ENGLISH)}
        )
        assert lexicon.for_language("de").known("ministry")
        assert lexicon.for_language("en").known("regierung")
        assert not lexicon.known("zebra")

    def test_primary_language_has_most_chunks(self):
        lexicon = Lexicon(
            {"de": LanguageIndex.build("de", GERMAN), "en": LanguageIndex.build("en", ENGLISH)}
        )
        assert lexicon.primary == "de"
        assert lexicon.for_language("fr") is lexicon.for_language("de")
        assert Lexicon({}).for_language("en").search("anything", 3) == []

    def test_coverage_reads_each_chunk_in_its_language(self):
        lexicon = Lexicon(
            {"de": LanguageIndex.build("de", GERMAN), "en": LanguageIndex.build("en", ENGLISH)}
        )
        cov = lexicon.coverage(
            "running processes",
            {"en-1": ("en", ENGLISH[1][1]), "de-2": ("de", GERMAN[2][1])},
        )
        assert cov["en-1"] == pytest.approx(1.0)
        assert cov["de-2"] == 0.0


class TestLexiconCache:
    def files(self):
        return {"de": [("a.md", "v1")], "en": [("b.md", "v1")]}

    def reader(self, calls):
        def read(sources):
            calls.append(tuple(sources))
            return iter(GERMAN if sources == ["a.md"] else ENGLISH)

        return read

    def test_built_once_then_opened_from_disk(self, tmp_path):
        calls: list = []
        cache = LexiconCache(tmp_path)
        first = cache.open(self.files(), self.reader(calls))
        assert sorted(calls) == [("a.md",), ("b.md",)]
        second = LexiconCache(tmp_path).open(self.files(), self.reader(calls))
        assert len(calls) == 2  # nothing read again
        q = "Wer ist der Geschäftsführer?"
        assert second.search(q, 3) == first.search(q, 3)

    def test_a_changed_language_alone_is_rebuilt(self, tmp_path):
        calls: list = []
        cache = LexiconCache(tmp_path)
        cache.open(self.files(), self.reader(calls))
        changed = self.files() | {"en": [("b.md", "v2")]}
        cache.open(changed, self.reader(calls))
        assert calls[2:] == [("b.md",)]

    def test_old_builds_are_pruned(self, tmp_path):
        calls: list = []
        cache = LexiconCache(tmp_path)
        for version in ("v1", "v2", "v3", "v4"):
            cache.open({"en": [("b.md", version)]}, self.reader(calls))
        assert len(list(tmp_path.glob("en-*"))) == 2

    def test_a_broken_cache_is_rebuilt(self, tmp_path):
        calls: list = []
        cache = LexiconCache(tmp_path)
        cache.open(self.files(), self.reader(calls))
        key = language_key([("a.md", "v1")])
        (tmp_path / f"de-{key}" / "vocab.json").write_text("{not json")
        lexicon = cache.open(self.files(), self.reader(calls))
        assert calls[-1] == ("a.md",)
        assert lexicon.search("Geschäftsführer", 1)[0][0] == "de-1"

    def test_an_unwritable_folder_still_serves(self, tmp_path):
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        lexicon = LexiconCache(blocker / "lexical").open(self.files(), self.reader([]))
        assert lexicon.search("Geschäftsführer", 1)[0][0] == "de-1"


def test_tokenize_drops_stopwords():
    assert tokenize("Wer ist der CEO des Rates?") == ["ceo", "rates"]


@pytest.mark.slow
class TestPersistedWithTheIndex:
    """An Assistant builds the lexical index when it indexes; others open it from disk."""

    def test_indexing_builds_it_and_a_second_process_opens_it(self, settings_factory):
        from assistant import Assistant

        settings = settings_factory()
        corpus = settings.corpus_dir
        (corpus / "de.md").write_text(
            "# Rat\n\nBilal bin Saqib ist der Geschäftsführer des Rates. " * 3, encoding="utf-8"
        )
        (corpus / "en.md").write_text(
            "# Tools\n\nThe ps command lists the running processes of the system. " * 3,
            encoding="utf-8",
        )
        Assistant(settings).index()
        builds = sorted(p.name for p in (settings.index_dir / "lexical").iterdir())
        assert [b.split("-")[0] for b in builds] == ["de", "en"]
        stamps = {p: p.stat().st_mtime_ns for p in (settings.index_dir / "lexical").iterdir()}

        other = Assistant(settings)
        snap = other.open()
        assert {
            p: p.stat().st_mtime_ns for p in (settings.index_dir / "lexical").iterdir()
        } == stamps
        assert set(snap.lexicon.indexes) == {"de", "en"}
        assert other.lexicon("en").terms("processes") == ["process"]  # English stemming
        hits, _ = other.retrieve("Which command lists running processes?", "en")
        assert hits[0].chunk.source == "en.md"

    def test_a_changed_document_rebuilds_its_language_only(self, settings_factory):
        from assistant import Assistant

        settings = settings_factory()
        corpus = settings.corpus_dir
        (corpus / "de.md").write_text("Der Rat wurde im März gegründet. " * 3, encoding="utf-8")
        (corpus / "en.md").write_text("The ps command lists processes. " * 3, encoding="utf-8")
        bot = Assistant(settings)
        bot.index()
        german = {p.name for p in (settings.index_dir / "lexical").glob("de-*")}
        (corpus / "en.md").write_text(
            "The top command shows processes live. " * 3, encoding="utf-8"
        )
        bot.index()
        assert {p.name for p in (settings.index_dir / "lexical").glob("de-*")} == german
        assert len(list((settings.index_dir / "lexical").glob("en-*"))) == 2
        hits, _ = bot.retrieve("Which command shows processes live?", "en")
        assert "top command" in hits[0].chunk.text
