"""The command-line contract: exit codes (0 ok, 1 a failed run, 2 bad input or usage,
130/143 interrupted), one-line messages without Python class names, "did you mean",
``--version``, the language filter, clean interruption by SIGINT/SIGTERM, and result files
that honour the umask."""

from __future__ import annotations

import os
import random
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import needs_minilm, write_beir

import evalkit
from evalkit.cli import INTERRUPTED_MESSAGE, interrupted_message, main
from evalkit.errors import EvalkitError
from evalkit.results import atomic_write_text
from evalkit.suites import resolve

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    # This checkout's evalkit in the subprocess, whatever the venv's editable install points at.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "COLUMNS": "200",
    }


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``evalkit argv`` in-process: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return " ".join(lines[0].split())


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["rnu"], "error: no such command 'rnu' (did you mean 'run'?)"),
        (["run", "--top-k", "abc"], "error: --top-k: 'abc' is not an integer"),
        (["run", "--max-length", "1.5"], "error: --max-length: '1.5' is not an integer"),
        (["run", "--top_k", "5"], "error: no such option '--top_k' (did you mean '--top-k'?)"),
        (["run", "--model"], "error: --model: needs a value"),
        (["run", "stray"], "error: got unexpected extra argument(s) (stray)"),
        ([], "error: missing command (see 'evalkit --help')"),
    ],
)
def test_usage_errors_exit_2_in_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(argv, capsys)
    assert code == 2
    assert _one_line(err) == expected  # no "UsageError:", "BadParameter:" or "Error:"


def test_debug_keeps_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["--debug", "rnu"], capsys)
    assert code == 2 and "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("error: no such command 'rnu'")


def test_version_through_python_m() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "evalkit", "--version"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"evalkit {evalkit.__version__}"


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--model", "minlm"], "--model 'minlm': not a registered model"),
        (["--suite", "mircl"], "--suite 'mircl': not a registered suite"),
        (["--suite", "beir", "--dataset", "scifat"], "--dataset 'scifat': not in suite 'beir'"),
        (["--suite", "miracl", "--language", "ar", "--language", "sww"], "--language 'sww'"),
    ],
)
def test_misspelt_names_get_did_you_mean(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["run", "--output-dir", str(tmp_path), "--no-progress"]
    if "--model" not in args:
        base += ["--model", "bm25"]
    code, _, err = _cli(base + args, capsys)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"error: {expected}"), line
    suggestion = {"minlm": "minilm", "mircl": "miracl", "scifat": "scifact", "sww": "sw"}
    assert f"(did you mean '{suggestion[args[-1]]}'?)" in line


def test_suites_show_misspelt(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["suites", "show", "mteb-f"], capsys)
    assert code == 2 and "(did you mean 'mteb-fr'?)" in _one_line(err)


# --- the language filter -------------------------------------------------------------------


def test_language_selects_every_dataset_in_it() -> None:
    # MTEB-FR: four monolingual French datasets (no languages recorded: the suite's language),
    # Mintaka's fr subset and XPQA's subsets that involve French (mteb keeps those too).
    labels = [t.label for t in resolve("mteb-fr", languages=["fr"])]
    assert labels == [
        "AlloprofRetrieval",
        "BSARDRetrieval",
        "MintakaRetrieval/fr",
        "SyntecRetrieval",
        "XPQARetrieval/fra-fra",
        "XPQARetrieval/eng-fra",
        "XPQARetrieval/fra-eng",
    ]
    assert [t.label for t in resolve("mteb-fr", languages=["fra"])] == labels  # ISO 639-3
    # A subset name selects that subset only.
    assert [t.label for t in resolve("mteb-fr", languages=["fra-fra"])] == [
        "XPQARetrieval/fra-fra"
    ]
    # Across suites: German in the paper suite is MIRACL's and MLDR's de and all of MTEB-DE.
    assert [t.label for t in resolve("paper", languages=["de"])] == [
        "miracl/de",
        "GermanQuAD-Retrieval",
        "GermanDPR",
        "XMarket/de",
        "GerDaLIR",
        "mldr/de",
    ]
    assert len(resolve("beir", languages=["en"])) == 13
    # The task keeps the dataset's own subset name, whatever spelling selected it.
    assert [t.language for t in resolve("miracl", languages=["FR"])] == ["fr"]


def test_every_language_must_select_something() -> None:
    with pytest.raises(EvalkitError, match=r"--language 'xx': no selected dataset of 'mteb-fr'"):
        resolve("mteb-fr", languages=["fr", "xx"])
    with pytest.raises(EvalkitError, match=r"--language 'yo'"):
        resolve("paper", datasets=["mldr"], languages=["yo"])  # MIRACL has yo, MLDR has not


# --- result files and the umask ------------------------------------------------------------


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_result_files_honour_umask(umask: int, mode: int, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == mode


def test_run_records_honour_umask(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o022)
    try:
        argv = ["run", "--model", "bm25", "--suite", str(beir_dir), "--save-run"]
        code, _, err = _cli(argv + ["--output-dir", str(tmp_path / "o"), "--no-progress"], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    written = [p for p in (tmp_path / "o").rglob("*") if p.is_file()]
    assert {p.suffix for p in written} == {".json", ".trec"}
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o644}


# --- interruption ---------------------------------------------------------------------------


def _slow_collection(root: Path, n_docs: int = 1500) -> Path:
    """Enough documents that MiniLM at batch size 1 takes far longer than the test waits."""
    rng = random.Random(0)
    words = "moon earth orbit light river mountain city train music forest ocean rain".split()
    corpus = [{"_id": f"d{i}", "text": " ".join(rng.choices(words, k=40))} for i in range(n_docs)]
    queries = [{"_id": f"q{i}", "text": " ".join(rng.choices(words, k=4))} for i in range(10)]
    return write_beir(root, corpus, queries, [(f"q{i}", f"d{i}", 1) for i in range(10)])


@needs_minilm
@pytest.mark.parametrize(
    "sig,code,extra",
    [(signal.SIGINT, 130, []), (signal.SIGTERM, 143, []), (signal.SIGINT, 130, ["--no-cache"])],
)
def test_signal_stops_with_one_line_and_no_temp_files(
    sig: signal.Signals, code: int, extra: list[str], tmp_path: Path
) -> None:
    out_dir, cache_dir = tmp_path / "out", tmp_path / "cache"
    argv = ["run", "--model", "bm25", "--model", "minilm", "--batch-size", "1", "--no-progress"]
    argv += extra
    argv += ["--suite", str(_slow_collection(tmp_path / "slow"))]
    argv += ["--output-dir", str(out_dir), "--cache-dir", str(cache_dir)]
    p = subprocess.Popen(
        [sys.executable, "-m", "evalkit", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        # The run has started once BM25's record is written; then MiniLM loads and encodes.
        ready, _, _ = select.select([p.stderr], [], [], 120)
        first = p.stderr.readline() if ready else ""
        assert first.startswith("done bm25"), first + p.stderr.read()
        summary = p.stderr.readline()  # bm25's end-of-dataset line
        assert "encode" in summary and "search" in summary, summary
        time.sleep(3)
        assert p.poll() is None, "the run finished before it could be interrupted"
        sent = time.monotonic()
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == code, err
    if "--no-cache" in extra:  # nothing is in the cache to promise
        assert _one_line(err) == interrupted_message(
            "completed records stay in the output directory (--no-cache: no embeddings were kept)"
        )
        assert "embedding cache" not in err
    else:
        assert _one_line(err) == INTERRUPTED_MESSAGE
    assert stopped_after < 30
    assert not list(tmp_path.rglob("*.tmp")), "temp files left behind"
    records = list(out_dir.rglob("*.json"))
    assert len(records) == 1 and "bm25" in records[0].parts  # completed records stay
