"""The offline answerer: quotes the sentences of the retrieved chunks that answer.

Documents are untrusted; this answerer only ever quotes them, so nothing inside a
document can change what it does.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from assistant.answer import phrases
from assistant.answer.citer import make_citation, quote_span
from assistant.answer.judge import (
    ABLATED_WORDS,
    DECIDER,
    RANKER,
    TOPIC,
    Decider,
    Ranker,
    TermCover,
    TopicJudge,
    ablation_evidence,
    ablation_variants,
    anchors,
    covered_features,
    heading_before,
    rank_evidence,
    topic_evidence,
)
from assistant.answer.kinds import answer_spans, expected_type
from assistant.answer.types import Answer
from assistant.ingest.chunking import answer_sentences, split_sentences, vector_sentences
from assistant.question.language import is_prose
from assistant.retrieve.retriever import Hit, Translator
from assistant.settings import Settings
from assistant.store.records import SentenceVector

logger = logging.getLogger(__name__)


@dataclass
class Candidate:
    """A sentence that might answer, with its vectors and the evidence for it."""

    hit: Hit
    start: int
    end: int
    text: str
    sentence_vec: Any = None
    window_vec: Any = None  # the sentence with the one before it (see window_vector)
    score: float = 0.0  # the ranking score among the question's candidates
    probability: float = 0.0  # the decider's belief that it answers (best candidate only)
    ordinal: int = 0  # the sentence's place in its chunk
    evidence: dict[str, float] = field(default_factory=dict)
    # the similarity drop per left-out question word, rarest first (see _ablation)
    ablation_drops: tuple[float, ...] = ()


def _cos(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    return matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q) + 1e-9)


def window_vector(previous: Any, sentence: Any) -> np.ndarray:
    """The window's vector: the sentence's plus the one before it (a pronoun's referent,
    "Er wurde 1856 geboren."), or the sentence's alone when there is none.

    Derived instead of embedded, so indexing embeds each sentence once (the sum of two
    e5 vectors points where the two sentences' topics meet; cosine ignores the length).
    """
    vec = np.asarray(sentence, dtype=np.float32)
    if previous is None:
        return vec
    return vec + np.asarray(previous, dtype=np.float32)


class Lexicon(Protocol):
    """What the answerer needs of the lexical index: terms, their rarity, the vocabulary."""

    def terms(self, text: str) -> list[str]: ...

    def term_weights(self, text: str) -> dict[str, float]: ...

    def known(self, word: str) -> bool: ...

    def rarity_scale(self) -> float: ...

    def stem(self, words: list[str]) -> list[str]: ...

    def df(self, term: str) -> int: ...

    @property
    def lang(self) -> str: ...


class SentenceVectors(Protocol):
    def __call__(self, chunk_ids: list[str]) -> dict[str, list[SentenceVector]]: ...


CLOSEST_PASSAGES = 3  # a hedge shows this many passages at most, for the user to judge


class ExtractiveAnswerer:
    """Quotes the sentence that answers as [1] (joined with the runner-up when that is
    its neighbour). When no sentence is certain it says so and shows the closest
    passages; "not in the documents" only when nothing retrieved is about the subject."""

    mode = "extractive"

    def __init__(
        self,
        settings: Settings,
        embedder: Any,
        lexicon: Lexicon,
        sentence_vectors: SentenceVectors | None = None,
        ranker: Ranker = RANKER,
        decider: Decider = DECIDER,
        ablated_words: int = ABLATED_WORDS,
        topic: TopicJudge = TOPIC,
        translator: Translator | None = None,
    ):
        self.settings = settings
        self.embedder = embedder
        self.lexicon = lexicon
        self.sentence_vectors = sentence_vectors or (lambda ids: {})
        self.ranker = ranker
        self.decider = decider
        self.topic = topic
        self.translator = translator
        self.ablated_words = ablated_words  # the decider's coefficients are fitted for it
        self.shift = settings.min_relevance  # the user's shift of the decision points

    def candidates(self, hits: list[Hit]) -> list[Candidate]:
        """Sentences of the hits with their stored vectors (embedded now if missing) and
        their window vectors, derived from the sentence vectors (:func:`window_vector`).

        An index written before windows were derived holds a window vector per sentence
        ("w") and no vector for a short sentence before one: its windows are used as they
        are, so upgrading needs no re-embedding.
        """
        stored = self.sentence_vectors([h.chunk.id for h in hits])
        placed: list[tuple[Hit, list, dict[int, Any], dict[int, Any]]] = []
        missing: list[tuple[dict[int, Any], int, str]] = []
        for hit in hits:
            c = hit.chunk
            rows = stored.get(c.id, [])
            spans = split_sentences(c.text)
            kept = {(v.start, v.end, v.kind): v.vector for v in rows}
            windows = {
                j: kept.get((c.start + s.start, c.start + s.end, "w"))
                for j, s in answer_sentences(c.text, spans)
            }
            vecs: dict[int, Any] = {}
            for j, s in vector_sentences(c.text, spans):
                vecs[j] = kept.get((c.start + s.start, c.start + s.end, "s"))
                # a sentence before an answer sentence whose stored window stands in for it
                needed = j in windows or windows.get(j + 1) is None
                if vecs[j] is None and needed:  # before sentence vectors, or phase 2 to come
                    missing.append((vecs, j, s.text))
            placed.append((hit, spans, vecs, windows))
        if missing:  # the texts indexing embeds: the same vectors as once they are stored
            embedded = self.embedder.get_text_embedding_batch([t for _, _, t in missing])
            for (vecs, j, _), vec in zip(missing, embedded):
                vecs[j] = vec
        out: list[Candidate] = []
        for hit, spans, vecs, windows in placed:
            c = hit.chunk
            for j, window in windows.items():
                where = quote_span(c.text, spans, j)
                if where is None or not is_prose(c.text[where[0] : where[1]]):
                    continue
                start, end = c.start + where[0], c.start + where[1]
                text = c.text[where[0] : where[1]]
                cand = Candidate(hit, start, end, text, ordinal=j, sentence_vec=vecs[j])
                cand.window_vec = (
                    window if window is not None else window_vector(vecs.get(j - 1), vecs[j])
                )
                out.append(cand)
        return out

    def weigh(
        self,
        question: str,
        lang: str,
        q_vec: list[float],
        cands: list[Candidate],
        ahead: Future[dict[str, list[float]]] | None = None,
    ) -> None:
        """Collect each candidate's evidence, rank them, and let the decider judge each.
        ``ahead``: vectors of ablation texts embedded meanwhile (see :meth:`embed_ahead`)."""
        if not cands:
            return
        q = np.asarray(q_vec, dtype=np.float32)
        sentences = np.asarray([c.sentence_vec for c in cands], dtype=np.float32)
        s_cos = _cos(sentences, q)
        w_cos = _cos(np.asarray([c.window_vec for c in cands], dtype=np.float32), q)
        weights = self.lexicon.term_weights(question)
        evidence = _Evidence(
            self,
            question,
            lang,
            # the documents' language in translation; the question's own when they agree
            {self.lexicon.lang: self.translated_weights(question, lang), lang: weights},
        )
        # the question terms each sentence covers, in its chunk's language
        covered = [evidence.cover(c).of(set(self.lexicon.terms(c.text))) for c in cands]
        by_place = {(c.hit.chunk.id, c.ordinal): i for i, c in enumerate(cands)}
        for i, cand in enumerate(cands):
            chunk = cand.hit.chunk
            neighbours = [
                covered[by_place[chunk.id, j]]
                for j in (cand.ordinal - 1, cand.ordinal + 1)
                if (chunk.id, j) in by_place
            ]
            cos = float(s_cos[i]), float(w_cos[i])
            cand.evidence = evidence.of(cand, *cos, covered[i], neighbours)
            cand.score = self.ranker.score(cand.evidence)
        self._ablation(question, weights, s_cos, cands, ahead, sentences)
        for i, (margin, share) in enumerate(rank_evidence([c.score for c in cands])):
            cand = cands[i]
            cand.evidence["rank_margin"] = margin
            cand.evidence["rank_share"] = share
            low, mean = ablation_evidence(cand.ablation_drops)
            cand.evidence["ablation_min"], cand.evidence["ablation_mean"] = low, mean
            cand.probability = self.decider.probability(cand.evidence)

    def common_word(self, word: str) -> bool:
        """An ordinary German word, not a name (the dictionary's German side)."""
        return self.translator is not None and self.translator.common_word(word)

    def translated_weights(self, question: str, lang: str) -> dict:
        """The question's terms in the documents' language, one group of stems per word
        of the question (its dictionary translations), weighted by the rarest known stem
        of the group; {} without a dictionary for this pair of languages."""
        translator = self.translator
        target = self.lexicon.lang
        if translator is None or lang == target or not translator.can(lang, target):
            return {}
        out: dict[tuple[str, ...], float] = {}
        for group in translator.groups(question, lang, target):
            weights = self.lexicon.term_weights(" ".join(group))
            if not weights:
                continue
            # weighted by its rarest translation the documents hold; a word none of whose
            # translations occur counts as rare as it gets (uncovered, like an absent term)
            present = [w for t, w in weights.items() if self.lexicon.df(t)]
            out[tuple(sorted(weights))] = max(present) if present else self.lexicon.rarity_scale()
        return out

    def ablation_texts(self, question: str, weights: dict[str, float] | None = None) -> list[str]:
        """The question variants the ablation evidence embeds (one per left-out word);
        ``weights``: the question's term weights, if already at hand."""
        if weights is None:
            weights = self.lexicon.term_weights(question)
        return ablation_variants(question, weights, self.lexicon.stem, self.ablated_words)

    def embed_ahead(self, question: str, pool: Executor) -> Future[dict[str, list[float]]] | None:
        """Start embedding the ablation texts on ``pool`` while the question itself is
        embedded and retrieved on this thread. Exact, not a guess: :meth:`weigh` looks the
        vectors up by text and embeds whatever the documents' language made different."""
        texts = self.ablation_texts(question)
        if not texts:
            return None
        return pool.submit(lambda: dict(zip(texts, self._embed_queries(texts))))

    def _embed_queries(self, texts: list[str]) -> list[list[float]]:
        many = getattr(self.embedder, "query_many", None)
        return many(texts) if many else [self.embedder.get_query_embedding(t) for t in texts]

    def _ablation(self, question, weights, s_cos, cands, ahead=None, sentences=None) -> None:
        """Each candidate's similarity drops when one of the question's rare words is left
        out (see ``answerability.ablation_variants``): one engine batch for all variants.
        ``sentences``: the candidates' sentence vectors as one matrix, if already made."""
        variants = self.ablation_texts(question, weights)
        if not variants:
            return
        known: dict[str, list[float]] = {}
        if ahead is not None:
            try:
                known = ahead.result()
            except Exception:  # embedded again below; a real fault shows there
                logger.warning("embedding ahead failed", exc_info=True)
        todo = [t for t in variants if t not in known]
        if todo:
            known = {**known, **dict(zip(todo, self._embed_queries(todo)))}
        v = np.asarray([known[t] for t in variants], dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
        if sentences is None:
            sentences = np.asarray([c.sentence_vec for c in cands], dtype=np.float32)
        s = sentences / (np.linalg.norm(sentences, axis=1, keepdims=True) + 1e-9)
        drops = s_cos[:, None] - s @ v.T
        for cand, d in zip(cands, drops):
            cand.ablation_drops = tuple(float(x) for x in d)

    def rank(self, question: str, lang: str, hits: list[Hit], q_vec: list[float], ahead=None):
        """Candidates, best first by the ranker."""
        cands = self.candidates(hits)
        self.weigh(question, lang, q_vec, cands, ahead)
        return sorted(cands, key=lambda c: c.score, reverse=True)

    def select(self, ranked: list[Candidate]) -> list[Candidate]:
        """What to quote: the best sentence, joined with the runner-up into one passage
        when the two stand side by side; a separate second quote only when the ranking
        cannot tell the two apart."""
        best = ranked[0]
        if len(ranked) < 2 or self.settings.max_cited_sentences < 2:
            return [best]
        second = ranked[1]
        if second.hit.chunk.id == best.hit.chunk.id and abs(second.ordinal - best.ordinal) == 1:
            return [joined(best, second)]
        if best.score - second.score < self.ranker.second_within and not overlapping(best, second):
            return [best, second]
        return [best]

    def answer(
        self,
        question: str,
        lang: str,
        hits: list[Hit],
        q_vec: list[float],
        ahead: Future[dict[str, list[float]]] | None = None,
    ) -> Answer:
        ranked = self.rank(question, lang, hits, q_vec, ahead)
        if not ranked:
            return Answer(phrases.DECLINE[lang], [], lang, self.mode, declined=True, retrieved=hits)
        best = ranked[0]
        on_topic = self.topic.probability(
            topic_evidence([c.evidence for c in ranked], best.probability)
        )
        closest = make_citation(1, best.hit, best.start, best.end, best.probability)
        common = {"retrieved": hits, "probability": best.probability, "closest": closest}
        if self.topic.declines(on_topic, self.shift):
            return Answer(
                phrases.DECLINE[lang],
                [],
                lang,
                self.mode,
                declined=True,
                confidence=1.0 - on_topic,
                outcome="declined",
                **common,
            )
        if self.decider.answers(best.probability, self.shift):
            chosen = self.select(ranked)
            citations = [
                make_citation(i + 1, c.hit, c.start, c.end, c.probability)
                for i, c in enumerate(chosen)
            ]
            text = frame(lang, question, chosen, self.common_word)
            return Answer(
                text,
                citations,
                lang,
                self.mode,
                confidence=best.probability,
                outcome="answered",
                **common,
            )
        shown = closest_passages(ranked, CLOSEST_PASSAGES)
        citations = [
            make_citation(i + 1, c.hit, c.start, c.end, c.probability) for i, c in enumerate(shown)
        ]
        return Answer(
            phrases.hedge(lang, [(c.text, c.hit.chunk.lang) for c in shown]),
            citations,
            lang,
            self.mode,
            declined=True,
            confidence=1.0 - best.probability,
            outcome="hedged",
            **common,
        )


class _Evidence:
    """One question's evidence for its candidates: what depends on the question alone is
    made once, and the question terms a chunk or a heading covers once per chunk and
    heading (most candidates share both with others)."""

    def __init__(self, reader: ExtractiveAnswerer, question: str, lang: str, weights: dict):
        self.reader, self.question, self.lang = reader, question, lang
        self.kind = expected_type(question)
        self.anchors = anchors(question)
        self.scale = reader.lexicon.rarity_scale()
        # the question's terms as each document language's words ({}: none in common)
        self.covers = {doc_lang: TermCover(w) for doc_lang, w in weights.items()}
        self.none = TermCover({})
        self._chunks: dict[tuple[str, str], tuple[frozenset[str], str]] = {}
        self._headings: dict[tuple[str, str], frozenset[str]] = {}

    def _chunk(self, chunk, cover: TermCover) -> tuple[frozenset[str], str]:
        key = (chunk.id, chunk.lang)
        if key not in self._chunks:
            terms = set(self.reader.lexicon.terms(chunk.text))
            self._chunks[key] = (cover.of(terms), chunk.text.lower())
        return self._chunks[key]

    def _heading(self, heading: str, lang: str, cover: TermCover) -> frozenset[str]:
        if not heading:
            return frozenset()
        if (heading, lang) not in self._headings:
            self._headings[heading, lang] = cover.of(set(self.reader.lexicon.terms(heading)))
        return self._headings[heading, lang]

    def cover(self, cand: Candidate) -> TermCover:
        """The question's terms in the words of the candidate's language."""
        return self.covers.get(cand.hit.chunk.lang, self.none)

    def of(self, cand: Candidate, sentence: float, window: float, covered, neighbours) -> dict:
        """The evidence for one candidate (``covered``: the question terms its sentence
        covers; ``neighbours``: those the candidates before and after it cover)."""
        chunk = cand.hit.chunk
        cover = self.cover(cand)
        context_hit, context_lower = self._chunk(chunk, cover)
        sentence_hit = covered
        neighbour_hit = sentence_hit.union(*neighbours)
        heading = heading_before(chunk.text, cand.start - chunk.start)
        common = self.reader.common_word if self.kind == "person" else None
        return covered_features(
            sentence=sentence,
            window=window,
            chunk=cand.hit.dense,
            same_language=chunk.lang == self.lang,
            kind=self.kind,
            text=cand.text,
            question=self.question,
            cover=cover,
            sentence_hit=sentence_hit,
            context_hit=context_hit,
            neighbour_hit=neighbour_hit,
            heading_hit=self._heading(heading, chunk.lang, cover),
            common=common if chunk.lang == "de" else None,
            question_anchors=self.anchors,
            context_lower=context_lower,
            known=self.reader.lexicon.known,
            rarity_scale=self.scale,
        )


def closest_passages(ranked: list[Candidate], limit: int) -> list[Candidate]:
    """The best-ranked sentences that do not overlap, at most ``limit``: what a hedge
    shows so the user can judge (the answer is often among them when none is certain)."""
    shown: list[Candidate] = []
    for cand in ranked:
        if len(shown) == limit:
            break
        if not any(overlapping(cand, s) for s in shown):
            shown.append(cand)
    return shown


def overlapping(a: Candidate, b: Candidate) -> bool:
    return a.hit.chunk.source == b.hit.chunk.source and a.start < b.end and b.start < a.end


def joined(a: Candidate, b: Candidate) -> Candidate:
    """Two neighbouring sentences of one chunk as one passage, judged as the better one."""
    chunk = a.hit.chunk
    start, end = min(a.start, b.start), max(a.end, b.end)
    text = chunk.text[start - chunk.start : end - chunk.start]
    return Candidate(
        a.hit,
        start,
        end,
        text,
        score=a.score,
        probability=a.probability,
        evidence=a.evidence,
        ordinal=min(a.ordinal, b.ordinal),
    )


def frame(lang: str, question: str, chosen: list[Candidate], common=None) -> str:
    """The answer text: each quote behind its [n]; across languages the source's language
    is named and the asked-for name, number or date is set apart in bold (``common``:
    ordinary German words, which are no names)."""
    kind = expected_type(question)
    parts = []
    for i, cand in enumerate(chosen):
        doc_lang = cand.hit.chunk.lang
        spans = answer_spans(kind, cand.text, question, common) if doc_lang != lang else []
        parts.append(phrases.cited(lang, i, cand.text, doc_lang, spans[0] if spans else None))
    return "\n\n".join(parts)
