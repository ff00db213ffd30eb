"""Follow-up detection and the memory of cited sources, on their own."""

from assistant.question.followup import (
    FollowUp,
    FollowUpResolver,
    cited_sources,
    is_follow_up,
    new_anchors,
    previous_question,
    standalone,
)

HISTORY = [
    {"role": "user", "content": "Wer ist der CEO des Pakistan Crypto Council?"},
    {"role": "assistant", "content": "Laut [1]: „Bilal bin Saqib …“"},
]


class TestFollowUp:
    def test_needs_an_earlier_question(self):
        assert not is_follow_up("Und wann wurde er gegründet?", [])
        assert previous_question(HISTORY) == HISTORY[0]["content"]

    def test_pronouns_continuations_and_short_questions(self):
        assert is_follow_up("Und wann wurde er gegründet?", HISTORY)
        assert is_follow_up("What about the ambassador?", HISTORY)
        assert is_follow_up("Seit wann?", HISTORY)

    def test_a_question_naming_something_else_is_new(self):
        assert not is_follow_up("Gibt es in Warschau eine Universität?", HISTORY, True)

    def test_new_anchors_are_names_the_earlier_sources_lack(self):
        known = {"warschau", "pakistan"}.__contains__
        text = "Der Pakistan Crypto Council wird von Bilal bin Saqib geleitet."
        assert new_anchors("Wie groß ist Warschau?", text, known)
        assert not new_anchors("Wann wurde Pakistan gegründet?", text, known)
        assert not new_anchors("Wo liegt Atlantis?", text, known)  # not in the corpus at all


class TestCitedSources:
    def test_the_sources_travel_with_the_history(self):
        turns = [*HISTORY[:1], {"role": "assistant", "content": "x", "sources": ["b.txt"]}]
        assert cited_sources(turns) == ["b.txt"]
        assert cited_sources(HISTORY) == []  # a history without them favours nothing


class TestStandalone:
    TURNS = [
        {"role": "user", "content": "Mit wem sprach Bilal bin Saqib?"},
        {"role": "assistant", "content": "Laut [1]: **Natalie Baker**, US-Botschafterin"},
    ]

    def test_a_pronoun_becomes_the_name_the_answer_gave(self):
        assert standalone("Wer ist sie?", self.TURNS) == "Wer ist Natalie Baker?"

    def test_a_bare_question_word_takes_over_the_previous_question(self):
        assert standalone("Und wann?", self.TURNS) == "Wann sprach Bilal bin Saqib?"

    def test_the_names_of_the_question_are_not_the_focus(self):
        turns = [
            {"role": "user", "content": "Who is the CEO of the Pakistan Crypto Council?"},
            {"role": "assistant", "content": "According to [1]: „Bilal bin Saqib leitet den Rat“"},
        ]
        assert standalone("Who is he?", turns) == "Who is Bilal bin Saqib?"

    def test_a_question_of_its_own_is_left_alone(self):
        assert standalone("Wie groß ist Warschau?", self.TURNS) == "Wie groß ist Warschau?"


class TestResolver:
    def test_a_follow_up_names_its_documents_and_search(self):
        resolver = FollowUpResolver(lambda sources: "Natalie Baker", lambda w: False)
        turns = [TestStandalone.TURNS[0], TestStandalone.TURNS[1] | {"sources": ["a.txt"]}]
        follow = resolver.resolve("Wer ist sie?", turns)
        assert follow == FollowUp("Wer ist Natalie Baker?", "Wer ist Natalie Baker?", ["a.txt"])

    def test_no_conversation_no_follow_up(self):
        resolver = FollowUpResolver(lambda sources: "", lambda w: False)
        assert resolver.resolve("Wer ist sie?", []) is None
