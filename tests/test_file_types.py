"""Supported file types are listed once (assistant.loaders.FORMATS); every other place
that names them, the loader, uploads, the CLI help, the UI and the README, agrees."""

import re
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.cli import build_parser
from assistant.errors import CorpusError, UploadError
from assistant.ingest.loaders import (
    FORMAT_NAMES,
    FORMATS,
    SUPPORTED_SUFFIXES,
    LoadError,
    load_bytes,
)
from assistant.ingest.uploads import safe_upload_name

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_suffixes_are_the_formats_suffixes():
    assert tuple(s for suffixes in FORMATS.values() for s in suffixes) == SUPPORTED_SUFFIXES
    assert len(set(SUPPORTED_SUFFIXES)) == len(SUPPORTED_SUFFIXES)
    assert all(s.startswith(".") and s == s.lower() for s in SUPPORTED_SUFFIXES)
    assert ", ".join(FORMATS) == FORMAT_NAMES


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_every_supported_suffix_has_a_loader(suffix):
    if suffix in FORMATS["pdf"] + FORMATS["docx"]:
        with pytest.raises(LoadError) as exc:
            load_bytes(f"x{suffix}", b"plain text, no container")
        assert "unsupported" not in str(exc.value)  # reached the format's own reader
    else:
        doc = load_bytes(f"x{suffix.upper()}", b"Ein kurzer Satz.")
        assert doc.text.strip() == "Ein kurzer Satz."


def test_an_unlisted_suffix_is_refused_everywhere():
    with pytest.raises(LoadError, match="unsupported file type .rtf"):
        load_bytes("x.rtf", b"{\\rtf1 text}")
    with pytest.raises(UploadError) as exc:
        safe_upload_name("x.rtf")
    message = str(exc.value)
    assert all(name in message for name in FORMATS), message
    for suffix in SUPPORTED_SUFFIXES:
        assert safe_upload_name(f"notes{suffix}") == f"notes{suffix}"


def test_cli_help_names_the_formats(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["index", "--help"])
    assert FORMAT_NAMES in " ".join(capsys.readouterr().out.split())


def test_empty_corpus_error_names_the_formats(settings_factory):
    with pytest.raises(CorpusError, match=f"supported: {FORMAT_NAMES}"):
        Assistant(settings_factory()).index()


def test_the_readme_lists_the_same_formats():
    listed = re.findall(r"\btxt(?:, \w+)+", README)
    slashed = re.findall(r"\btxt(?:/\w+)+", README)
    assert len(listed) >= 2 and slashed, "the README names the supported types"
    assert set(listed) == {FORMAT_NAMES}
    assert set(slashed) == {"/".join(FORMATS)}


@pytest.mark.slow
def test_the_drop_zone_names_the_supported_types(settings_factory):
    """The drop zone names the types; it takes any file, so that a wrong one is refused
    with our reason in the UI's language rather than Gradio's English one."""
    import gradio as gr

    from ui.app import TYPES, build_app

    assert TYPES == FORMAT_NAMES
    app = build_app(Assistant(settings_factory()))
    zones = [b for b in app.blocks.values() if isinstance(b, gr.File) and b.elem_id == "upload"]
    assert len(zones) == 1 and zones[0].file_types is None
    assert FORMAT_NAMES in zones[0].label
