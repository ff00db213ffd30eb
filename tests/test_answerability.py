"""The answerability evidence and decision on their own: pure functions, no index."""

import pytest

from assistant.answer.judge import (
    DECIDE_FEATURES,
    DECIDER,
    RANK_FEATURES,
    RANKER,
    TOPIC,
    TOPIC_FEATURES,
    Decider,
    Ranker,
    TermCover,
    TopicJudge,
    ablation_evidence,
    ablation_variants,
    anchors,
    coverage,
    features,
    heading_before,
    rank_evidence,
    topic_evidence,
)
from assistant.answer.kinds import answer_spans, expected_type, is_name


class TestExpectedType:
    @pytest.mark.parametrize(
        "question, kind",
        [
            ("Wann wurde der Pakistan Crypto Council gegründet?", "time"),
            ("In what year did Tesla move to New York?", "time"),
            ("Wie viele Punkte gab die Verteidigung ab?", "number"),
            ("How many career sacks did Jared Allen have?", "number"),
            ("Wer ist der CEO des Pakistan Crypto Council?", "person"),
            ("Which architect designed the museum?", "person"),
            ("Wo wurde Marie Curie geboren?", "place"),
            ("In which laboratory did Lavoisier work?", "place"),
            ("Warum verließ Tesla die Firma?", "reason"),
            ("Was ist ein Ctenophore?", None),
        ],
    )
    def test_question_words_give_the_kind(self, question, kind):
        assert expected_type(question) == kind

    def test_answer_spans_ignore_what_the_question_already_says(self):
        q = "Wie viele Abonnenten hatte Sky 1998?"
        assert answer_spans("number", "Im Jahr 1998 startete Sky.", q) == []
        assert answer_spans("number", "1998 hatte Sky 350.000 Abonnenten.", q) == ["350.000"]

    def test_reason_needs_a_causal_connective(self):
        q = "Warum verließ Tesla die Firma?"
        assert answer_spans("reason", "Tesla verließ die Firma 1886.", q) == []
        assert answer_spans("reason", "Er ging, weil er kein Geld bekam.", q) == ["weil"]


class TestTermsAndAnchors:
    def test_anchors_are_names_and_numbers_not_question_words(self):
        assert anchors("Wann wurde der Pakistan Crypto Council 2024 gegründet?") == [
            "pakistan",
            "crypto",
            "council",
            "2024",
        ]
        assert anchors("Who is Donald Trump?") == ["donald", "trump"]

    def test_coverage_weighs_rare_terms_more(self):
        weights = {"council": 3.0, "gegrundet": 1.0}
        assert coverage(weights, {"council"}) == 0.75
        assert coverage(weights, set()) == 0.0
        assert coverage({}, {"x"}) == 0.0

    def test_term_cover_gives_the_same_shares_as_coverage(self):
        weights = {"council": 3.0, ("rat", "gremium"): 1.5, "unternehm": 1.0, "x": 0.0}
        cover = TermCover(weights)
        for present in (
            set(),
            {"council"},
            {"gremium", "kryptowährungsunternehm"},
            {"council", "rat", "unternehm"},
            {"counci", "ra"},
        ):
            assert cover.share(cover.of(present)) == coverage(weights, present)
        assert TermCover({}).share(frozenset()) == coverage({}, set()) == 0.0

    def test_ablation_leaves_out_the_rarest_words_one_at_a_time(self):
        weights = {"tesla": 5.0, "geboren": 2.0, "jahr": 0.5}
        variants = ablation_variants(
            "In welchem Jahr wurde Tesla geboren?", weights, lambda w: w, 4
        )
        assert variants[0] == "In welchem Jahr wurde  geboren?"
        assert variants[1] == "In welchem Jahr wurde Tesla ?"
        assert len(variants) == 3
        # fewer words: the rarest ones, in the same order
        assert (
            ablation_variants("In welchem Jahr wurde Tesla geboren?", weights, lambda w: w, 2)
            == (variants[:2])
        )
        assert (
            ablation_variants("In welchem Jahr wurde Tesla geboren?", weights, lambda w: w, 0) == []
        )

    def test_ablation_evidence_is_the_worst_and_the_mean_drop(self):
        assert ablation_evidence([0.02, -0.01, 0.05]) == pytest.approx((-0.01, 0.02))
        assert ablation_evidence([]) == (0.0, 0.0)


def _features(**overrides):
    base = dict(
        sentence=0.9,
        window=0.9,
        chunk=0.85,
        same_language=True,
        kind="time",
        text="Der Rat wurde 2024 gegründet.",
        question="Wann wurde der Rat gegründet?",
        term_weights={"rat": 2.0, "gegrund": 1.0},
        sentence_terms={"rat", "gegrund", "2024"},
        context_terms={"rat", "gegrund", "2024"},
        question_anchors=["rat"],
        context_lower="der rat wurde 2024 gegründet.",
        known=lambda w: True,
        rarity_scale=5.0,
    )
    base.update(overrides)
    return features(**base)


class TestFeatures:
    def test_every_model_input_is_there(self):
        f = _features()
        assert set(RANK_FEATURES) <= set(f) and set(DECIDE_FEATURES) <= set(f)

    def test_a_sentence_with_the_asked_kind_and_all_terms(self):
        f = _features()
        assert f["type_present"] == 1 and f["type_missing"] == 0
        assert f["coverage_sentence"] == 1.0 and f["uncovered_share"] == 0.0

    def test_a_sentence_without_a_date_for_a_when_question(self):
        f = _features(text="Der Rat berät die Regierung.", sentence_terms={"rat", "berat"})
        assert f["type_present"] == 0 and f["type_missing"] == 1
        assert f["coverage_sentence"] == pytest.approx(2 / 3)

    def test_no_terms_in_the_sentences_language_no_coverage(self):
        """Across languages without a dictionary the answerer passes no terms."""
        f = _features(same_language=False, term_weights={})
        assert f["coverage_sentence"] == 0 and f["uncovered_share"] == 0

    def test_a_translated_word_is_covered_by_any_of_its_translations(self):
        weights = {("kundig", "entlass"): 2.0, ("frist",): 1.0}
        f = _features(
            same_language=False,
            question="How long is the notice period for a dismissal?",
            term_weights=weights,
            sentence_terms={"kundig", "wochen"},
            context_terms={"kundig", "wochen"},
        )
        assert f["coverage_sentence"] == pytest.approx(2 / 3)
        assert f["uncovered_share"] == pytest.approx(1 / 3)

    def test_the_heading_and_the_neighbours_count_apart(self):
        f = _features(
            sentence_terms={"2024"},
            neighbour_terms={"rat"},
            heading_terms={"gegrund"},
        )
        assert f["coverage_neighbours"] == pytest.approx(2 / 3)
        assert f["coverage_heading"] == pytest.approx(1 / 3)

    def test_the_heading_a_sentence_stands_under(self):
        text = "### § 3 Dauer des Urlaubs\n\n(1) Der Urlaub beträgt 24 Werktage.\n"
        assert heading_before(text, text.index("(1)")) == "### § 3 Dauer des Urlaubs"
        assert heading_before(text, 0) == ""
        assert heading_before("§ 12 Kosten\nDer Mieter zahlt.", 15) == "§ 12 Kosten"

    def test_names_the_corpus_never_mentions(self):
        f = _features(question_anchors=["trump", "rat"], known=lambda w: w == "rat")
        assert f["unknown_anchors"] == 0.5 and f["anchor_coverage"] == 0.5


class TestDecision:
    def test_rank_evidence_margins_and_shares(self):
        [(m1, s1), (m2, s2)] = rank_evidence([2.0, 1.0])
        assert m1 == 1.0 and m2 == -1.0 and s1 > s2 and s1 + s2 == pytest.approx(1.0)
        assert rank_evidence([]) == []

    def test_answers_from_the_answer_point(self):
        d = Decider(0.0, (0.0,) * len(DECIDE_FEATURES), answer_at=0.6)
        assert d.answers(0.7) and not d.answers(0.5)
        assert not d.answers(0.7, shift=0.2)  # ASSISTANT_MIN_RELEVANCE: stricter

    def test_probability_is_logistic_in_the_features(self):
        coef = tuple(1.0 if f == "sentence" else 0.0 for f in DECIDE_FEATURES)
        d = Decider(-0.5, coef, 0.5)
        f = dict.fromkeys(DECIDE_FEATURES, 0.0)
        assert d.probability({**f, "sentence": 0.5}) == pytest.approx(0.5)
        assert d.probability({**f, "sentence": 2.0}) > 0.8

    def test_the_fitted_models_use_the_evidence_sensibly(self):
        """The shipped coefficients (bench/fit_answerability.py) reward what a careful
        reader rewards: similarity, and the asked kind of answer being present."""
        rank = dict(zip(RANK_FEATURES, RANKER.coef))
        assert rank["sentence"] > 0 and rank["window"] > 0
        assert rank["type_present"] > rank["type_missing"]
        decide = dict(zip(DECIDE_FEATURES, DECIDER.coef))
        assert decide["type_missing"] < 0
        assert 0 < DECIDER.answer_at < 1
        topic = dict(zip(TOPIC_FEATURES, TOPIC.coef))
        assert topic["best_chunk"] > 0  # a closer passage: more likely on the subject
        assert 0 < TOPIC.decline_below < 1
        assert isinstance(RANKER, Ranker) and RANKER.second_within >= 0


class TestTopicJudge:
    """ "Not in the documents" is its own decision, on question-level evidence."""

    def test_evidence_takes_the_best_of_the_candidates(self):
        base = dict.fromkeys(DECIDE_FEATURES, 0.0)
        a = {**base, "chunk": 0.8, "sentence": 0.7, "coverage_context": 0.2, "same_language": 1.0}
        b = {**base, "chunk": 0.9, "sentence": 0.6, "coverage_context": 0.5}
        e = topic_evidence([a, b], probability=0.3)
        assert e["best_chunk"] == 0.9 and e["best_sentence"] == 0.7
        assert e["best_coverage"] == 0.5 and e["best_probability"] == 0.3
        assert e["same_language"] == 0.0  # of the best chunk (b)
        assert set(e) == set(TOPIC_FEATURES)

    def test_no_candidates_is_no_evidence(self):
        assert topic_evidence([], 0.0) == dict.fromkeys(TOPIC_FEATURES, 0.0)

    def test_declines_only_below_its_point(self):
        coef = tuple(10.0 if f == "best_chunk" else 0.0 for f in TOPIC_FEATURES)
        judge = TopicJudge(-8.0, coef, decline_below=0.5)
        low = {**dict.fromkeys(TOPIC_FEATURES, 0.0), "best_chunk": 0.7}
        high = {**low, "best_chunk": 0.9}
        assert judge.off_topic(low) and not judge.off_topic(high)
        assert judge.off_topic(high, shift=0.5)  # ASSISTANT_MIN_RELEVANCE: declines more


class TestBoldSpans:
    """A bold short answer is a whole word or phrase of the asked kind, or nothing."""

    def test_a_number_inside_a_word_is_no_number(self):
        q = "How many US dollars did WLF invest?"
        assert answer_spans(expected_type(q), "Die WLF1 ist ein Token.", q) == []

    def test_a_number_keeps_its_scale_and_unit(self):
        q = "How many US dollars did WLF invest?"
        text = "WLF investierte 100 Millionen Dollar in das Projekt."
        assert answer_spans(expected_type(q), text, q) == ["100 Millionen Dollar"]

    def test_a_name_is_cut_from_the_noun_phrase_in_front_of_it(self):
        q = "Who leads the Pakistan Crypto Council?"
        text = "Der Council steht unter Führung von Bilal bin Saqib."
        assert answer_spans(expected_type(q), text, q) == ["Bilal bin Saqib"]

    def test_ordinary_words_the_dictionary_knows_are_no_name(self):
        common = {"künstliche", "intelligenz"}.__contains__
        assert not is_name("Künstliche Intelligenz", lambda w: common(w.lower()))
        assert is_name("Natalie Baker", lambda w: common(w.lower()))

    def test_a_german_noun_phrase_is_no_name(self):
        assert not is_name("Förderung von Blockchain-")
        assert not is_name("Die Bundesnetzagentur")
        assert is_name("Bilal bin Saqib") and is_name("Natalie Baker")
