"""Does this sentence answer the question? Evidence, and a calibrated decision on it.

A single similarity threshold cannot tell "the documents say" from "the documents talk
about this topic": a near-miss question ("when was the council founded?") is as similar
to the article as an answerable one. So each candidate sentence is described by a few
pieces of evidence that a careful reader would use (how well it and its surroundings
match, whether it holds the kind of answer asked for, whether the question's rare terms
and names occur there at all), and a logistic model turns them into a probability.

The coefficients below are written by ``bench/fit_answerability.py`` from the committed
development set in ``bench/data/`` (fit split only); rerun it to reproduce them. All
functions here are pure, so the decision is unit-tested on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from assistant.answer.kinds import answer_spans, name_part
from assistant.question.language import QUESTION_WORDS

# name_part: the follow-up resolver imports it from here
__all__ = [
    "ABLATED_WORDS",
    "DECIDE_FEATURES",
    "DECIDER",
    "RANK_FEATURES",
    "RANKER",
    "TOPIC",
    "TOPIC_FEATURES",
    "Decider",
    "Ranker",
    "TermCover",
    "TopicJudge",
    "ablation_evidence",
    "ablation_variants",
    "anchors",
    "answer_spans",
    "coverage",
    "covered",
    "covered_features",
    "features",
    "heading_before",
    "name_part",
    "rank_evidence",
    "topic_evidence",
]

# a heading line: markdown, or a numbered section or article of a law or contract
_HEADING_LINE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]+\S.*|(?:§+|Art\.|Artikel|Section|Article)[ \t]*\d+\w*\b.*)$",
    re.M,
)


def heading_before(text: str, offset: int) -> str:
    """The last heading line of ``text`` before ``offset`` ("" when there is none): the
    section a sentence stands under says what it is about."""
    found = ""
    for m in _HEADING_LINE.finditer(text, 0, offset):
        found = m.group(0).strip()
    return found


# --- terms and names of the question --------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_QUESTION_WORDS = QUESTION_WORDS | {"und", "and"}


def anchors(question: str) -> list[str]:
    """Names and numbers of a question, lower-cased: words that mean the same in any
    language, so they can be looked up in documents of the other language too."""
    out = []
    for i, m in enumerate(_WORD.finditer(question)):
        word = m.group(0)
        low = word.lower()
        if low in _QUESTION_WORDS or len(word) < 2:
            continue
        if any(ch.isdigit() for ch in word) or (i > 0 and word[0].isupper()):
            out.append(low)
    return out


def covered(term: str | tuple[str, ...], present: set[str]) -> bool:
    """A term occurs, alone or inside a compound ("unternehm" in "kryptowährungsunternehm");
    a group of terms (a word's dictionary translations) when one of them does."""
    if isinstance(term, tuple):
        return any(covered(t, present) for t in term)
    return term in present or (len(term) >= 5 and any(term in w for w in present))


def coverage(weights: dict[str, float], present: Iterable[str] | set[str]) -> float:
    """IDF-weighted share of the question's terms that occur in ``present``."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    present = present if isinstance(present, set) else set(present)
    return sum(w for t, w in weights.items() if covered(t, present)) / total


class TermCover:
    """One question's weighted terms against many sets of words (a chunk's, a sentence's,
    a heading's): which terms a set covers is found once per set (:meth:`of`, the scan for
    compounds is an answer's slow part) and every share is read from that (:meth:`share`);
    the same numbers as :func:`coverage` and :func:`covered`."""

    def __init__(self, weights: dict) -> None:
        self.weights = weights
        self.total = sum(weights.values())
        self._atoms = tuple(
            dict.fromkeys(a for t in weights for a in (t if isinstance(t, tuple) else (t,)))
        )

    def of(self, present: set[str]) -> frozenset[str]:
        """The question's single terms that ``present`` covers (as :func:`covered`)."""
        return frozenset(a for a in self._atoms if covered(a, present))

    def holds(self, term: str | tuple[str, ...], hit: frozenset[str]) -> bool:
        """Whether ``term`` (or one of a group) is among the covered terms ``hit``."""
        return any(a in hit for a in term) if isinstance(term, tuple) else term in hit

    def share(self, hit: frozenset[str]) -> float:
        """IDF-weighted share of the question's terms among ``hit`` (as :func:`coverage`)."""
        if self.total <= 0:
            return 0.0
        return sum(w for t, w in self.weights.items() if self.holds(t, hit)) / self.total


# --- the models -------------------------------------------------------------------------

# Evidence about one candidate sentence (see ``features``).
RANK_FEATURES = (
    "sentence",  # cosine of the sentence to the question
    "window",  # cosine of the sentence with the one before it
    "chunk",  # cosine of the whole chunk
    "same_language",  # 1 when question and document share a language
    "type_present",  # the asked kind (number, date, name, place) is in the sentence
    "type_missing",  # it is asked for and not in the sentence
    "coverage_sentence",  # IDF share of question terms in the sentence (same language)
    "coverage_context",  # ... in the sentence's chunk (same language)
    "coverage_neighbours",  # ... in the sentence with the ones before and after it
    "coverage_heading",  # ... in the heading the sentence stands under (§ 3 Dauer des Urlaubs)
    "anchor_sentence",  # share of the question's names/numbers found in the sentence
    "anchor_coverage",  # ... in the chunk
)
# Evidence about the best candidate of a question, for the decision to answer.
DECIDE_FEATURES = (
    *RANK_FEATURES,
    "unknown_anchors",  # share of the question's names/numbers that occur nowhere
    "uncovered_share",  # IDF share of question terms the chunk lacks (same language)
    "uncovered_rarest",  # how rare the rarest term the chunk lacks is (same language)
    "rank_share",  # softmax share of the best sentence among the candidates
    "ablation_min",  # the most a question word *hurts* the match when present (see below)
    "ablation_mean",  # how much the question's rare words help the match on average
)
# The question's rarest words, each left out once for the ablation evidence: written by
# bench/fit_answerability.py with the model (0: no ablation, no extra engine call). Each
# word costs an embedding of the question. On the held-out split 1 and 0 words are within
# noise of 4 (bench/ablation.py; 2 declines slightly more English questions), but with
# fewer than 2 an English question over the shipped German article ("Who is the CEO of
# …") is no longer answered.
ABLATED_WORDS = 2


def ablation_variants(
    question: str, weights: dict[str, float], stem, limit: int = ABLATED_WORDS
) -> list[str]:
    """The question with one of its rarest content words left out, for each such word.

    How much the sentence's similarity drops without a word says whether the sentence
    speaks of what that word means, in either language: where a word of the question
    has nothing to match in the sentence ("founded" against "was born"), leaving it out
    makes the question *closer* to the sentence.
    """
    words = []
    for m in _WORD.finditer(question):
        word = m.group(0)
        stemmed = stem([word.lower()])[0]
        if stemmed in weights and word.lower() not in _QUESTION_WORDS:
            words.append((weights[stemmed], m.start(), m.end()))
    words.sort(reverse=True)
    return [question[:a] + question[b:] for _, a, b in words[:limit]]


def ablation_evidence(drops: Sequence[float]) -> tuple[float, float]:
    """(ablation_min, ablation_mean) from one sentence's similarity drops, one per left-out
    word (rarest word first); (0, 0) when the question has no word to leave out."""
    if not drops:
        return 0.0, 0.0
    return float(min(drops)), float(sum(drops) / len(drops))


@dataclass(frozen=True)
class Ranker:
    """Linear ranking of the candidate sentences of one question (conditional logit).

    ``second_within``: a runner-up that is not next to the best sentence is quoted as a
    second source only when its score is this close to the best one (ranking is unsure).
    """

    coef: tuple[float, ...]
    second_within: float = 0.0

    def score(self, features: dict[str, float]) -> float:
        return sum(c * features[f] for c, f in zip(self.coef, RANK_FEATURES))


@dataclass(frozen=True)
class Decider:
    """Logistic regression: does the best sentence answer? Plus the answer point.

    Below the answer point the outcome is not a decline: the closest passages are shown
    ("hedged"). Whether the documents say nothing at all is the :class:`TopicJudge`'s call.
    """

    intercept: float
    coef: tuple[float, ...]
    answer_at: float  # probability from which the sentence is quoted as the answer

    def probability(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(c * features[f] for c, f in zip(self.coef, DECIDE_FEATURES))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def answers(self, probability: float, shift: float = 0.0) -> bool:
        """Quote the sentence as the answer? ``shift`` raises the point (+: stricter)."""
        return probability >= min(0.99, self.answer_at + shift)


def rank_evidence(scores: list[float]) -> list[tuple[float, float]]:
    """(margin to the best other, softmax share) of each ranking score."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    out = []
    for i, s in enumerate(scores):
        others = scores[:i] + scores[i + 1 :]
        out.append((s - max(others) if others else 1.0, exps[i] / total))
    return out


# Evidence that the retrieved passages are about the question's subject at all, from the
# candidates' evidence (see ``topic_evidence``). "Not in the documents" is a claim about
# the whole corpus, so it is decided on its own, not as the low end of the answer decision.
TOPIC_FEATURES = (
    "best_chunk",  # the best chunk's cosine to the question
    "best_sentence",  # the best sentence's cosine
    "best_window",  # the best sentence-with-its-neighbour cosine
    "best_coverage",  # the largest share of question terms one chunk holds (same language)
    "best_anchors",  # the largest share of the question's names/numbers one chunk holds
    "unknown_anchors",  # share of the question's names/numbers the corpus never mentions
    "same_language",  # the best chunk is in the question's language
    "best_probability",  # the decider's belief in the best sentence
)


def topic_evidence(evidence: Sequence[dict[str, float]], probability: float) -> dict[str, float]:
    """The question-level evidence for the topic decision, from each candidate's
    evidence (``features``) and the decider's belief in the best one."""
    if not evidence:
        return {f: 0.0 for f in TOPIC_FEATURES}
    best = max(evidence, key=lambda e: e["chunk"])
    return {
        "best_chunk": max(e["chunk"] for e in evidence),
        "best_sentence": max(e["sentence"] for e in evidence),
        "best_window": max(e["window"] for e in evidence),
        "best_coverage": max(e["coverage_context"] for e in evidence),
        "best_anchors": max(e["anchor_coverage"] for e in evidence),
        "unknown_anchors": evidence[0]["unknown_anchors"],
        "same_language": best["same_language"],
        "best_probability": float(probability),
    }


@dataclass(frozen=True)
class TopicJudge:
    """Logistic regression: is anything retrieved about the question's subject?

    Fitted on questions over the documents (answerable and near-miss: on topic) against
    questions about other domains; ``decline_below`` is set so that almost no on-topic
    question of the fit split is told "not in the documents".
    """

    intercept: float
    coef: tuple[float, ...]
    decline_below: float

    def probability(self, evidence: dict[str, float]) -> float:
        z = self.intercept + sum(c * evidence[f] for c, f in zip(self.coef, TOPIC_FEATURES))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def declines(self, probability: float, shift: float = 0.0) -> bool:
        """Say "not in the documents" at this on-topic probability? ``shift`` raises the
        point (+: says it more often; ASSISTANT_MIN_RELEVANCE moves both points up)."""
        return probability < self.decline_below + shift

    def off_topic(self, evidence: dict[str, float], shift: float = 0.0) -> bool:
        return self.declines(self.probability(evidence), shift)


# Written by bench/fit_answerability.py (fit split of bench/data/); do not edit by hand.
RANKER = Ranker(
    coef=(
        31.7123,  # sentence
        16.6534,  # window
        43.9635,  # chunk
        -4.0376,  # same_language
        1.0896,  # type_present
        -0.8336,  # type_missing
        3.3084,  # coverage_sentence
        3.2918,  # coverage_context
        1.0916,  # coverage_neighbours
        2.9381,  # coverage_heading
        -0.6808,  # anchor_sentence
        0.6520,  # anchor_coverage
    ),
    second_within=0.0,
)
DECIDER = Decider(
    intercept=-16.0026,
    coef=(
        9.3691,  # sentence
        2.0079,  # window
        3.8073,  # chunk
        -0.8530,  # same_language
        -0.6353,  # type_present
        -1.8873,  # type_missing
        1.6106,  # coverage_sentence
        -0.2545,  # coverage_context
        1.1902,  # coverage_neighbours
        -3.5212,  # coverage_heading
        0.2232,  # anchor_sentence
        0.5604,  # anchor_coverage
        0.4668,  # unknown_anchors
        0.6496,  # uncovered_share
        -0.3426,  # uncovered_rarest
        2.6146,  # rank_share
        14.1740,  # ablation_min
        1.4028,  # ablation_mean
    ),
    answer_at=0.51,
)
TOPIC = TopicJudge(
    intercept=-20.9967,
    coef=(
        11.6153,  # best_chunk
        11.5962,  # best_sentence
        3.3510,  # best_window
        3.5058,  # best_coverage
        -0.3815,  # best_anchors
        -1.5315,  # unknown_anchors
        -1.3536,  # same_language
        2.8512,  # best_probability
    ),
    decline_below=0.14,
)


def features(
    *,
    term_weights: dict,
    sentence_terms: set[str],
    context_terms: set[str],
    neighbour_terms: set[str] = frozenset(),
    heading_terms: set[str] = frozenset(),
    **rest,
) -> dict[str, float]:
    """The evidence for one candidate sentence (all but the rank_* entries), from the
    sets of words around it; see :func:`covered_features` for the rest of the inputs."""
    cover = TermCover(term_weights)
    sentence_hit = cover.of(sentence_terms)
    return covered_features(
        cover=cover,
        sentence_hit=sentence_hit,
        context_hit=cover.of(context_terms),
        neighbour_hit=sentence_hit | cover.of(neighbour_terms),
        heading_hit=cover.of(heading_terms),
        **rest,
    )


def covered_features(
    *,
    sentence: float,
    window: float,
    chunk: float,
    same_language: bool,
    kind: str | None,
    text: str,
    question: str,
    cover: TermCover,
    sentence_hit: frozenset[str],
    context_hit: frozenset[str],
    neighbour_hit: frozenset[str],
    heading_hit: frozenset[str],
    question_anchors: list[str],
    common: Callable[[str], bool] | None = None,
    context_lower: str,
    known: Callable[[str], bool],
    rarity_scale: float,
) -> dict[str, float]:
    """The evidence for one candidate sentence (all but the rank_* entries); the question
    terms covered by the sentence, its chunk, it with its neighbours and its heading come
    from ``cover`` (:meth:`TermCover.of`), each set covered once per question."""
    found = bool(answer_spans(kind, text, question, common)) if kind else False
    n_anchor = len(question_anchors)
    text_lower = text.lower()
    term_weights = cover.weights
    missing = {t: w for t, w in term_weights.items() if not cover.holds(t, context_hit)}
    context_share = cover.share(context_hit)
    return {
        "sentence": float(sentence),
        "window": float(window),
        "chunk": float(chunk),
        "same_language": 1.0 if same_language else 0.0,
        "type_present": 1.0 if kind and found else 0.0,
        "type_missing": 1.0 if kind and not found else 0.0,
        "coverage_sentence": cover.share(sentence_hit),
        "coverage_context": context_share,
        "coverage_neighbours": cover.share(neighbour_hit),
        "coverage_heading": cover.share(heading_hit),
        "anchor_sentence": (
            sum(a in text_lower for a in question_anchors) / n_anchor if n_anchor else 1.0
        ),
        "anchor_coverage": (
            sum(a in context_lower for a in question_anchors) / n_anchor if n_anchor else 1.0
        ),
        "unknown_anchors": (
            sum(not known(a) for a in question_anchors) / n_anchor if n_anchor else 0.0
        ),
        "uncovered_share": 1.0 - context_share if term_weights else 0.0,
        "uncovered_rarest": max(missing.values()) / rarity_scale if missing else 0.0,
        "rank_margin": 0.0,
        "rank_share": 0.0,
        "ablation_min": 0.0,
        "ablation_mean": 0.0,
    }
