"""One settings object: environment variables and a .env file."""

from pathlib import Path

from assistant import Assistant
from assistant.settings import Settings


def test_environment_names_the_folders_and_servers(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "ix"))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("CHROMA_HOST", "chroma.local")
    bot = Assistant()
    assert bot.settings.corpus_dir == tmp_path / "docs"
    assert bot.settings.index_dir == tmp_path / "ix"
    assert bot.settings.chroma_host == "chroma.local" and bot.settings.chroma_port == 8000
    assert bot.mode == "generative" and "127.0.0.1:11434" in bot.describe_mode()


def test_dotenv_file_and_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings().corpus_dir == Path("corpus") and Settings().index_dir == Path("index")
    assert Settings().host == "127.0.0.1"  # the web UI binds to loopback unless told otherwise
    assert Settings().generative is False  # offline by default
    (tmp_path / ".env").write_text(
        "ASSISTANT_TOP_K=3\nOPENAI_API_KEY=sk-test\nASSISTANT_ANSWER_MODE=extractive\n"
    )
    settings = Settings()
    assert settings.top_k == 3 and settings.openai_api_key == "sk-test"
    assert settings.generative is False  # forced off even with a key


def test_openai_embeddings_without_a_destination_send_nothing(tmp_path):
    import pytest

    from assistant.errors import ConfigError
    from assistant.retrieve.embedding import build_embedder
    from conftest import make_settings

    settings = make_settings(tmp_path, embed_model="openai:text-embedding-3-small")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY or OPENAI_BASE_URL"):
        build_embedder(settings)
    with pytest.raises(ConfigError, match="unknown ASSISTANT_EMBED_MODEL"):
        build_embedder(make_settings(tmp_path, embed_model="word2vec"))


class TestValidation:
    """A wrong setting is a ConfigError naming the variable, wherever it comes from."""

    def test_a_bad_environment_value_names_the_variable(self, monkeypatch, tmp_path):
        import pytest

        from assistant.errors import ConfigError

        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ASSISTANT_TOP_K", "viele")
        with pytest.raises(ConfigError, match=r"ASSISTANT_TOP_K: .*integer.*'viele'"):
            Assistant()
        monkeypatch.setenv("ASSISTANT_TOP_K", "3")
        monkeypatch.setenv("CHROMA_PORT", "achttausend")
        with pytest.raises(ConfigError, match="^invalid setting CHROMA_PORT: "):
            Assistant()
        monkeypatch.delenv("CHROMA_PORT")
        with pytest.raises(ConfigError, match="unknown setting: top_kk"):
            Assistant(top_kk=3)

    def test_overrides_are_validated_like_the_environment(self, tmp_path):
        import pytest

        from assistant.errors import ConfigError

        base = Settings(_env_file=None, index_dir=tmp_path / "ix", top_k=5)
        changed = base.updated(top_k="3", corpus_dir=str(tmp_path / "docs"))
        assert changed.top_k == 3 and changed.corpus_dir == tmp_path / "docs"
        assert changed.index_dir == base.index_dir and base.top_k == 5
        with pytest.raises(ConfigError, match="ASSISTANT_TOP_K"):
            base.updated(top_k="drei")
        with pytest.raises(ConfigError, match="unknown setting: top_kk"):
            base.updated(top_kk=3)
        assert base.updated(CHROMA_HOST="chroma.local").chroma_host == "chroma.local"
        with pytest.raises(ConfigError, match="ASSISTANT_QUERY_THREADS"):
            Assistant(base, query_threads=-1)


def test_every_setting_is_documented_in_the_readme():
    from assistant.settings import env_name

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in readme]
    assert missing == []
