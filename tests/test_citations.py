"""Citation markers and quotes: pure functions."""

from assistant.answer.citations import (
    Citation,
    MarkerStreamFilter,
    cited_numbers,
    strip_invalid_markers,
    verify,
)


def test_cited_numbers_in_order_of_first_use():
    assert cited_numbers("a [2] b [1, 2] c [3][2]") == [2, 1, 3]


def test_invalid_markers_are_removed_valid_ones_kept():
    text = "Bilal bin Saqib leitet es [1] [7]. Auch [1, 9] und [2,3]."
    assert strip_invalid_markers(text, {1, 2}) == "Bilal bin Saqib leitet es [1]. Auch [1] und [2]."


def test_stream_filter_handles_markers_split_across_pieces():
    pieces = ["Er ist CEO [", "1", "] und [", "9] Berater [1", "]."]
    filt = MarkerStreamFilter({1})
    out = "".join(filt.feed(p) for p in pieces) + filt.flush()
    assert "[9]" not in out
    assert out.count("[1]") == 2
    assert out.startswith("Er ist CEO [1] und")


def test_verify_and_context_highlight():
    source = "Erster Satz. Zweiter Satz mit Fakt. Dritter."
    start = source.index("Zweiter")
    end = source.index("Dritter") - 1
    cit = Citation(1, "a.txt", start, end, source[start:end], 0.9, context=source, context_start=0)
    assert verify(source, cit)
    before, quote, after = cit.quote_in_context
    assert quote == "Zweiter Satz mit Fakt." and before.endswith("Satz. ") and after == " Dritter."
    assert not verify(source, Citation(1, "a.txt", 0, 5, "Zweit", 0.9))
    assert set(cit.to_dict()) == {"n", "source", "start", "end", "quote", "score", "page"}
