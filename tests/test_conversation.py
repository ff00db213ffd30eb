"""Follow-up detection and the memory of cited sources, on their own."""

from assistant.question.followup import CitedSources, is_follow_up, new_anchors, previous_question

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
    def test_remembers_by_answer_words_not_by_styling(self):
        memory = CitedSources()
        memory.remember("Laut [1]: „Bilal bin Saqib leitet den Rat.“", ["a.txt"])
        turns = [
            {"role": "assistant", "content": "Laut <a>[1]</a>: *Bilal bin Saqib leitet den Rat.*"}
        ]
        assert memory.of(turns) == ["a.txt"]

    def test_an_explicit_sources_key_wins(self):
        memory = CitedSources()
        turns = [{"role": "assistant", "content": "x", "sources": ["b.txt"]}]
        assert memory.of(turns) == ["b.txt"]

    def test_is_bounded(self):
        memory = CitedSources(size=2)
        for i in range(3):
            memory.remember(f"answer number {i}", [f"{i}.txt"])
        assert memory.of([{"role": "assistant", "content": "answer number 0"}]) == []
        assert memory.of([{"role": "assistant", "content": "answer number 2"}]) == ["2.txt"]
