"""Every code block of README.md runs, as written.

- Python blocks run verbatim in a subprocess whose working directory is a temporary folder
  holding what they name (``path/to/scifact`` is a BEIR folder written there), with
  ``drama-base`` served offline from a fake Hugging Face cache (``HF_HUB_CACHE``) that holds a
  tiny random DRAMA-shaped checkpoint. The one substitution: the adapter block's
  ``mteb.get_tasks(tasks=["SciFact"])`` becomes ``local_retrieval_task("path/to/scifact")``
  (mteb's SciFact needs the Hub or mteb's own dataset cache, which this offline test cannot
  fake in reasonable time); everything else in that block is as written.
- Every ``evalkit ...`` line of every bash block (``torchrun -m evalkit ...`` too) is parsed by
  the real command tree (click's parser, types and choices checked); the ones that work
  offline are run in a temporary folder and must end with the exit status the README gives.
- The setup block's commands are what ``.ci/run`` runs; the layout block names real paths.

A block that none of these recognises fails ``test_every_block_is_checked``: a new block needs
a check here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import drama_fixtures as fx
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DRAMA_BASE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
ADAPTER_SUBSTITUTION = (
    'mteb.get_tasks(tasks=["SciFact"])',
    'local_retrieval_task("path/to/scifact")',
)

# A block is (language, text, line number of its opening fence).
Block = tuple[str, str, int]


def readme_blocks(text: str | None = None) -> list[Block]:
    text = README.read_text(encoding="utf-8") if text is None else text
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            start, body = i + 1, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((m.group(1), "\n".join(body) + "\n", start))
        i += 1
    return blocks


def python_block(marker: str) -> str:
    found = [b for lang, b, _ in readme_blocks() if lang == "python" and marker in b]
    assert len(found) == 1, f"README: expected one python block with {marker!r}"
    return found[0]


def shell_lines(block: str) -> list[str]:
    """Command lines of a bash block: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(shlex.join(words))
    return out


def evalkit_argvs(line: str) -> list[list[str]]:
    """The evalkit argument lists a README command line stands for: ``evalkit ARGS`` or
    ``[srun] torchrun ... -m evalkit ARGS``; ``a|b|c`` option values and ``[--opt v]``
    optional parts expand to every choice, so each value written is checked."""
    words = shlex.split(line, comments=True)
    if "-m" in words and words[words.index("-m") + 1 : words.index("-m") + 2] == ["evalkit"]:
        args = words[words.index("-m") + 2 :]
    elif words[:1] == ["evalkit"]:
        args = words[1:]
    else:
        return []
    args = [w.strip("[]") for w in args]  # [--alpha 0.05]: optional, checked as given
    for i, w in enumerate(args):
        if "|" in w and not w.startswith("-"):
            return [args[:i] + [v] + args[i + 1 :] for v in w.split("|")]
    return [args]


def all_evalkit_argvs() -> list[list[str]]:
    return [
        argv
        for lang, block, _ in readme_blocks()
        if lang == "bash"
        for line in shell_lines(block)
        for argv in evalkit_argvs(line)
    ]


def parse(argv: list[str]) -> None:
    """Parse ``evalkit ARGV`` as the CLI does (options, values, types, choices), down to the
    leaf command, without running it. (typer ships its own click: groups are the commands
    with ``resolve_command``.)"""
    from evalkit import cli

    cli._register()
    cmd = cli.command()
    ctx = cmd.make_context("evalkit", list(argv), resilient_parsing=False)
    while hasattr(cmd, "resolve_command"):
        rest = [
            *(getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", [])),
            *ctx.args,
        ]
        assert rest, f"{argv}: names a group, not a command"
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        cmd, ctx = sub, sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
    assert not ctx.args, f"{argv}: unexpected {ctx.args}"


# ---- fixtures ------------------------------------------------------------------------------


def small_tokenizer(path: Path) -> None:
    """Byte-level BPE (every script encodes) with DRAMA's special tokens right after the bytes:
    the loader validates the hidden size against the registry (768 for drama-base), not the
    vocabulary, so a 258-token vocabulary keeps the checkpoint at a few MB instead of the
    400 MB a 128256 x 768 embedding matrix would take."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    bos_id, eos_id = len(vocab), len(vocab) + 1
    vocab[fx.BOS], vocab[fx.EOS] = bos_id, eos_id
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(fx.BOS, special=True), AddedToken(fx.EOS, special=True)])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{fx.BOS} $A {fx.EOS}", special_tokens=[(fx.BOS, bos_id), (fx.EOS, eos_id)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=fx.BOS, eos_token=fx.EOS)
    fast.save_pretrained(str(path))
    cfg_path = path / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(bos_token_id=bos_id, eos_token_id=eos_id)
    cfg_path.write_text(json.dumps(cfg, indent=2))


def write_scifact_like(path: Path) -> Path:
    corpus = [{"_id": f"d{i}", "title": f"Paper {i}", "text": t} for i, t in enumerate(fx.TEXTS)]
    queries = {f"q{i}": fx.TEXTS[i][:30] for i in range(0, len(fx.TEXTS), 2)}
    qrels = {q: {f"d{i}": 1} for i, q in ((int(q[1:]), q) for q in queries)}
    return fx.write_beir_dir(path, corpus, queries, qrels)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A working folder as a README reader has it, and an isolated home: the fake Hub cache
    holding drama-base, evalkit's cache, mteb's results cache."""
    root = tmp_path_factory.mktemp("readme")
    home = root / "home"
    snap = home / "hub" / "models--facebook--drama-base" / "snapshots" / DRAMA_BASE_COMMIT
    # 768 is the registered dim of drama-base, which the loader checks; the rest is small.
    fx.make_drama_checkpoint(
        snap,
        vocab_size=264,
        hidden_size=768,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=12,
        num_key_value_heads=4,
    )
    small_tokenizer(snap)
    refs = snap.parents[1] / "refs"
    refs.mkdir()
    (refs / "main").write_text(DRAMA_BASE_COMMIT)
    cwd = root / "cwd"
    write_scifact_like(cwd / "path" / "to" / "scifact")
    write_scifact_like(cwd / "path" / "to" / "beir-folder")
    (cwd / "my-model").symlink_to(snap, target_is_directory=True)
    (cwd / "q.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": t}) + "\n" for i, t in enumerate(fx.TEXTS))
    )
    return {"root": root, "home": home, "cwd": cwd}


def env_for(ws: dict[str, Path]) -> dict[str, str]:
    home = ws["home"]
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        HF_HOME=str(home / "hf"),
        HF_HUB_CACHE=str(home / "hub"),
        HF_DATASETS_CACHE=str(home / "datasets"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        EVALKIT_CACHE=str(home / "evalkit"),
        MTEB_CACHE=str(home / "mteb"),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    return env


def run_python(ws: dict[str, Path], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ws["cwd"],
        env=env_for(ws),
        capture_output=True,
        text=True,
        timeout=300,
    )


RUNNER = """
import json, sys
from evalkit.cli import main
for argv in json.loads(sys.argv[1]):
    print(">>> " + json.dumps(argv), flush=True)
    try:
        main(argv)
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    print(f"<<< rc={rc}", flush=True)
"""


def run_evalkit(ws: dict[str, Path], argvs: list[list[str]]) -> dict[str, tuple[int, str]]:
    """Each ``evalkit ARGV`` in order, in one process (each would otherwise pay torch's import
    again): ``{" ".join(argv): (exit status, output)}``."""
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(argvs)],
        cwd=ws["cwd"],
        env=env_for(ws),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # error lines go to stderr: each in its command's part
        text=True,
        timeout=300,
    )
    out: dict[str, tuple[int, str]] = {}
    for part in proc.stdout.split(">>> ")[1:]:
        head, _, body = part.partition("\n")
        text, _, rc = body.rpartition("<<< rc=")
        out[" ".join(json.loads(head))] = (int(rc.strip() or -1), text)
    assert len(out) == len(argvs), proc.stdout[-3000:]
    return out


# ---- the blocks ----------------------------------------------------------------------------


def classify(lang: str, block: str) -> str:
    if lang == "python" and "evalkit.load_encoder" in block:
        return "python-api"
    if lang == "python" and "import mteb" in block:
        return "python-adapters"
    if lang == "bash" and "pip install" in block:
        return "setup"
    if lang == "bash" and all(evalkit_argvs(line) for line in shell_lines(block)):
        return "evalkit"
    if lang == "bash" and block.startswith("#!/bin/bash") and "#SBATCH" in block:
        return "slurm"
    if lang == "" and block.startswith("evalkit/"):
        return "layout"
    return "unchecked"


def test_every_block_is_checked() -> None:
    kinds = [(line, classify(lang, b)) for lang, b, line in readme_blocks()]
    assert kinds, "README has no code blocks"
    assert [k for k in kinds if k[1] == "unchecked"] == []
    for kind in ("python-api", "python-adapters", "setup", "evalkit", "slurm", "layout"):
        assert kind in {k for _, k in kinds}, kind


def test_setup_commands_are_what_ci_runs() -> None:
    """The install commands are .ci/run's (which runs them on a fresh clone), the demo is run
    there, and the test command is the one it ends with."""
    ci = (ROOT / ".ci" / "run").read_text()
    ci_lines = shell_lines(ci)
    extras = re.findall(r"^\s*(\w+) = \[", (ROOT / "pyproject.toml").read_text(), re.M)
    (setup,) = [b for lang, b, _ in readme_blocks() if classify(lang, b) == "setup"]
    for line in setup.splitlines():
        line = line.split("  #")[0].strip()  # the comment after the command
        install, _, after = line.partition(" && ")
        words = shlex.split(install)
        assert words[:2] == ["pip", "install"], line
        extra = re.fullmatch(r"\.\[(\w+)\]", words[-1])
        assert extra and extra.group(1) in extras, f"{line}: no extra {words[-1]} in pyproject"
        # .ci/run installs quietly (-q) with the same constraints and editable install
        ci_install = [x for x in ci_lines if x.startswith("pip install")]
        assert any(shlex.split(x)[2:] == ["-q", *words[2:-1], ".[test]"] for x in ci_install), (
            f"{line}: .ci/run installs differently ({ci_install})"
        )
        assert after in ci_lines or any(x.startswith(after + " ") for x in ci_lines), (
            f"{after!r}: not run by .ci/run"
        )


def test_layout_block_names_real_paths() -> None:
    (layout,) = [b for lang, b, _ in readme_blocks() if classify(lang, b) == "layout"]
    parent = ROOT
    for line in layout.splitlines():
        m = re.match(r"^(\s*)(\S[^ ]*?)(?:\s{2,}|$)", line)
        if not m or line.startswith(" " * 20):
            continue  # a wrapped description
        names = [n.strip() for n in m.group(2).split(",")]
        if not m.group(1):
            parent = ROOT / names[0].rstrip("/")
            base = ROOT
        else:
            base = parent
        for name in names:
            assert (base / name.rstrip("/")).exists(), f"README layout: {base / name} missing"


def test_every_evalkit_command_parses() -> None:
    argvs = all_evalkit_argvs()
    assert len(argvs) >= 15, argvs
    for argv in argvs:
        parse(argv)


def test_the_parser_catches_a_wrong_option() -> None:
    """The check above can fail: what the old README said, and typos, are refused."""
    from typer._click.exceptions import UsageError

    for bad in (
        ["run", "--modle", "minilm"],
        ["run", "--top-k", "abc"],
        ["compare", "A", "B", "--tolerance", "half"],
        ["export", "mteb"],
    ):
        with pytest.raises(UsageError):
            parse(bad)


# What each README command that works offline must exit with; the rest (the Hub's suites,
# CUDA, torchrun) are parsed only.
OFFLINE = {
    "run": 0,
    "models": 0,
    "suites": 0,
    "run --model ./my-model --suite path/to/beir-folder --metric mrr_at_10 --save-run": 0,
    "report results/runs": 0,
    "report results/runs --format md --out FILE": 0,
    "report results/runs --format csv --out FILE": 0,
    "report results/runs --format latex --out FILE": 0,
    "report results/runs --format html --out FILE": 0,
    "report results/runs --plots figures/": 0,
    "compare BASELINE CURRENT --tolerance 0.5 --alpha 0.05 --out comment.md --json c.json": 0,
    # the demo's records have no mteb task: refused with the reason, nothing written
    "export mteb results/runs --out results-repo/results": 2,
    # a random checkpoint cannot give the model card's scores
    "check-model drama-base": 1,
    "encode --model drama-base --input q.jsonl --kind query --dim 256 --output q.npy": 0,
}


REFUSED_DIM = ["run", "--model", "drama-base", "--suite", "path/to/scifact", "--dim", "128"]
REFUSED_ENCODE_DIM = [
    *("encode", "--model", "drama-base", "--input", "q.jsonl", "--kind", "query"),
    *("--dim", "128", "--output", "q128.npy"),
]


@pytest.fixture(scope="module")
def cli_results(workspace: dict[str, Path]) -> dict[str, tuple[int, str]]:
    """The README's offline commands, run in the workspace in README order (compare's
    BASELINE and CURRENT are folders of records: today's, twice), and one refused --dim."""
    import shutil

    cwd = workspace["cwd"]
    argvs = all_evalkit_argvs()
    readme = {" ".join(a) for a in argvs}
    missing = set(OFFLINE) - readme
    assert not missing, f"README no longer has {missing}: update OFFLINE"
    first = [a for a in argvs if " ".join(a) in OFFLINE and a[0] in ("run", "models", "suites")]
    got = run_evalkit(workspace, first)
    for name in ("BASELINE", "CURRENT"):
        shutil.copytree(cwd / "results" / "runs", cwd / name)
    rest = [a for a in argvs if " ".join(a) in OFFLINE and " ".join(a) not in got]
    return got | run_evalkit(workspace, [*rest, REFUSED_DIM, REFUSED_ENCODE_DIM])


def test_offline_commands_run(
    workspace: dict[str, Path], cli_results: dict[str, tuple[int, str]]
) -> None:
    import numpy as np

    cwd, got = workspace["cwd"], cli_results
    wrong = {k: got[k] for k, rc in OFFLINE.items() if got[k][0] != rc}
    assert not wrong, wrong
    demo = got["run"][1]
    assert "67.45" in demo and "76.68" in demo  # the numbers the README's demo section gives
    assert "FAIL" in got["check-model drama-base"][1]
    # encode's outputs, and the README's `sha256sum -c q.sha256`
    assert (cwd / "q.ids.txt").read_text().split() == [f"q{i}" for i in range(len(fx.TEXTS))]
    subprocess.run(["sha256sum", "-c", "q.sha256"], cwd=cwd, check=True, capture_output=True)
    assert np.load(cwd / "q.npy").shape == (len(fx.TEXTS), 256)
    assert (cwd / "FILE").stat().st_size > 0 and (cwd / "comment.md").is_file()
    assert (cwd / "c.json").is_file() and (cwd / "figures").is_dir()
    assert not (cwd / "results-repo" / "results").exists()


GUARD_CHECK = """
from evalkit.errors import EvalkitError
for call in (enc.encode_queries, enc.encode_documents):
    try:
        call(["x"], dim=128)
        print("NOT REFUSED")
    except EvalkitError as e:
        print("API", e)
print("SHAPE", enc.encode_queries(["x"], dim=128, force_dim=True).shape)
"""


def test_python_api_block_runs_verbatim(
    workspace: dict[str, Path], cli_results: dict[str, tuple[int, str]]
) -> None:
    """The snippet as written (it reuses the demo records ``evalkit run`` wrote in this
    folder); then, on its ``enc``, the dim guard: ``encode_queries(dim=128)`` on drama-base
    (trained for 256 and 768) is refused with `evalkit run --dim 128`'s line naming
    ``force_dim=True`` instead of ``--force-dim``, and ``force_dim=True`` cuts."""
    code = python_block("evalkit.load_encoder")
    proc = run_python(
        workspace, code + "\nprint('NDCG', record.scores['ndcg_at_10'])\n" + GUARD_CHECK
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'ndcg_at_10'" in proc.stdout and "NDCG" in proc.stdout
    api = [x[4:] for x in proc.stdout.splitlines() if x.startswith("API ")]
    assert len(api) == 2 and "NOT REFUSED" not in proc.stdout
    assert "SHAPE (1, 128)" in proc.stdout
    rc, out = cli_results[" ".join(REFUSED_DIM)]
    cli_line = [x for x in out.splitlines() if x.startswith("error: ")]
    assert rc == 2 and len(cli_line) == 1, out
    want = cli_line[0][len("error: ") :]
    want = want.replace("--dim 128", "dim=128").replace("add --force-dim", "pass force_dim=True")
    assert "force_dim=True" in want and api == [want, want]
    # evalkit encode: the same rule, naming its own --force-dim
    rc, out = cli_results[" ".join(REFUSED_ENCODE_DIM)]
    assert rc == 2 and f"error: {cli_line[0][len('error: ') :]}" in out, out
    assert not (workspace["cwd"] / "q128.npy").exists()


def test_adapters_block_runs(workspace: dict[str, Path]) -> None:
    code = python_block("import mteb")
    old, new = ADAPTER_SUBSTITUTION
    assert old in code, "README's adapter block changed: update ADAPTER_SUBSTITUTION"
    prelude = "from evalkit.adapters.mteb_tasks import local_retrieval_task\n"
    code = prelude + code.replace(old, new)
    # and the adapters follow encode_queries' dim rule
    code += """
from evalkit.errors import EvalkitError
for make in (mteb_model, beir_model):
    try:
        make("drama-base", dim=128)
        print("NOT REFUSED")
    except EvalkitError as e:
        assert "pass force_dim=True" in str(e), e
make("drama-base", dim=128, force_dim=True)
"""
    proc = run_python(workspace, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NOT REFUSED" not in proc.stdout
