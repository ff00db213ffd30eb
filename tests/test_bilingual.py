"""The English -> German word translation (assistant.bilingual) on Ding lines made here;
one slow test reads Debian's real dictionary when it is installed."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.retrieve import bilingual, ding, ding_table
from assistant.retrieve.bilingual import (
    Dictionary,
    classify,
    english_word,
    german_word,
    is_inflection,
    parse_ding,
    question_words,
    stem_groups,
    table_bytes,
)

DING = """\
# Version :: test 2026-12-07
# Copyright (c) :: nobody
Arbeitnehmer {m}; Dienstnehmer {m} [Ös.] | Arbeitnehmer {pl}; Dienstnehmer {pl} | Arbeitnehmerin {f} :: employee; worker | employees; workers | female employee
Beschäftigter {m}; Beschäftigte {f}; Angestellter {m} /MA/ | Beschäftigte {pl}; Angestellte {pl} :: employee /EE/ | employees
kündigen {vt} | kündigend | gekündigt :: to terminate sth. | terminating | terminated
jdm. kündigen :: to dismiss sb.
Kündigung {f} (Arbeitsrecht) | Kündigungen {pl} | fristlose Kündigung :: dismissal (labour law) | dismissals | summary dismissal
Ende {n} :: end; termination
Kündigung des Arbeitsvertrags :: termination
Urlaub {m}; Beurlaubung {f} (Arbeitsrecht) | in Urlaub :: leave; holiday [Br.]; vacation [Am.] | away on leave
verlassen {vt} | verlassend | verlassen :: to leave | leaving | left
Abschied {m} :: leave
Mieter {m} (einer Immobilie) | Mieter {pl} :: (residential) tenant; renter [Am.] | tenants; renters
mieten {vt} | mietend | gemietet :: to rent | renting | rented
Miete {f} | Mieten {pl} :: rent | rents
Heizung {f} | Heizungen {pl} | Zentralheizung {f} :: heating (no indefinite article, no plural) | heating | central heating
Kosten {pl}; Ausgaben {pl} (für etw.; von etw.) [econ.] :: cost (of sth.); expense
Urheberrecht {n} [jur.] | Urheberrechte {pl} :: copyright | copyrights
Tag {m} | Tage {pl} | am Tag :: day | days
Wohnung {f} /Whg./ | gemietete Wohnung :: flat [Br.]; apartment [Am.] | rented flat
Autorität {f} :: authority
Autor {m}; Urheber {m} :: author
Deutschland {n} :: Germany
Heizkosten {pl} | Heizkostenabrechnung {f} :: heating costs | heating cost statement
Datenschutz {m} [jur.]; Datensicherung {f} :: data protection; privacy
bezahlter Urlaub :: paid leave
b {n} [mus.] :: flat
"""
LINES = DING.splitlines()


@pytest.fixture
def ding_file(tmp_path) -> Path:
    path = tmp_path / "de-en"
    path.write_text(DING, encoding="utf-8")
    return path


@pytest.fixture
def dictionary() -> Dictionary:
    return Dictionary.from_lines(LINES)


class TestParseDing:
    def test_single_words_on_both_sides(self):
        table = parse_ding(LINES)
        assert "female employee" not in table and "female" not in table
        assert "summary" not in table  # "summary dismissal" is a phrase
        assert all(" " not in g for words in table.values() for g in words)
        assert all(w == w.lower() for w in table) and all(
            g == g.lower() for words in table.values() for g in words
        )

    def test_senses_pair_by_position(self):
        table = parse_ding(LINES)
        assert "arbeitnehmer" in table["employees"]
        assert "arbeitnehmerin" not in table["employees"]  # the third part: female employee
        assert "angestellte" in table["employees"] and "angestellte" not in table["employee"]
        assert "angestellter" in table["employee"]
        assert table["terminated"] == ["gekündigt"] and table["terminating"] == ["kündigend"]

    def test_verbs_and_object_placeholders(self):
        table = parse_ding(LINES)
        assert table["terminate"] == ["kündigen"]
        assert table["dismiss"] == ["kündigen"]  # "jdm. kündigen" :: "to dismiss sb."

    def test_annotations_removed(self):
        table = parse_ding(LINES)
        assert table["tenant"][0] == "mieter"  # "(residential) tenant"
        assert table["heating"][0] == "heizung"  # "heating (no indefinite article ...)"
        assert table["employee"][0] == "arbeitnehmer"  # "/EE/" and "/MA/" are abbreviations
        # a ";" inside brackets does not split synonyms
        assert table["cost"] == ["kosten", "ausgaben"]

    def test_short_german_phrase_gives_its_head_noun_after_single_words(self):
        table = parse_ding(LINES)
        assert table["termination"] == ["ende", "kündigung"]

    def test_one_letter_german_words_are_noise(self):
        assert "b" not in parse_ding(LINES)["flat"]

    def test_misaligned_lines_keep_the_headword_part(self):
        lines = ["Tag {m} | Tage {pl} | am Tag :: day | days"]
        assert parse_ding(lines) == {"day": ["tag"]}

    def test_ranking_headword_before_regional_variants(self):
        employee = parse_ding(LINES)["employee"]
        assert employee[0] == "arbeitnehmer"
        assert employee.index("beschäftigter") < employee.index("dienstnehmer")

    def test_nouns_and_verbs_take_turns(self):
        leave = parse_ding(LINES)["leave"]
        assert set(leave) == {"urlaub", "beurlaubung", "abschied", "verlassen"}
        assert "verlassen" in leave[:2]

    def test_support_of_several_lines_ranks_first(self):
        lines = [
            "Abschied {m} :: leave",
            "Urlaub {m} :: leave; holiday",
            "Heimaturlaub {m}; Urlaub {m} :: home leave; leave",
        ]
        assert parse_ding(lines)["leave"][0] == "urlaub"

    def test_far_worse_translations_are_left_out(self):
        ranked = [(0.0, False, "tage"), (2.5, False, "täge"), (1.0, True, "tagen")]
        assert ding._interleave(ranked, 6) == ["tage", "tagen"]

    def test_two_word_english_nouns_with_phrases(self):
        assert "heating costs" not in parse_ding(LINES)
        table = parse_ding(LINES, phrases=True)
        assert table["heating costs"] == ["heizkosten"]
        assert table["data protection"] == ["datenschutz", "datensicherung"]
        assert "paid leave" not in table  # a German phrase for an English one: no compound
        assert "heating cost statement" not in table
        assert english_word("the end", phrases=True) is None  # a stopword is no noun

    def test_limit_caps_translations(self):
        assert all(len(words) <= 2 for words in parse_ding(LINES, limit=2).values())
        assert len(parse_ding(LINES, limit=2)["employee"]) == 2

    def test_comments_and_junk_lines_are_skipped(self):
        assert parse_ding(["# Version :: 1", "", "no separator here", "Haus {n} :: house"]) == {
            "house": ["haus"]
        }

    def test_word_helpers(self):
        assert english_word("to terminate (a contract)") == ("terminate", True)
        assert english_word("sth./sb.") is None
        assert english_word("notice to quit") is None
        assert english_word("to give sb. notice") is None
        assert german_word("Kündigung {f} (Arbeitsrecht) [jur.]") == ("Kündigung", False)
        assert german_word("sich erholen") == ("erholen", False)
        assert german_word("fristlose Kündigung") == ("Kündigung", True)
        assert german_word("in Urlaub") == ("Urlaub", True)
        assert german_word("die Wohnung kündigen und ausziehen") is None
        assert german_word("zu schnell") is None
        assert german_word("jdn./etw. anmelden {vt} [adm.]") == ("anmelden", False)
        assert german_word("jds. Urheberrecht {n} (an etw.)") == ("Urheberrecht", False)
        assert english_word("sb.’s copyright (to sth.)") == ("copyright", False)
        assert english_word("to register sb./sth.") == ("register", True)

    def test_law_and_administration_senses_rank_first(self):
        lines = ["Ende {n} :: termination", "Kündigung {f} (von etw.) [jur.] :: termination"]
        assert parse_ding(lines)["termination"] == ["kündigung", "ende"]


class TestDictionaryCache:
    def test_compiles_once_then_opens_the_compiled_file(self, ding_file, tmp_path, monkeypatch):
        cache = tmp_path / "cache"
        first = Dictionary.load(ding_file, cache_dir=cache)
        assert first.available and first.lookup("tenant")[0] == "mieter"
        assert len(list(cache.glob("ding-*.tsv"))) == 1
        assert not list(cache.glob(".ding-*"))  # no temporary file left behind

        words = parse_ding(LINES)

        compiled = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
        second = Dictionary.load(ding_file, cache_dir=cache)
        # opened, not compiled again: the compiled file is the same one, untouched
        assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == compiled
        assert isinstance(second.table, ding_table._MappedTable)
        for word in [*words, "copyrighted", "absent"]:
            assert second.lookup(word) == first.lookup(word)
        assert second.translate("Who pays the heating costs?") == first.translate(
            "Who pays the heating costs?"
        )

    def test_a_changed_source_compiles_anew_and_replaces_the_old_file(self, ding_file, tmp_path):
        cache = tmp_path / "cache"
        Dictionary.load(ding_file, cache_dir=cache)
        old = next(cache.glob("ding-*.tsv"))
        ding_file.write_text(DING + "Vermieter {m} :: landlord\n", encoding="utf-8")
        os.utime(ding_file, ns=(1_000_000_000, 1_000_000_000))
        again = Dictionary.load(ding_file, cache_dir=cache)
        assert again.lookup("landlord") == ["vermieter"]
        assert [p.name for p in cache.glob("ding-*.tsv")] != [old.name]
        assert len(list(cache.glob("ding-*.tsv"))) == 1

    def test_another_format_s_compilation_stays_a_while(self, ding_file, tmp_path):
        cache = tmp_path / "cache"
        current = Dictionary.load(ding_file, cache_dir=cache)
        assert current.available
        name = next(cache.glob("ding-*.tsv")).name
        recent = cache / name.replace(f"-v{ding.FORMAT_VERSION}-", "-v0-")
        ancient = cache / name.replace(f"-v{ding.FORMAT_VERSION}-", "-v00-")
        for other in (recent, ancient):
            other.write_bytes(b"another version's table")
        os.utime(ancient, (1_000_000, 1_000_000))
        ding_file.write_text(DING + "Vermieter {m} :: landlord\n", encoding="utf-8")
        Dictionary.load(ding_file, cache_dir=cache)
        assert recent.exists() and not ancient.exists()
        assert len(list(cache.glob(f"*-v{ding.FORMAT_VERSION}-*.tsv"))) == 1

    def test_mapped_table_finds_every_word_and_nothing_else(self, tmp_path):
        words = parse_ding(LINES)
        stems = stem_groups(words)
        path = tmp_path / "t.tsv"
        path.write_bytes(table_bytes(words, stems))
        table = bilingual.open_table(path)
        assert table is not None and len(table) == len(words)
        for word, german in words.items():
            assert table.translations(word) == german
        for stem, members in stems.items():
            assert table.members(stem) == members
        for absent in ("", "a", "aaa", "zzzz", "employe", "tenantx", "ärger"):
            assert table.translations(absent) == []

    def test_mapped_table_knows_the_same_german_words_as_the_parsed_one(self, tmp_path):
        words = parse_ding(LINES)
        path = tmp_path / "t.tsv"
        path.write_bytes(table_bytes(words, stem_groups(words)))
        mapped, parsed = bilingual.open_table(path), ding_table.Table(words, {})
        assert mapped is not None and mapped.german_words() == parsed.german_words()
        german = parsed.german_words()
        assert "kündigung" in german or "Kündigung" in german
        for word in [*german, "", "a", "zzzz", "natalie", "kündigungx", "employee"]:
            assert mapped.is_german(word) == parsed.is_german(word) == (word in german)

    def test_a_damaged_compiled_file_is_compiled_again(self, ding_file, tmp_path):
        cache = tmp_path / "cache"
        Dictionary.load(ding_file, cache_dir=cache)
        compiled = next(cache.glob("ding-*.tsv"))
        compiled.write_bytes(compiled.read_bytes()[:200])  # cut short
        again = Dictionary.load(ding_file, cache_dir=cache)
        assert again.lookup("copyright") == ["urheberrecht"]
        assert bilingual.open_table(compiled) is not None

    def test_an_unwritable_cache_folder_still_translates(self, ding_file, tmp_path):
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        loaded = Dictionary.load(ding_file, cache_dir=blocker / "cache")
        assert loaded.available and loaded.lookup("heating")[0] == "heizung"

    def test_environment_names_the_file(self, ding_file, tmp_path, monkeypatch):
        monkeypatch.setenv("ASSISTANT_DICTIONARY", str(ding_file))
        loaded = Dictionary.load(cache_dir=tmp_path / "cache")
        assert loaded.available and loaded.source == ding_file

    def test_default_cache_folder_follows_xdg(self, tmp_path, monkeypatch):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert bilingual.default_cache_dir() == tmp_path / "doc-assistant"

    def test_missing_file_gives_an_unavailable_dictionary(self, tmp_path):
        missing = Dictionary.load(tmp_path / "nothing-here", cache_dir=tmp_path / "cache")
        assert not missing.available
        assert missing.translate("How much leave does an employee get?") == []
        assert missing.translated_query("How much leave?") == ""
        assert "\n" not in missing.message
        assert "apt-get install trans-de-en" in missing.message
        assert "ASSISTANT_DICTIONARY" in missing.message
        assert not (tmp_path / "cache").exists()

    def test_a_file_without_entries_is_unavailable(self, tmp_path):
        empty = tmp_path / "de-en"
        empty.write_text("# only a comment\n", encoding="utf-8")
        assert not Dictionary.load(empty, cache_dir=tmp_path / "cache").available

    def test_one_dictionary_per_process(self, ding_file, tmp_path):
        thread = bilingual.preload(ding_file, tmp_path / "cache")
        thread.join(timeout=30)
        first = bilingual.shared(ding_file, tmp_path / "cache")
        assert first.available and bilingual.shared(ding_file, tmp_path / "cache") is first


class TestTranslate:
    def test_question_words(self):
        assert question_words("How long does copyright last after the author's death?") == [
            ("long", "word"),
            ("copyright", "word"),
            ("last", "word"),
            ("author", "word"),
            ("death", "word"),
        ]
        assert question_words("Does the BGB apply in Berlin since 2002?") == [
            ("BGB", "name"),
            ("apply", "word"),
            ("Berlin", "name"),
            ("2002", "number"),
        ]
        assert question_words("Tenant rights. Heating costs?") == [
            ("tenant", "word"),
            ("rights", "word"),
            ("heating", "word"),
            ("costs", "word"),
        ]
        assert classify("the") is None and classify("§5a") == ("§5a", "number")
        assert question_words("Why don't tenants’ rights apply?") == [
            ("tenants", "word"),
            ("rights", "word"),
            ("apply", "word"),
        ]
        assert question_words("") == [] and question_words("What is it?") == []

    def test_is_inflection(self):
        for word, base in [
            ("rented", "rent"),
            ("moves", "move"),
            ("moving", "move"),
            ("studies", "study"),
            ("planned", "plan"),
            ("employees", "employee"),
        ]:
            assert is_inflection(word, base), (word, base)
        for word, base in [("authority", "author"), ("rent", "rent"), ("rental", "rent")]:
            assert not is_inflection(word, base), (word, base)

    def test_translate_keeps_question_order_best_first(self, dictionary):
        words = dictionary.translate("Who pays the heating costs in a rented flat?")
        assert words.index("heizung") < words.index("kosten") < words.index("gemietet")
        assert words.index("gemietet") < words.index("wohnung")
        assert words[:2] == ["heizkosten", "heizung"]  # "pays" is not in this dictionary

    def test_inflections_find_the_base_word(self, dictionary):
        assert "miete" in dictionary.lookup("rented")  # rented -> rent
        assert dictionary.lookup("rented")[0] == "gemietet"  # its own entry first
        assert dictionary.lookup("copyrighted") == ["urheberrecht"]  # only the base form
        assert dictionary.lookup("authority") == ["autorität"]  # not "author"'s
        assert "arbeitnehmer" in dictionary.lookup("Employees")

    def test_names_and_numbers_stay(self, dictionary):
        terms = dictionary.translations("Which tenant in Germany pays 300 euros?")
        assert [(t.english, t.kind) for t in terms] == [
            ("tenant", "word"),
            ("Germany", "name"),
            ("pays", "word"),
            ("300", "number"),
            ("euros", "word"),
        ]
        germany = terms[1]
        assert germany.german == ("Germany", "deutschland")
        assert terms[3].german == ("300",) and terms[2].german == ()
        query = dictionary.translated_query("Which tenant in Germany pays 300 euros?")
        assert query == "mieter Germany deutschland 300"

    def test_known_keeps_the_corpus_words(self, dictionary):
        corpus = {"urlaubs", "arbeitnehmer", "jahr", "app"}
        words = dictionary.translate(
            "How many days of leave does an employee get in the app?", known=corpus.__contains__
        )
        assert words == ["urlaub", "arbeitnehmer", "app"]  # "urlaubs" holds "urlaub"

    def test_adjacent_words_german_writes_as_one(self, dictionary):
        terms = dictionary.translations("Who pays the heating costs for data protection?")
        assert [t.english for t in terms] == ["pays", "heating", "costs", "data", "protection"]
        heating, costs, data, protection = (t.german for t in terms[1:])
        assert heating[:2] == ("heizkosten", "heizung") and costs[:2] == ("heizkosten", "kosten")
        assert data == protection == ("datenschutz", "datensicherung")
        assert dictionary.translations("heating cost")[0].german[0] == "heizkosten"
        # not across a stopword or a comma
        assert "heizkosten" not in dictionary.translate("heating, costs")
        assert "heizkosten" not in dictionary.translate("heating of costs")
        with_known = dictionary.translate("heating costs", known={"heizkosten"}.__contains__)
        assert with_known == ["heizkosten"]

    def test_known_reaches_past_the_first_translations(self):
        one = Dictionary.from_lines(LINES, limit=1)
        assert one.translate("employee") == ["arbeitnehmer"]
        assert one.translate("employee", known={"angestellter"}.__contains__) == ["angestellter"]

    def test_threads_share_one_dictionary(self, ding_file, tmp_path):
        loaded = Dictionary.load(ding_file, cache_dir=tmp_path / "cache")
        loaded = Dictionary.load(ding_file, cache_dir=tmp_path / "cache")  # memory-mapped
        questions = ["Who pays the heating costs in a rented flat?", "employees on leave"] * 50
        serial = [loaded.translate(q) for q in questions]
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(loaded.translate, questions)) == serial

    def test_a_list_of_words(self, dictionary):
        assert dictionary.translate(["tenant", "the", "Berlin", "2024"]) == [
            "mieter",
            "Berlin",
            "2024",
        ]

    def test_repeated_words_translate_once(self, dictionary):
        assert dictionary.translate("tenant tenant Tenant") == ["mieter"]

    @pytest.mark.slow
    def test_the_real_ding_dictionary(self):
        source = Path("/usr/share/trans/de-en")
        if not source.exists():
            pytest.skip("Debian's trans-de-en is not installed")
        real = Dictionary.load(source)  # the compiled file `make install` leaves, if any
        assert real.available
        expected = {
            "employee": {"arbeitnehmer", "beschäftigte", "beschäftigter"},
            "termination": {"kündigung"},
            "dismissal": {"kündigung"},
            "leave": {"urlaub"},
            "holiday": {"urlaub"},
            "copyright": {"urheberrecht"},
            "tenant": {"mieter"},
            "heating": {"heizung"},
            "costs": {"kosten"},
            "housing": {"wohnung", "wohnraum", "unterkunft", "wohnungswesen"},
            "registration": {"anmeldung", "meldung"},
            "employees": {"arbeitnehmer", "beschäftigte"},
            "landlord": {"vermieter"},
        }
        for english, german in expected.items():
            assert german & set(real.lookup(english)), (english, real.lookup(english))
        heating = real.translations("Who pays the heating costs?")
        assert [t.german[0] for t in heating[1:]] == ["heizkosten", "heizkosten"]
        assert "datenschutz" in real.translate("data protection")
        questions = [
            "How many days of paid leave does an employee get per year?",
            "Which authority supervises telecommunications data protection?",
            "How long does copyright last after the author's death?",
            "Who pays the heating costs in a rented flat?",
            "What must a landlord register when a tenant moves in?",
        ]
        terms = [t for q in questions for t in real.translations(q)]
        translated = [t for t in terms if t.german]
        assert len(translated) >= 0.9 * len(terms), [t.english for t in terms if not t.german]
