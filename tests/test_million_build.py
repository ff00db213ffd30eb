"""bench/million.py: the bulk builder of large benchmark indexes.

The offset arithmetic is pure; the build itself is checked at 2,000 chunks grown from
the indexed shipped article: the app opens the result with its normal code, finds the
lexical cache the builder wrote (the same BM25 as its own build) and answers with a
citation that is in the stored chunk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from million import apply, build, moved  # noqa: E402

from assistant import Assistant  # noqa: E402
from assistant.retrieve.lexical import LanguageIndex, language_key  # noqa: E402
from assistant.store.chunks import ChunkStore  # noqa: E402
from tests.conftest import make_settings  # noqa: E402


def test_apply_replaces_words_and_moved_follows_the_offsets():
    text = "Am 6. Oktober 1973 starteten Syrien und Ägypten."
    edits = [(3, 4, "16"), (14, 18, "1899"), (29, 35, "Kalbenrathland")]
    new, ends, deltas = apply(text, edits)
    assert new == "Am 16. Oktober 1899 starteten Kalbenrathland und Ägypten."
    for word in ("Oktober", "starteten", "und", "Ägypten"):
        at = moved(text.index(word), ends, deltas)
        assert new[at : at + len(word)] == word
    assert moved(0, ends, deltas) == 0
    assert moved(len(text), ends, deltas) == len(new)


def test_apply_without_edits_is_the_identity():
    new, ends, deltas = apply("Ein Satz.", [])
    assert new == "Ein Satz." and moved(4, ends, deltas) == 4


@pytest.mark.slow
def test_bulk_built_index_opens_and_answers_with_the_apps_code(shipped_bot, tmp_path):
    source = ChunkStore(shipped_bot.settings)
    target_settings = make_settings(tmp_path, corpus_dir=shipped_bot.settings.corpus_dir)
    target = ChunkStore(target_settings)
    report = build(source, target, 2000)
    target.close()
    assert report["chunks"] == 2000
    assert report["vocabulary"]["de"] > 2 * len(source.collection().get()["ids"])

    store = ChunkStore(target_settings)
    manifest = store.manifest()
    assert sum(e.chunks for e in manifest.values()) == 2000
    chunks = list(store.iter_chunks(manifest))
    assert len(chunks) == 2000
    # the lexical cache is where the app looks, and holds what the app's build would
    files = [(s, e.version) for s, e in manifest.items()]
    folder = Path(target_settings.index_dir) / "lexical" / f"de-{language_key(files)}"
    cached = LanguageIndex.load(folder, "de")
    own = LanguageIndex.build("de", [(c.id, c.text) for c in chunks])
    for question in ("Pakistan Crypto Council CEO", "Botschafterin", "World Liberty Financial"):
        assert [c for c, _ in cached.search(question, 20)] == [
            c for c, _ in own.search(question, 20)
        ]
        assert np.allclose(
            [s for _, s in cached.search(question, 20)], [s for _, s in own.search(question, 20)]
        )
    # sentence spans of varied chunks lie on the varied text's words
    varied = [c for c in chunks if c.source.startswith("v")][:50]
    for chunk_id, vectors in store.sentence_vectors([c.id for c in varied]).items():
        chunk = next(c for c in varied if c.id == chunk_id)
        for v in vectors:
            assert chunk.start <= v.start < v.end <= chunk.end
            before = chunk.text[v.start - chunk.start - 1 : v.start - chunk.start]
            assert before in ("", " ", "\n")
    store.close()

    bot = Assistant(target_settings)
    answer = bot.ask("Wer ist der CEO des Pakistan Crypto Council?")
    assert answer.citations
    stored = {(c.source, c.start): c for c in chunks}
    for cit in answer.citations:
        assert any(
            c.source == cit.source and cit.quote in c.text
            for (source, _), c in stored.items()
            if source == cit.source
        )
    assert not [p for p in folder.parent.iterdir() if p != folder]  # nothing rebuilt
