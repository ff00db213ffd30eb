"""The offline answerer: quotes the sentences of the retrieved chunks that answer.

Documents are untrusted; this answerer only ever quotes them, so nothing inside a
document can change what it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .answering import DECLINE, Answer, make_citation
from .chunking import answer_sentences
from .retrieval import Hit, tokenize
from .settings import Settings

_NUMBER_Q = re.compile(
    r"\b(wie viele|wieviele|wie viel|wieviel|how many|how much|welche[rsm]? (?:anzahl|zahl)|"
    r"what (?:number|percentage|amount)|wie hoch|wie groß|wie lang|wie alt|"
    r"how (?:long|old|large|big|high|far))\b",
    re.I,
)
_TIME_Q = re.compile(
    r"\b(wann|seit wann|in welchem jahr|welches jahr|welchem jahrhundert|when|what year|which year|"
    r"what century|in what year)\b",
    re.I,
)
_HAS_NUMBER = re.compile(
    r"\d|\b(ein|eine|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|hundert|tausend|"
    r"million|millionen|milliarden|one|two|three|four|five|six|seven|eight|nine|ten|hundred|"
    r"thousand)\b",
    re.I,
)
_HAS_TIME = re.compile(
    r"\b\d{3,4}\b|jahrhundert|januar|februar|märz|april|mai|juni|juli|august|september|"
    r"oktober|november|dezember",
    re.I,
)


@dataclass
class Candidate:
    hit: Hit
    start: int
    end: int
    text: str
    sentence_vec: list[float] | None = None
    window_vec: list[float] | None = None
    window: str = ""  # the text whose vector is the window vector
    score: float = 0.0


# Score weights and decline thresholds, fitted on XQuAD (see README, "Quality"):
# sentence and window similarity carry the score; the chunk's own similarity, shared
# stemmed terms and a matching answer type (a number for "how many") break ties.
W_CHUNK, W_OVERLAP, W_TYPE = 0.5, 0.08, 0.02
# Cross-language similarities run ~0.1 lower for e5-small, hence two thresholds.
THRESHOLD_SAME_LANGUAGE = 2.06
THRESHOLD_CROSS_LANGUAGE = 1.955


def _cos(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    return matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q) + 1e-9)


class ExtractiveAnswerer:
    """Quotes the best-matching sentences of the retrieved chunks, numbered [1], [2]."""

    mode = "extractive"

    def __init__(self, settings: Settings, embedder, stem=None, sentence_vectors=None):
        self.settings = settings
        self.embedder = embedder
        self.stem = stem or (lambda words: words)
        self.sentence_vectors = sentence_vectors or (lambda ids: {})
        self.offset = settings.min_relevance  # user shift of both thresholds

    def candidates(self, hits: list[Hit]) -> list[Candidate]:
        """Sentences of the hits with their stored vectors (embedded now if missing)."""
        stored = self.sentence_vectors([h.chunk.id for h in hits])
        out: list[Candidate] = []
        missing: list[Candidate] = []
        for hit in hits:
            c = hit.chunk
            vecs = {(v.start, v.end, v.kind): v.vector for v in stored.get(c.id, [])}
            for _, s, window in answer_sentences(c.text):
                start, end = c.start + s.start, c.start + s.end
                cand = Candidate(hit, start, end, s.text, window=window or s.text)
                cand.sentence_vec = vecs.get((start, end, "s"))
                # the first sentence has no window of its own: its sentence vector serves
                cand.window_vec = vecs.get((start, end, "w") if window else (start, end, "s"))
                if cand.sentence_vec is None or cand.window_vec is None:
                    missing.append(cand)
                out.append(cand)
        if missing:  # an index from before sentence vectors, or a store without them
            texts = [m.text for m in missing] + [m.window for m in missing]
            vecs = self.embedder.get_text_embedding_batch(texts)
            for i, m in enumerate(missing):
                m.sentence_vec, m.window_vec = vecs[i], vecs[len(missing) + i]
        return out

    def score(self, question: str, q_vec: list[float], cands: list[Candidate]) -> None:
        """Sentence score: its own and its window's similarity, plus tie-breakers."""
        if not cands:
            return
        q = np.asarray(q_vec, dtype=np.float32)
        s_cos = _cos(np.asarray([c.sentence_vec for c in cands], dtype=np.float32), q)
        w_cos = _cos(np.asarray([c.window_vec for c in cands], dtype=np.float32), q)
        q_terms = set(self.stem(tokenize(question)))
        wants_number = bool(_NUMBER_Q.search(question))
        wants_time = bool(_TIME_Q.search(question))
        for cand, sc, wc in zip(cands, s_cos, w_cos):
            s_terms = set(self.stem(tokenize(cand.text)))
            overlap = len(q_terms & s_terms) / len(q_terms) if q_terms else 0.0
            kind = 0.0
            if wants_number and _HAS_NUMBER.search(cand.text):
                kind += 1
            if wants_time and _HAS_TIME.search(cand.text):
                kind += 1
            cand.score = (
                float(sc + wc) + W_CHUNK * cand.hit.dense + W_OVERLAP * overlap + W_TYPE * kind
            )

    def threshold(self, lang: str, cand: Candidate) -> float:
        same = cand.hit.chunk.lang == lang
        base = THRESHOLD_SAME_LANGUAGE if same else THRESHOLD_CROSS_LANGUAGE
        return base + self.offset

    def select(self, lang: str, cands: list[Candidate]) -> list[Candidate]:
        """The best sentence, plus the runner-up if it also clears the threshold."""
        ranked = sorted(cands, key=lambda c: c.score, reverse=True)
        chosen = [
            c
            for c in ranked[: self.settings.max_cited_sentences]
            if c.score >= self.threshold(lang, c)
        ]
        return chosen

    def answer(self, question: str, lang: str, hits: list[Hit], q_vec: list[float]) -> Answer:
        cands = self.candidates(hits)
        self.score(question, q_vec, cands)
        chosen = self.select(lang, cands)
        if not chosen:
            return Answer(DECLINE[lang], [], lang, self.mode, declined=True, retrieved=hits)
        citations = [
            make_citation(i + 1, c.hit, c.start, c.end, c.score) for i, c in enumerate(chosen)
        ]
        return Answer(self.frame(lang, chosen), citations, lang, self.mode, retrieved=hits)

    @staticmethod
    def frame(lang: str, chosen: list[Candidate]) -> str:
        parts = []
        for i, cand in enumerate(chosen):
            n = i + 1
            quote = " ".join(cand.text.split())
            foreign = cand.hit.chunk.lang != lang
            if lang == "de":
                lead = "Laut" if i == 0 else "Außerdem laut"
                note = " (auf Englisch)" if foreign else ""
                parts.append(f"{lead} [{n}]{note}: „{quote}“")
            else:
                lead = "According to" if i == 0 else "Also, according to"
                note = " (quoted in German)" if foreign else ""
                parts.append(f"{lead} [{n}]{note}: “{quote}”")
        return "\n\n".join(parts)
